"""Layers that the model builder assembles: no network-level knowledge lives here."""

from .blocks import Bottleneck, FusedMBConv, MBConv, SeparableConv, make_block
from .layers import ConvBNAct, SqueezeExcite, activation_layer
from .padding import PADDINGS, Conv2dSame, make_conv

__all__ = [
    "PADDINGS",
    "Bottleneck",
    "Conv2dSame",
    "ConvBNAct",
    "FusedMBConv",
    "MBConv",
    "SeparableConv",
    "SqueezeExcite",
    "activation_layer",
    "make_block",
    "make_conv",
]
