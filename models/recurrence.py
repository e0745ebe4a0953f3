"""Running a step function over the time axis, in a form that exports to ONNX with a dynamic length.

Eager mode uses a plain Python loop (fastest for training on CPU). Under export the same step runs inside
`torch.ops.higher_order.scan`, which the ONNX exporter turns into an ONNX `Scan` node: the graph then honours any
sequence length instead of unrolling the length seen at export time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch._higher_order_ops import scan

State = TypeVar("State")
Step = Callable[[State, torch.Tensor], tuple[State, torch.Tensor]]


def scan_time(step: Step[State], state: State, xs: torch.Tensor) -> tuple[State, torch.Tensor]:
    """Fold `step(state, x_t) -> (state, y_t)` over xs (T, ...); returns the final state and ys stacked (T, ...)."""
    if torch.compiler.is_exporting():

        def scan_step(carry: State, x: torch.Tensor) -> tuple[State, torch.Tensor]:
            carry, y = step(carry, x)
            return carry, y.clone()  # scan forbids an output that aliases the carry

        final_state, ys = scan(scan_step, state, xs)
        return final_state, ys
    outputs = []
    for x in xs.unbind(0):
        state, y = step(state, x)
        outputs.append(y)
    return state, torch.stack(outputs)
