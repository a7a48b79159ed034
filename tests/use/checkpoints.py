"""Checkpoints and folders of real photographs shared by the use/ and cli/ tests.

Small on purpose: B0 at 32-96 px runs in well under a second on a CPU, and a model whose answer
is known (``biased``) or whose batch-norm statistics come from photographs (``with_bn_from``)
makes every accuracy and probability a test asserts a real number rather than noise.
"""

import io

import torch
from PIL import Image
from skimage import data as skdata
from torch import nn

import effnet
from effnet.data import Preprocess, eval_transform
from effnet.weights import save_model

CLASSES = ["astronaut", "cat", "coffee"]
PHOTOS = {"astronaut": skdata.astronaut, "cat": skdata.chelsea, "coffee": skdata.coffee}


def biased(path, classes=CLASSES):
    """A checkpoint that always answers the last class ('coffee'): zero weights, biased logits.

    Softmax probabilities are those of the bias ``[0, 1, 5]`` whatever the image.
    """
    model = effnet.create_model("efficientnet_b0", num_classes=3)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 1.0, 5.0]))
    return save_model(path, model, list(classes), Preprocess(32))


def with_bn_from(model: nn.Module, pre: Preprocess, photo=skdata.astronaut) -> nn.Module:
    """``model`` in eval mode with batch-norm statistics measured on a real photograph."""
    x = eval_transform(pre)(Image.fromarray(photo()))[None]
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.cat([x, x.flip(-1)]))
    return model.eval()


def crop(name, i, size=48):
    """Photograph ``name`` cropped at a place that depends on ``i``, resized to ``size``."""
    pixels = PHOTOS[name]()
    y, x = 37 * i % 250, 53 * i % 250
    return Image.fromarray(pixels[y : y + 260, x : x + 260]).resize((size, size))


def photo_folder(root, counts):
    """``root/<class>/<i>.png`` with ``counts[class]`` crops of that class's photograph."""
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            crop(name, i).save(root / name / f"{i}.png")
    return root


def truncated_jpeg(path):
    """The first half of a real JPEG: PIL opens it and fails while decoding."""
    buffer = io.BytesIO()
    Image.fromarray(skdata.coffee()).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def calibrated(name: str, resolution: int, num_classes: int = 10) -> nn.Module:
    """Random weights with batch-norm statistics measured on random images, in eval mode.

    A freshly initialised EfficientNet in eval mode outputs logits near 1e-5, where a 1e-4
    tolerance would prove nothing; calibrated, its logits are of order 1-10, as a trained model's.
    """
    model = effnet.create_model(name, num_classes=num_classes)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration pass
    model.train()
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model(torch.randn(8, 3, resolution, resolution, generator=generator))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = model.spec.bn_momentum
    return model.eval()
