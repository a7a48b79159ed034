"""Training-time augmentation: the reference code's random crop and flip, then AutoAugment.

Evaluation preprocessing is :func:`effnet.data.preprocess.eval_transform`; both start with the
same :func:`~effnet.data.preprocess.to_rgb` and end in the same ``ToTensor`` + ``Normalize``, so a
model sees the same colours and pixel scale in training and in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .preprocess import IMAGENET_MEAN, IMAGENET_STD, to_rgb


def train_transform(
    image_size: int,
    crop_scale_min: float = 0.08,
    hflip: bool = True,
    autoaugment: str | None = "imagenet",
    interpolation: str = "bicubic",
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    randaugment: int | None = None,
    randaugment_ops: int = 2,
) -> Callable[[Any], Any]:
    """PIL image -> augmented, normalised tensor of shape (3, image_size, image_size).

    ``crop_scale_min``: random crops cover that fraction of the image area up to all of it (the
    reference's distorted bounding box, 0.08-1); ``autoaugment``: a torchvision AutoAugment policy
    name ("imagenet", "cifar10", "svhn") or None; ``randaugment``: torchvision's RandAugment at
    that magnitude (0-30, ``randaugment_ops`` ops per image; EfficientNetV2's progressive learning
    raises it stage by stage), or None.
    """
    from torchvision import transforms as T

    interp = T.InterpolationMode(interpolation)
    steps = [
        T.Lambda(to_rgb),
        T.RandomResizedCrop(image_size, scale=(crop_scale_min, 1.0), interpolation=interp),
    ]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    if autoaugment:
        policy = T.AutoAugmentPolicy(autoaugment.lower())
        steps.append(T.AutoAugment(policy, interpolation=T.InterpolationMode.BILINEAR))
    if randaugment is not None:
        bilinear = T.InterpolationMode.BILINEAR
        steps.append(T.RandAugment(randaugment_ops, randaugment, interpolation=bilinear))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)
