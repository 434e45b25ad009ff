"""Word attention: every position of a feature map reads the caption's words it matches (Xu et al. 2018, AttnGAN)."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class WordAttention(nn.Module):
    """x + V·Σ_l softmax_l(q(x)·k(w_l) / √d) v(w_l) at every position of a 2-D [B, C, H, W] or 3-D [B, C, T, H, W] map.

    A sentence vector conditions every position on the whole caption; here each position picks its own words, so a
    region that only ever depended on some words (the ground on the place, the actor on the action) can be drawn the
    same way next to words it never appeared with.
    """

    def __init__(self, channels: int, word_dim: int, dim: int = 64):
        super().__init__()
        self.scale = dim**-0.5
        self.query = nn.Linear(channels, dim, bias=False)
        self.key = nn.Linear(word_dim, dim, bias=False)
        self.value = nn.Linear(word_dim, channels)

    def weights(self, x: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention [B, N, L] of the N = prod(spatial) positions over the L words (padding gets 0)."""
        q = self.query(rearrange(x, "b c ... -> b (...) c"))
        logits = torch.einsum("bnd,bld->bnl", q, self.key(words)) * self.scale
        return logits.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)

    def forward(self, x: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        context = torch.einsum("bnl,blc->bcn", self.weights(x, words, mask), self.value(words))
        return x + context.reshape(x.shape)
