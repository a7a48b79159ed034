"""Class activation maps (the paper's Figure 7): where in the image the predicted class is seen.

CAM (Zhou et al. 2016) needs a network that ends in global average pooling and one linear layer,
which EfficientNet does: the logit of class c is the spatial mean of ``sum_k w_ck f_k(x, y)`` plus a
bias, so that weighted sum of the last feature map *is* the map of evidence for c. Grad-CAM
(Selvaraju et al. 2017) replaces ``w_ck`` by the spatially averaged gradient of the class score
with respect to feature map k, which works whatever the head is; on a linear head the two agree
up to a constant factor.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.images import open_image
from ..data.preprocess import Preprocess, eval_transform, to_rgb
from ..models import EfficientNet
from ..weights.hub import preprocess_for

METHODS = ("cam", "gradcam")
#: Height in pixels of the band above the panels that holds their titles.
TITLE_BAND_PX = 40


@dataclass
class CamResult:
    """One map: ``raw`` at feature-map size (before ReLU), ``heatmap`` in [0, 1] at input size.

    ``raw`` keeps the sign and scale of the evidence (for checks and further analysis);
    ``heatmap`` is what gets drawn: ReLU (only evidence *for* the class), upsampled bilinearly to
    the input, divided by its maximum.
    """

    class_index: int
    probability: float
    raw: torch.Tensor
    heatmap: np.ndarray
    method: str


def degenerate(result: CamResult) -> str | None:
    """Why a map shows nothing worth looking at (None when it is a real map).

    A model run at a small resolution ends in a 1x1 feature map (24 px / 32), whose "map" is one
    number: drawn, it is a flat overlay that looks like a result. A map with no positive evidence
    anywhere is blank after the ReLU.
    """
    height, width = result.raw.shape[-2:]
    if height * width == 1:
        return (
            "the last feature map is 1x1 (the input is under 64 px and the network reduces it "
            "32x), so this map cannot show where the class is: the overlay is one flat colour"
        )
    if float(result.raw.max()) <= 0:
        return "no part of the image is evidence for this class: the overlay is empty"
    return None


def _heatmap(raw: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    positive = raw.clamp(min=0)[None, None]
    up = F.interpolate(positive, size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(up.max())
    return (up / peak if peak > 0 else up).cpu().numpy()


def _pick(logits: torch.Tensor, class_index: int | None) -> tuple[int, float]:
    probs = logits.float().softmax(dim=1)[0]
    index = int(probs.argmax()) if class_index is None else class_index
    if not 0 <= index < probs.numel():
        raise ValueError(f"class index {index} out of range for a {probs.numel()}-class model")
    return index, float(probs[index])


def _check_single(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(
            f"a class activation map is computed for one image (1, C, H, W), got {tuple(x.shape)}"
        )


@torch.no_grad()
def class_activation_map(
    model: nn.Module, x: torch.Tensor, class_index: int | None = None
) -> CamResult:
    """CAM of class ``class_index`` (default: the top class) for a single preprocessed image."""
    _check_single(x)
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear) or not hasattr(model, "forward_features"):
        raise ValueError(
            "CAM needs a model whose head is global pooling and one linear layer; this one's is "
            f"{type(classifier).__name__}. Use --method gradcam"
        )
    model.eval()
    features = model.forward_features(x)
    index, prob = _pick(model.forward_head(features), class_index)
    raw = torch.einsum("k,khw->hw", classifier.weight[index].float(), features[0].float())
    return CamResult(index, prob, raw, _heatmap(raw, tuple(x.shape[-2:])), "cam")


def default_target_layer(model: nn.Module) -> nn.Module:
    """The module whose output is the last feature map: the head conv, else the last stage."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Module):
        return head
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.Sequential) and len(blocks):
        return blocks[-1]
    raise ValueError("cannot find the last feature layer of this model; name it with --layer")


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    class_index: int | None = None,
    layer: str | None = None,
) -> CamResult:
    """Grad-CAM of class ``class_index`` at submodule ``layer`` (default: the last features)."""
    _check_single(x)
    if layer:
        try:
            target = model.get_submodule(layer)
        except AttributeError:
            raise ValueError(f"model has no submodule {layer!r}") from None
    else:
        target = default_target_layer(model)
    captured: dict[str, torch.Tensor] = {}

    def keep_activation(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        captured["activation"] = output
        output.register_hook(lambda grad: captured.__setitem__("gradient", grad))

    model.eval()
    handle = target.register_forward_hook(keep_activation)
    try:
        with torch.enable_grad():
            logits = model(x.detach().requires_grad_(True))
            index, prob = _pick(logits.detach(), class_index)
            logits[0, index].backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    if "gradient" not in captured:
        raise ValueError(f"layer {layer or type(target).__name__} does not feed the class score")
    activation = captured["activation"][0].detach().float()
    weights = captured["gradient"][0].float().mean(dim=(1, 2))
    raw = torch.einsum("k,khw->hw", weights, activation)
    return CamResult(index, prob, raw, _heatmap(raw, tuple(x.shape[-2:])), "gradcam")


def model_view(image: Any, preprocess: Preprocess) -> np.ndarray:
    """The RGB pixels the model sees (resized and center-cropped, not normalised), HxWx3 uint8.

    Colours come from :func:`~effnet.data.preprocess.to_rgb`, the conversion in front of the
    model, so a transparent region is drawn white, as the model saw it.
    """
    from torchvision import transforms as T

    crop = T.Compose(
        [
            T.Resize(
                preprocess.resize_size, interpolation=T.InterpolationMode(preprocess.interpolation)
            ),
            T.CenterCrop(preprocess.resolution),
        ]
    )
    return np.asarray(crop(to_rgb(image)))


#: (left, top, right, bottom) in an image's own pixels.
Box = tuple[float, float, float, float]


def crop_box(size: tuple[int, int], preprocess: Preprocess) -> Box:
    """The square of a ``size`` = (width, height) image that the model sees, in its own pixels.

    Evaluation resizes the short side to ``resize_size`` and keeps the centre ``resolution``
    square (:func:`~effnet.data.preprocess.eval_crop`), so a wide image loses its sides, and
    every image a border of ``1 - crop_pct``: a map covers this box, not the whole picture.
    """
    width, height = size
    side = min(width, height) * preprocess.resolution / preprocess.resize_size
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def crop_note(size: tuple[int, int], preprocess: Preprocess) -> str | None:
    """A phrase telling that a map covers only the crop of its image; None when the crop is the
    whole image (to the pixel), as for a square image at ``crop_pct`` 1."""
    left, top, right, bottom = crop_box(size, preprocess)
    if right - left >= size[0] - 1 and bottom - top >= size[1] - 1:
        return None
    return (
        f"the map covers the centre crop the model saw, {right - left:.0f}x{bottom - top:.0f} "
        f"px of the {size[0]}x{size[1]} image"
    )


def cam_for_image(
    model: EfficientNet,
    image_path: str | os.PathLike,
    method: str = "cam",
    class_index: int | None = None,
    layer: str | None = None,
) -> tuple[np.ndarray, CamResult]:
    """(what the model sees, its map) for one image file."""
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; expected one of {METHODS}")
    image = open_image(image_path)
    device = next(model.parameters()).device
    preprocess = preprocess_for(model)
    x = eval_transform(preprocess)(image)[None].to(device)
    if method == "cam":
        result = class_activation_map(model, x, class_index)
    else:
        result = grad_cam(model, x, class_index, layer)
    return model_view(image, preprocess), result


def render_cam_figure(
    image: np.ndarray,
    maps: list[tuple[str, np.ndarray, CamResult]],
    path: str | os.PathLike,
    panel_size: int = 320,
    image_title: str = "input",
    crops: Sequence[Box] = (),
) -> Path:
    """Figure 7 layout: the image, then one heat-map overlay per model, titled with its top class.

    The PNG is exactly ``panel_size * (1 + len(maps))`` pixels wide and
    ``panel_size + TITLE_BAND_PX`` high. ``maps`` holds (title, image the model saw, result).
    With ``crops`` (:func:`crop_box`), ``image`` is the whole picture, drawn at its own aspect
    ratio with each crop outlined, so a map is never mistaken for one of the whole image.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if panel_size < 32:
        raise ValueError(f"panel size must be at least 32 pixels, got {panel_size}")
    dpi = 100
    panels = 1 + len(maps)
    width, height = panel_size * panels, panel_size + TITLE_BAND_PX
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    frac_h = panel_size / height
    fontsize = max(7, min(12, panel_size // 28))
    entries = [(image_title, image, None), *[(t, view, r.heatmap) for t, view, r in maps]]
    for i, (title, view, heat) in enumerate(entries):
        ax = fig.add_axes((i / panels, 0, 1 / panels, frac_h))
        ax.set_axis_off()
        if i == 0 and crops:
            _draw_outlined(ax, view, crops)
        else:
            extent = (0, 1, 1, 0)
            ax.imshow(view, extent=extent, aspect="auto", interpolation="bilinear")
        if heat is not None:
            ax.imshow(heat, extent=extent, aspect="auto", cmap="jet", alpha=0.5, vmin=0, vmax=1)
        fig.text(
            (i + 0.5) / panels,
            1 - (TITLE_BAND_PX / 2) / height,
            title,
            ha="center",
            va="center",
            fontsize=fontsize,
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _draw_outlined(ax: Any, image: np.ndarray, crops: Sequence[Box]) -> None:
    """The whole image, letterboxed in its square panel, with each crop as a yellow outline."""
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    ax.imshow(image, extent=(0, width, height, 0), interpolation="bilinear")
    for left, top, right, bottom in crops:
        outline = Rectangle(
            (left, top), right - left, bottom - top, fill=False, edgecolor="yellow", linewidth=2
        )
        ax.add_patch(outline)
