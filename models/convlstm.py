"""ConvLSTM (Shi et al. 2015): the cell of eqs. 9-13 with peephole terms, stacked and optionally bidirectional."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from models.recurrence import scan_time

CellState = tuple[torch.Tensor, torch.Tensor]  # (H, C), each (B, hidden, height, width)


class ConvLSTMCell(nn.Module):
    """One step of eqs. 9-13.

    The convolutions W_x* * X_t + W_h* * H_{t-1} + B_* of all four gates are one fused convolution over the
    channel concatenation [X_t, H_{t-1}]; the peepholes W_ci, W_cf, W_co are full-size tensors applied with the
    Hadamard product, as in the paper, so the cell is tied to one spatial size.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int, spatial_size: tuple[int, int]) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the spatial size, got {kernel_size}")
        self.hidden_channels = hidden_channels
        self.spatial_size = spatial_size
        self.conv = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2)
        self.w_ci = nn.Parameter(torch.zeros(hidden_channels, *spatial_size))
        self.w_cf = nn.Parameter(torch.zeros(hidden_channels, *spatial_size))
        self.w_co = nn.Parameter(torch.zeros(hidden_channels, *spatial_size))
        with torch.no_grad():  # forget-gate bias 1: remember by default early in training
            self.conv.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)  # type: ignore[index]

    def forward(self, x: torch.Tensor, state: CellState) -> CellState:
        h, c = state
        # Gate pre-activations in the order i, f, c (candidate), o; each (B, hidden, height, width).
        a_i, a_f, a_c, a_o = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        i = torch.sigmoid(a_i + self.w_ci * c)  # eq. 9
        f = torch.sigmoid(a_f + self.w_cf * c)  # eq. 10
        c = f * c + i * torch.tanh(a_c)  # eq. 11
        o = torch.sigmoid(a_o + self.w_co * c)  # eq. 12: the output peephole sees the new C_t
        h = o * torch.tanh(c)  # eq. 13
        return h, c

    def initial_state(self, like: torch.Tensor) -> CellState:
        """H_0 = C_0 = 0, shaped for a batch like `like` (B, ...)."""
        shape = (like.shape[0], self.hidden_channels, *self.spatial_size)
        return like.new_zeros(shape), like.new_zeros(shape)  # two tensors: scan rejects aliased carries


class ConvLSTM(nn.Module):
    """Stacked ConvLSTM layers over (B, T, C, H, W); bidirectional layers concatenate both directions' H."""

    def __init__(
        self,
        in_channels: int,
        hidden_channels: list[int],
        kernel_size: int,
        spatial_size: tuple[int, int],
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.num_directions = 2 if bidirectional else 1
        forward_cells: list[ConvLSTMCell] = []
        backward_cells: list[ConvLSTMCell] = []
        channels = in_channels
        for hidden in hidden_channels:
            forward_cells.append(ConvLSTMCell(channels, hidden, kernel_size, spatial_size))
            if bidirectional:
                backward_cells.append(ConvLSTMCell(channels, hidden, kernel_size, spatial_size))
            channels = hidden * self.num_directions
        self.forward_cells = nn.ModuleList(forward_cells)
        self.backward_cells = nn.ModuleList(backward_cells)
        self.out_channels = channels

    def forward(self, xs: torch.Tensor) -> tuple[torch.Tensor, list[CellState]]:
        """Returns the last layer's outputs (B, T, out_channels, H, W) and each layer's final (H, C).

        For a bidirectional layer the final state concatenates the forward direction's state after the last
        frame and the backward direction's state after the first.
        """
        sequence = xs.transpose(0, 1)  # (T, B, C, H, W): time first for the scan
        final_states: list[CellState] = []
        for layer, forward_cell in enumerate(self.forward_cells):
            state, outputs = run_cell(cast(ConvLSTMCell, forward_cell), sequence)
            if self.num_directions == 2:
                backward_cell = cast(ConvLSTMCell, self.backward_cells[layer])
                back_state, back_outputs = run_cell(backward_cell, sequence.flip(0))
                outputs = torch.cat([outputs, back_outputs.flip(0)], dim=2)
                state = (torch.cat([state[0], back_state[0]], 1), torch.cat([state[1], back_state[1]], 1))
            final_states.append(state)
            sequence = outputs
        return sequence.transpose(0, 1), final_states


def run_cell(
    cell: ConvLSTMCell, sequence: torch.Tensor, state: CellState | None = None
) -> tuple[CellState, torch.Tensor]:
    """Run one cell over (T, B, C, H, W) from `state` (zeros by default); returns the final state and all H."""

    def step(carry: CellState, x: torch.Tensor) -> tuple[CellState, torch.Tensor]:
        carry = cell(x, carry)
        return carry, carry[0]

    return scan_time(step, state if state is not None else cell.initial_state(sequence[0]), sequence)
