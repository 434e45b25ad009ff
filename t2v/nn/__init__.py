"""Shared building blocks."""
from .attention import WordAttention
from .blocks import (
    CondNorm2d, DynamicConv, NCHWGroupNorm, PixelNorm, Text2Filter, conv2d_block, conv3d_block, norm2d, up2d_block,
    up3d_block,
)

__all__ = ["CondNorm2d", "DynamicConv", "NCHWGroupNorm", "PixelNorm", "Text2Filter", "WordAttention", "conv2d_block",
           "conv3d_block", "norm2d", "up2d_block", "up3d_block"]
