"""ONNX export of a detector through the one ONNX exporter (:mod:`effnet.deploy.onnx`), checked
against PyTorch by ONNX Runtime.

The exported graph is the network up to the raw head outputs, flattened to one tensor
``(batch, anchors, classes + 4)``: class logits then the (ty, tx, th, tw) box codes of every anchor
in :func:`~effnet.detection.anchors.make_anchors` order. Decoding and NMS stay outside (they are
a few lines with any runtime's NMS, and :func:`~effnet.detection.postprocess.postprocess` does them
in PyTorch). The input size is fixed at export (the pyramid's padding is computed from it).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..deploy.onnx import onnx_bytes, session
from ..fileio import atomic_write
from ..use.export import ExportCheck
from .loss import flatten_outputs
from .model import EfficientDet


class FlatOutputs(nn.Module):
    """A detector whose forward returns ``cat(class logits, box codes)`` per anchor."""

    def __init__(self, model: EfficientDet) -> None:
        super().__init__()
        self.model = model
        self.in_chans = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        class_maps, box_maps = self.model(x)
        classes = flatten_outputs(class_maps, self.model.num_classes)
        return torch.cat([classes, flatten_outputs(box_maps, 4)], dim=-1)


def export_detector(
    model: EfficientDet, path: str | os.PathLike, image_size: int | None = None
) -> tuple[Path, ExportCheck]:
    """Write the detector to ONNX (batch axis dynamic) and compare it with PyTorch on random
    batches of 3 and 1 run through onnxruntime."""
    import copy

    size = image_size or model.spec.image_size
    wrapped = FlatOutputs(copy.deepcopy(model).cpu()).eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, 3, size, size, generator=generator)
    path = Path(path)
    graph = onnx_bytes(wrapped, example, "legacy", 17, output_name="outputs")
    with atomic_write(path) as tmp:
        tmp.write_bytes(graph)
    sess = session(path, torch.get_num_threads())
    diffs, peak = {}, 0.0
    for batch in (3, 1):
        x = torch.randn(batch, 3, size, size, generator=generator)
        with torch.no_grad():
            expected = wrapped(x)
        got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
        diffs[batch] = float((got - expected).abs().max())
        peak = max(peak, float(expected.abs().max()))
    return path, ExportCheck(diffs, peak)
