"""Real photographs as model inputs, BN statistics measured on them (the speed tests), and a
small image folder of crops of them (:func:`photo_classes`, the fine-tuning tests).

A freshly built model has BN mean 0 / var 1 / scale 1 / shift 0: folding is then nearly the
identity and the logits are ~1e-5, so no 1e-4 comparison would test anything.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2 as T
from PIL import Image
from skimage import data as skdata
from torch import nn

import effnet

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def photos(size: int) -> torch.Tensor:
    """Three real photographs, resized and normalised like ImageNet inputs."""
    images = [skdata.astronaut(), skdata.chelsea(), skdata.coffee()]
    out = torch.cat(
        [
            F.interpolate(
                torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255,
                size=(size, size),
                mode="bilinear",
                antialias=True,
            )
            for im in images
        ]
    )
    return (out - MEAN) / STD


def with_statistics(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Non-trivial BN parameters and running statistics taken from real images.

    A freshly built model has BN mean 0 / var 1 / scale 1 / shift 0, under which folding is nearly
    the identity and its logits are ~1e-5: no test of folding at all. Random affine parameters and
    statistics measured on photographs make every fold count and the logits O(1).
    """
    generator = torch.Generator().manual_seed(0)
    model.eval()  # stochastic depth and dropout off: statistics of the network that is tested
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.num_features, generator=generator)
            m.bias.data = 0.1 * torch.randn(m.num_features, generator=generator)
            m.momentum = 1.0
            m.train()
    with torch.no_grad():
        model(images)
    return model.eval()


def nineteen_views(images: torch.Tensor) -> torch.Tensor:
    """19 different images from the three photographs (flips, shifts, a transpose): a batch large
    enough to be split over streams, not a multiple of a chunk, every row distinct so that a row
    out of order shows."""
    views = [images, images.flip(3), images.flip(2), images.roll(8, 3), images.roll(8, 2)]
    return torch.cat([*views, images.transpose(2, 3), images[:1].flip(2, 3)])


def real_lite0() -> nn.Module:
    """The real ImageNet EfficientNet-Lite0 (the weights a dev-dependency package ships)."""
    return effnet.create_model(
        "efficientnet_lite0", pretrained="efficientnet_lite0.lite_pytorch_in1k"
    ).eval()


def preprocessed(model, names, views: int = 0) -> torch.Tensor:
    """The photographs ``names`` as the model's inputs; with ``views``, that many random crops and
    flips of each as well (seeded: the same images on every run)."""
    transform = effnet.transforms_for(model)
    pictures = [Image.fromarray(getattr(skdata, n)()).convert("RGB") for n in names]
    crop = T.Compose([T.RandomResizedCrop(256, scale=(0.25, 1.0)), T.RandomHorizontalFlip()])
    torch.manual_seed(0)
    extra = [crop(p) for _ in range(views) for p in pictures]
    return torch.stack([transform(p) for p in pictures + extra])


#: The four photographs :func:`photo_classes` cuts into classes.
FOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def photo_classes(
    root: Path, train: int = 30, test: int = 10, size: int = 96, seed: int = 0
) -> Path:
    """A small image folder of real photographs: ``root/{train,test}/<photo>/`` holding ``train``
    and ``test`` random crops (a third to two thirds of the side, resized to ``size``) of each of
    scikit-image's :data:`FOUR_PHOTOS`. The test crops are drawn after the training ones: other
    views of the same scenes, as a newcomer's held-out pictures would be."""
    rng = np.random.default_rng(seed)
    for name in FOUR_PHOTOS:
        photo = getattr(skdata, name)()
        height, width = photo.shape[:2]
        for split, count in (("train", train), ("test", test)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                side = int(min(height, width) * rng.uniform(1 / 3, 2 / 3))
                y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
                crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((size, size))
                crop.save(folder / f"{i:02d}.png")
    return root
