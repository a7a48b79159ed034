"""Evaluation preprocessing as data that travels with weights.

A wrong resize costs several points of top-1 (docs/paper.md section 9), so the resolution, crop
ratio, interpolation and normalisation a checkpoint was trained with are stored beside it and
turned into a torchvision transform here, never re-typed by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spec import MAX_RESOLUTION

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bicubic", "bilinear", "nearest")
#: The short side images are resized to before the crop, at most: a tiny ``crop_pct`` would
#: otherwise ask for a resize to millions of pixels (224 / 1e-4), which no memory holds.
MAX_RESIZE = 2 * MAX_RESOLUTION
#: Normalisation has one value per channel: three for RGB, one for grayscale.
CHANNELS = (1, 3)


@dataclass(frozen=True)
class Preprocess:
    """How images are prepared for a model at evaluation time.

    ``crop_pct``: resize the short side to ``resolution / crop_pct`` then center-crop
    ``resolution`` (the paper's 0.875). ``mean``/``std`` apply to pixels scaled to [0, 1].
    """

    resolution: int
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, numbers.Integral):
            raise ValueError(f"resolution must be an integer, got {self.resolution!r}")
        if not 1 <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in [1, {MAX_RESOLUTION}], got {self.resolution}")
        crop = _number("crop_pct", self.crop_pct)
        if not 0 < crop <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop}")
        if self.resolution / crop > MAX_RESIZE:
            raise ValueError(
                f"crop_pct {crop:g} resizes images to {self.resolution / crop:,.0f} px before the "
                f"{self.resolution} px crop; at most {MAX_RESIZE} px"
            )
        if not isinstance(self.interpolation, str) or self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {self.interpolation!r}; expected one of {INTERPOLATIONS}"
            )
        self._check_normalisation()

    def _check_normalisation(self) -> None:
        """mean and std: one finite number per channel each, std above zero (pixels are divided
        by it: a zero or infinite std makes every prediction NaN)."""
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or len(values) not in CHANNELS:
                raise ValueError(
                    f"{name} must be a list of 3 numbers (1 for grayscale), got {values!r}"
                )
            for value in values:
                _number(name, value)
        if len(self.mean) != len(self.std):
            raise ValueError("mean and std need one value per channel each")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {list(self.std)}")

    @property
    def resize_size(self) -> int:
        return int(math.floor(self.resolution / self.crop_pct))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Preprocess:
        data: dict[str, Any] = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"preprocessing must be a JSON object, got {type(data).__name__}")
        for name in ("mean", "std"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)


def _number(name: str, value: Any) -> float:
    """``value`` as a finite number (not a bool, a string or NaN); else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must hold finite numbers, got {value!r}")
    return float(value)


def default_preprocess(spec: Any) -> Preprocess:
    """The paper's evaluation preprocessing for a spec: its own resolution, crop 0.875, bicubic."""
    return Preprocess(resolution=spec.resolution)


def eval_transform(pre: Preprocess) -> Callable[[Any], Any]:
    """torchvision transform: PIL image -> normalised tensor, as the weights expect."""
    from torchvision import transforms as T

    return T.Compose([*eval_crop(pre).transforms, T.ToTensor(), T.Normalize(pre.mean, pre.std)])


def eval_crop(pre: Preprocess) -> Callable[[Any], Any]:
    """The pixel half of :func:`eval_transform`: PIL image -> the resized, centre-cropped PIL
    image in the model's channels. A service does this per request, off its inference worker,
    and sends 8-bit pixels (a quarter of the float tensor) to :func:`normalize_batch`."""
    from torchvision import transforms as T

    interp = T.InterpolationMode(pre.interpolation)
    to_channels = T.Grayscale(1) if len(pre.mean) == 1 else T.Lambda(to_rgb)
    return T.Compose(
        [to_channels, T.Resize(pre.resize_size, interpolation=interp), T.CenterCrop(pre.resolution)]
    )


def normalize_batch(pixels: Any, pre: Preprocess) -> Any:
    """The tensor half of :func:`eval_transform` for a whole batch: uint8 ``(N, H, W, C)`` ->
    normalised float32 ``(N, C, H, W)``, with the same operations as ``ToTensor`` + ``Normalize``
    (so bit for bit the tensors ``eval_transform`` makes one image at a time)."""
    import torch

    x = pixels.permute(0, 3, 1, 2).contiguous().to(torch.float32).div(255)  # ToTensor's order
    mean = torch.as_tensor(pre.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.as_tensor(pre.std, dtype=torch.float32)[None, :, None, None]
    return x.sub_(mean).div_(std)


def to_rgb(image: Any) -> Any:
    """An RGB PIL image: grayscale and CMYK converted; alpha (RGBA, LA, palette) put on white.

    The one conversion behind training augmentation, evaluation preprocessing and the picture
    ``effnet cam`` draws, so a transparent PNG looks the same to a model in training and in use
    (white, not the colour its invisible pixels happen to store, nor black).
    """
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")
