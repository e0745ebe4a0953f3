"""The networks against literal, hand-written versions of the equations they come from."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.attention import MultiHeadAttention, sinusoidal_positional_encoding
from models.convlstm import ConvLSTM, ConvLSTMCell
from tests.models.conftest import small_model


def literal_convlstm_step(
    cell: ConvLSTMCell, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs. 9-13 with a separate convolution per weight, sliced out of the fused kernel."""
    n = cell.hidden_channels
    cin = x.shape[1]
    weight, bias = cell.conv.weight, cell.conv.bias
    pad = cell.conv.padding

    def w_x(gate: int) -> torch.Tensor:
        return weight[gate * n : (gate + 1) * n, :cin]

    def w_h(gate: int) -> torch.Tensor:
        return weight[gate * n : (gate + 1) * n, cin:]

    def b(gate: int) -> torch.Tensor:
        return bias[gate * n : (gate + 1) * n].view(1, n, 1, 1)

    def conv(w: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        return F.conv2d(inp, w, padding=pad)

    i_t = torch.sigmoid(conv(w_x(0), x) + conv(w_h(0), h) + cell.w_ci * c + b(0))  # eq. 9
    f_t = torch.sigmoid(conv(w_x(1), x) + conv(w_h(1), h) + cell.w_cf * c + b(1))  # eq. 10
    c_t = f_t * c + i_t * torch.tanh(conv(w_x(2), x) + conv(w_h(2), h) + b(2))  # eq. 11
    o_t = torch.sigmoid(conv(w_x(3), x) + conv(w_h(3), h) + cell.w_co * c_t + b(3))  # eq. 12
    h_t = o_t * torch.tanh(c_t)  # eq. 13
    return h_t, c_t


def test_convlstm_cell_follows_equations_9_to_13() -> None:
    cell = ConvLSTMCell(in_channels=3, hidden_channels=4, kernel_size=3, spatial_size=(6, 5))
    with torch.no_grad():  # non-zero peepholes so the Hadamard terms matter
        for peephole in (cell.w_ci, cell.w_cf, cell.w_co):
            peephole.normal_(0, 0.5)
    h = torch.randn(2, 4, 6, 5)
    c = torch.randn(2, 4, 6, 5)
    for _ in range(3):
        x = torch.randn(2, 3, 6, 5)
        expected_h, expected_c = literal_convlstm_step(cell, x, h, c)
        h, c = cell(x, (h, c))
        torch.testing.assert_close(h, expected_h, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c, expected_c, rtol=1e-5, atol=1e-6)


def test_stacked_bidirectional_convlstm_matches_step_by_step_loops() -> None:
    stack = ConvLSTM(in_channels=2, hidden_channels=[3, 4], kernel_size=3, spatial_size=(5, 5), bidirectional=True)
    xs = torch.randn(2, 4, 2, 5, 5)  # (B, T, C, H, W)
    outputs, finals = stack(xs)

    def run(cell: ConvLSTMCell, frames: list[torch.Tensor]) -> list[torch.Tensor]:
        h = torch.zeros(2, cell.hidden_channels, 5, 5)
        c = torch.zeros_like(h)
        hs = []
        for frame in frames:
            h, c = literal_convlstm_step(cell, frame, h, c)
            hs.append(h)
        return hs

    frames = list(xs.unbind(1))
    for forward_cell, backward_cell in zip(stack.forward_cells, stack.backward_cells, strict=True):
        forward_hs = run(forward_cell, frames)
        backward_hs = run(backward_cell, frames[::-1])[::-1]
        frames = [torch.cat([f, b], dim=1) for f, b in zip(forward_hs, backward_hs, strict=True)]
    torch.testing.assert_close(outputs, torch.stack(frames, dim=1), rtol=1e-5, atol=1e-6)
    assert outputs.shape == (2, 4, 8, 5, 5)
    assert finals[-1][0].shape == (2, 8, 5, 5)


def test_multi_head_attention_is_softmax_qkt_over_sqrt_dk_times_v() -> None:
    attention = MultiHeadAttention(d_model=12, num_heads=3).eval()
    query, memory = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    mask = torch.rand(4, 6) > 0.3
    mask[:, 0] = True  # every query keeps at least one key
    heads = []
    for head in range(3):
        cols = slice(head * 4, (head + 1) * 4)
        q = attention.w_q(query)[..., cols]
        k = attention.w_k(memory)[..., cols]
        v = attention.w_v(memory)[..., cols]
        scores = q @ k.transpose(-2, -1) / math.sqrt(4)  # eq. 14
        scores = scores.masked_fill(~mask, float("-inf"))
        heads.append(torch.softmax(scores, dim=-1) @ v)
    expected = attention.w_o(torch.cat(heads, dim=-1))
    torch.testing.assert_close(attention(query, memory, memory, mask), expected, rtol=1e-5, atol=1e-6)


def test_positional_encoding_follows_equations_16_and_17() -> None:
    d_model = 10
    encoding = sinusoidal_positional_encoding(7, d_model)
    for pos in range(7):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert math.isclose(encoding[pos, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(encoding[pos, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)


def test_decoder_output_i_ignores_inputs_after_i() -> None:
    model = small_model("transformer_forecaster").eval()
    memory = model.encode(torch.randn(2, 5, 6))
    decoder_input = torch.randn(2, 6, 6)
    with torch.no_grad():
        baseline = model.decode(decoder_input, memory)
        for i in range(5):
            perturbed = decoder_input.clone()
            perturbed[:, i + 1 :] += torch.randn_like(perturbed[:, i + 1 :]) * 10
            changed = model.decode(perturbed, memory)
            torch.testing.assert_close(changed[:, : i + 1], baseline[:, : i + 1], rtol=1e-5, atol=1e-6)
            assert not torch.allclose(changed[:, i + 1 :], baseline[:, i + 1 :])


def test_encoder_and_decoder_sublayers_are_post_norm() -> None:
    """Each sub-layer output is LayerNorm(x + Sublayer(x)): zero mean, unit variance per position."""
    model = small_model("transformer_forecaster").eval()
    memory = model.encode(torch.randn(3, 5, 6))
    assert torch.allclose(memory.mean(-1), torch.zeros(3, 5), atol=1e-5)
    assert torch.allclose(memory.var(-1, unbiased=False), torch.ones(3, 5), atol=1e-3)
