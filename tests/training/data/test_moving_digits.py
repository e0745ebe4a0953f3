from __future__ import annotations

import numpy as np

from training.data.moving_digits import MovingDigitsConfig, bounce, digit_bank, moving_digits, moving_digits_batch


def test_same_seed_same_sequence_and_other_seed_differs() -> None:
    first, again, other = moving_digits(0, 4), moving_digits(0, 4), moving_digits(1, 4)
    np.testing.assert_array_equal(first.inputs, again.inputs)
    np.testing.assert_array_equal(first.targets, again.targets)
    assert not np.array_equal(first.inputs, other.inputs)


def test_shapes_dtypes_and_range() -> None:
    inputs, targets = moving_digits_batch(0, range(3))
    assert inputs.shape == targets.shape == (3, 10, 1, 64, 64)
    assert inputs.dtype == targets.dtype == np.float32
    assert inputs.min() >= 0
    assert targets.max() <= 1
    assert inputs.max() > 0.9
    bank, labels = digit_bank(20)
    assert bank.shape == (1797, 20, 20)
    assert set(labels.tolist()) == set(range(10))


def test_bounce_reflects_off_the_walls() -> None:
    path = bounce(np.array([40.0, 2.0]), np.array([3.0, -1.5]), 5, limit=44.0)
    np.testing.assert_allclose(path[:, 0], [40, 43, 42, 39, 36])  # 46 folds back to 42
    np.testing.assert_allclose(path[:, 1], [2, 0.5, 1, 2.5, 4])  # -1 folds back to 1


def test_digits_stay_inside_the_canvas_and_bounce() -> None:
    config = MovingDigitsConfig(input_frames=15, target_frames=15)
    limit = config.canvas - config.digit_size
    bounced = 0
    for index in range(20):
        sequence = moving_digits(2, index, config)
        positions = sequence.positions  # (T, digits, 2)
        assert positions.min() >= 0
        assert positions.max() <= limit
        steps = np.diff(positions, axis=0)
        bounced += int((np.diff(np.sign(steps), axis=0) != 0).any())
        # Ink only inside the digits' boxes.
        frames = np.concatenate([sequence.inputs, sequence.targets])[:, 0]
        outside = np.ones_like(frames, dtype=bool)
        for t, corners in enumerate(np.rint(positions).astype(int)):
            for x, y in corners:
                outside[t, y : y + config.digit_size, x : x + config.digit_size] = False
        assert not frames[outside].any()
    assert bounced >= 10
