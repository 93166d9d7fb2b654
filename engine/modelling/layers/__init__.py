"""Building blocks, one per file. Layers never import models."""

from engine.modelling.layers.blocks import AttentionBlock, ConvBlock, make_block
from engine.modelling.layers.local_attention import LocalSelfAttention2d

__all__ = ["AttentionBlock", "ConvBlock", "LocalSelfAttention2d", "make_block"]
