"""Encoder-decoder Transformer (Vaswani et al.) for multivariate sequence forecasting.

Post-norm residual sub-layers (LayerNorm(x + Sublayer(x))), a ReLU feedforward (eq. 15), sinusoidal positions
(eqs. 16-17), a causal mask on decoder self-attention and cross-attention to the encoder output. The decoder
predicts one step at a time, each step as an increment on the previous value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from models.attention import MultiHeadAttention, causal_mask, sinusoidal_positional_encoding
from models.base import IOSpec, PosecastModel, TensorAxes
from models.registry import register_model

WINDOW_STD_FLOOR = 1e-3  # with normalize="window", in units of the train split's std


@dataclass
class TransformerForecasterConfig:
    num_features: int = 34  # D per time step, e.g. 17 keypoints x 2 coordinates, or a multivariate series
    d_model: int = 64  # width of every sub-layer
    num_heads: int = 4  # h; d_k = d_v = d_model / h
    num_encoder_layers: int = 2  # N for the encoder stack
    num_decoder_layers: int = 2  # N for the decoder stack
    d_ff: int = 128  # hidden width of the position-wise feedforward
    dropout: float = 0.1  # on attention weights and after every sub-layer
    horizon: int = 10  # steps the exported graph decodes; callers may keep fewer (decoding is causal)
    max_length: int = 512  # longest input the positional encoding table covers
    feature_mean: list[float] | None = None  # train-split statistics, applied inside the graph
    feature_std: list[float] | None = None
    # "dataset": standardize with feature_mean / feature_std; "window": with each input window's own mean and std
    # over time (reversible instance normalization), so a series at a new level or scale looks like the training
    # one; feature_std then only floors the window std.
    normalize: str = "dataset"


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2 (eq. 15)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Module):
    def __init__(self, config: TransformerForecasterConfig) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.feedforward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attention(x, x, x)))
        return self.norm2(x + self.dropout(self.feedforward(x)))


class DecoderLayer(nn.Module):
    def __init__(self, config: TransformerForecasterConfig) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.cross_attention = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.feedforward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.norm3 = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask)))
        x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory)))
        return self.norm3(x + self.dropout(self.feedforward(x)))


class TransformerForecaster(PosecastModel):
    """History (B, T, D) -> the next `horizon` steps (B, horizon, D), in the units of the input."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    positional_encoding: torch.Tensor

    def __init__(self, config: TransformerForecasterConfig) -> None:
        super().__init__()
        if config.normalize not in ("dataset", "window"):
            raise ValueError(f"normalize must be 'dataset' or 'window', got {config.normalize!r}")
        self.config = config
        d = config.num_features
        self.register_buffer("feature_mean", torch.tensor(config.feature_mean or [0.0] * d))
        self.register_buffer("feature_std", torch.tensor(config.feature_std or [1.0] * d))
        self.register_buffer(
            "positional_encoding",
            sinusoidal_positional_encoding(config.max_length, config.d_model),
            persistent=False,
        )
        self.input_projection = nn.Linear(d, config.d_model)
        self.encoder_layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_decoder_layers))
        self.output_projection = nn.Linear(config.d_model, d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        level, scale = self._standardization(history)
        history = (history - level) / scale
        forecast = self.generate(history[:, -1:], self.encode(history))  # the last value starts the decoder
        return forecast * scale + level

    def _standardization(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(level, scale) broadcastable to (B, T, D): the train split's, or each window's own."""
        if self.config.normalize == "dataset":
            return self.feature_mean, self.feature_std
        level = history.mean(dim=1, keepdim=True)  # (B, 1, D)
        variance = ((history - level) ** 2).mean(dim=1, keepdim=True)
        floor = WINDOW_STD_FLOOR * self.feature_std  # a flat window must not divide by zero
        return level, torch.sqrt(variance + floor**2)

    def generate(self, last: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Decode `horizon` steps one at a time, each fed back as the next decoder input; -> (B, horizon, D).

        The loop has a fixed trip count, so export unrolls it into `horizon` copies of the decoder sharing one set
        of weights, while the history length stays dynamic.
        """
        decoder_input = last
        for _ in range(self.config.horizon):
            next_step = decoder_input[:, -1:] + self.decode(decoder_input, memory)[:, -1:]
            decoder_input = torch.cat([decoder_input, next_step], dim=1)
        return decoder_input[:, 1:]

    def encode(self, history: torch.Tensor) -> torch.Tensor:
        x = self._embed(history)
        for layer in self.encoder_layers:
            x = layer(x)
        return x  # (B, T, d_model)

    def decode(self, decoder_input: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Increments for every decoder position (B, L, D); position i sees inputs 0..i only."""
        x = self._embed(decoder_input)
        mask = causal_mask(decoder_input.shape[1], decoder_input.device)
        for layer in self.decoder_layers:
            x = layer(x, memory, mask)
        return self.output_projection(x)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        # Scaling the projection by sqrt(d_model) keeps it comparable to the unit-amplitude encodings.
        embedded = self.input_projection(x) * math.sqrt(self.config.d_model)
        return self.dropout(embedded + self.positional_encoding[:length])

    def io_spec(self) -> IOSpec:
        return IOSpec(
            inputs=(TensorAxes("history", {0: "batch", 1: "time"}),),
            outputs=(TensorAxes("forecast"),),
            task="forecast",
            max_sizes={"time": self.config.max_length},
        )

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        return (torch.randn(batch_size, length or 20, self.config.num_features),)


@register_model("transformer_forecaster")
def transformer_forecaster(**kwargs: object) -> TransformerForecaster:
    return TransformerForecaster(TransformerForecasterConfig(**kwargs))  # type: ignore[arg-type]
