"""Scaled dot-product and multi-head attention (eq. 14) and sinusoidal positional encoding (eqs. 16-17)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positional_encoding(length: int, d_model: int) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(same angle); shape (length, d_model)."""
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal encodings, got {d_model}")
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (length, 1)
    inverse_frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    angles = position * inverse_frequency  # (length, d_model / 2)
    encoding = torch.zeros(length, d_model)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles)
    return encoding


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """Boolean (length, length) mask, True where position i may attend to j <= i.

    A boolean mask keeps the diagonal open in every row, so no softmax row is all -inf (which would give NaN).
    """
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """h heads of softmax(Q K^T / sqrt(d_k)) V over learned projections, concatenated and projected back."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.dropout = dropout
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """query (B, Lq, d_model), key/value (B, Lk, d_model), mask broadcastable to (Lq, Lk); -> (B, Lq, d_model)."""
        q = self._split_heads(self.w_q(query))  # (B, h, Lq, d_k)
        k = self._split_heads(self.w_k(key))  # (B, h, Lk, d_k)
        v = self._split_heads(self.w_v(value))  # (B, h, Lk, d_k)
        # eq. 14 for every head at once; the default scale is 1 / sqrt(d_k).
        heads = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.w_o(heads.transpose(1, 2).flatten(2))  # concat heads: (B, Lq, h * d_k)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.d_k)).transpose(1, 2)
