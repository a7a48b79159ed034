"""Torch modules built from specs, and the device they run on."""

from .device import resolve_device
from .efficientnet import EfficientNet

__all__ = ["EfficientNet", "resolve_device"]
