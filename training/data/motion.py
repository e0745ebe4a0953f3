"""Synthetic motion: the body of `synthetic_pose` walking, running, waving or jumping, as keypoint
trajectories and as rendered frame sequences with occluders that arrive late.

Sequence `i` of seed `s` depends only on `np.random.default_rng([s, i, 1])` and its action is
`ACTIONS[i % 4]`, so classes are balanced and any subset can be regenerated. The trajectory is drawn first,
so `motion_frames` shows exactly the keypoints `motion_trajectory` returns. Coordinates are continuous pixels
of the `image_size` frame, as in `synthetic_pose`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.keypoints import NUM_COCO_KEYPOINTS
from training.data.body import BodyShape, Figure, FloatArray, Pose, pose_figure, sample_shape
from training.data.render import draw_figure, sample_style
from training.data.scene import background, finish, sample_occluder, visibility_flags
from training.data.synthetic_pose import place_figure

ACTIONS: Final = ("walk", "run", "wave", "jump")
_STREAM: Final = 1  # keeps motion streams apart from pose streams of the same seed
_JOINTS: Final = (
    "lean",
    "neck",
    "shoulder_l",
    "elbow_l",
    "shoulder_r",
    "elbow_r",
    "hip_l",
    "knee_l",
    "hip_r",
    "knee_r",
)


@dataclass(frozen=True)
class MotionConfig:
    num_frames: int = 32  # T
    image_size: tuple[int, int] = (128, 128)  # (H, W)
    person_height: tuple[float, float] = (0.5, 0.75)  # standing height / shorter side, capped to fit the path
    rotation_deg: float = 10.0  # camera roll, fixed per sequence
    wobble_deg: float = 3.0  # largest amplitude of the slow per-joint wobble
    keypoint_noise_px: float = 0.15  # i.i.d. Gaussian jitter on every coordinate
    drift: float = 0.004  # largest root drift speed, standing heights per frame
    occlusion_prob: float = 0.7  # rendered sequences: chance of an occluder that covers a joint at the end
    clutter: tuple[int, int] = (4, 12)
    noise_std: float = 8.0

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 to make a motion, got {self.num_frames}")


@dataclass(frozen=True)
class Trajectory:
    action: str  # one of ACTIONS
    keypoints: npt.NDArray[np.float32]  # (T, 17, 2) continuous pixels (x, y)
    visibility: npt.NDArray[np.uint8]  # (T, 17) COCO flags; without occluders only 0 (outside) and 2 / 1 (face)


@dataclass(frozen=True)
class FrameSequence(Trajectory):
    frames: npt.NDArray[np.uint8]  # (T, H, W, 3) RGB
    occluder_masks: npt.NDArray[np.bool_]  # (T, H, W)


Action = Callable[[np.random.Generator, FloatArray, BodyShape], tuple[Pose, FloatArray]]


def _gait(run: bool) -> Action:
    """Side-on walk or run: legs and arms swing in antiphase, knees flex in swing, the body bobs."""

    def action(rng: np.random.Generator, t: FloatArray, shape: BodyShape) -> tuple[Pose, FloatArray]:
        deg = np.deg2rad
        facing = float(rng.choice([-1.0, 1.0]))  # +1 walks towards +x
        phase = 2 * np.pi * rng.uniform(*((0.05, 0.08) if run else (0.025, 0.05))) * t + rng.uniform(0, 2 * np.pi)
        hip, knee = (
            deg(rng.uniform(*((35, 50) if run else (20, 30)))),
            deg(rng.uniform(*((70, 100) if run else (35, 55)))),
        )
        arm, elbow = (
            deg(rng.uniform(*((25, 40) if run else (15, 30)))),
            deg(rng.uniform(*((70, 95) if run else (10, 25)))),
        )
        swing_l, swing_r = np.sin(phase), np.sin(phase + np.pi)
        flex_l, flex_r = (
            (0.5 + 0.5 * np.cos(phase)) ** 2,
            (0.5 - 0.5 * np.cos(phase)) ** 2,
        )  # peaks while swinging forward
        yaw = facing * deg(rng.uniform(55, 80))
        pose = Pose(
            lean=np.full_like(t, -facing * deg(rng.uniform(*((8, 15) if run else (0, 5))))),
            neck=np.full_like(t, facing * deg(rng.uniform(-5, 10))),
            shoulder_l=-facing * arm * swing_l,
            elbow_l=facing * (elbow + deg(10) * swing_l),
            shoulder_r=-facing * arm * swing_r,
            elbow_r=facing * (elbow + deg(10) * swing_r),
            hip_l=facing * hip * swing_l,
            knee_l=-facing * knee * flex_l,
            hip_r=facing * hip * swing_r,
            knee_r=-facing * knee * flex_r,
            body_yaw=np.full_like(t, yaw),
            head_yaw=np.full_like(t, yaw + deg(rng.uniform(-15, 15))),
        )
        bob = rng.uniform(*((0.02, 0.04) if run else (0.008, 0.015))) * np.cos(2 * phase)
        return pose, np.stack([np.zeros_like(t), bob], axis=-1)

    return action


def _wave(rng: np.random.Generator, t: FloatArray, shape: BodyShape) -> tuple[Pose, FloatArray]:
    """Facing the viewer, one arm raised with the forearm swinging about vertical, the other hanging."""
    deg = np.deg2rad
    phase = 2 * np.pi * rng.uniform(0.04, 0.08) * t + rng.uniform(0, 2 * np.pi)
    side = float(rng.choice([-1.0, 1.0]))  # +1 waves with the left arm
    raised = side * deg(rng.uniform(110, 150))
    swinging = side * (deg(rng.uniform(20, 50)) + deg(rng.uniform(20, 40)) * np.sin(phase))
    hanging, bent = -side * deg(rng.uniform(5, 20)), side * deg(rng.uniform(-10, 30))
    yaw = deg(rng.uniform(-25, 25))
    arms = {"shoulder_l": raised, "elbow_l": swinging, "shoulder_r": hanging, "elbow_r": bent}
    if side < 0:
        arms = {"shoulder_l": -hanging, "elbow_l": -bent, "shoulder_r": raised, "elbow_r": swinging}
    pose = Pose(
        lean=deg(2) * np.sin(0.3 * phase),
        neck=np.full_like(t, deg(rng.uniform(-10, 10))),
        hip_l=np.full_like(t, deg(rng.uniform(2, 10))),
        hip_r=np.full_like(t, -deg(rng.uniform(2, 10))),
        body_yaw=np.full_like(t, yaw),
        head_yaw=np.full_like(t, yaw + deg(rng.uniform(-15, 15))),
        **{name: np.broadcast_to(value, t.shape) for name, value in arms.items()},
    )
    return pose, np.zeros((*t.shape, 2))


def _jump(rng: np.random.Generator, t: FloatArray, shape: BodyShape) -> tuple[Pose, FloatArray]:
    """Facing the viewer: crouch with knees out, take off with the arms flung up, land, crouch again."""
    deg = np.deg2rad
    lift = np.sin(2 * np.pi * rng.uniform(0.02, 0.035) * t + rng.uniform(0, 2 * np.pi))
    air, crouch = np.maximum(lift, 0), np.maximum(-lift, 0)
    arms_up = deg(15 + rng.uniform(90, 130) * air)
    yaw = deg(rng.uniform(-30, 30))
    pose = Pose(
        neck=np.full_like(t, deg(rng.uniform(-10, 10))),
        shoulder_l=arms_up,
        elbow_l=deg(10 + 30 * crouch),
        shoulder_r=-arms_up,
        elbow_r=-deg(10 + 30 * crouch),
        hip_l=deg(8 + 30 * crouch),
        knee_l=-deg(70 * crouch),
        hip_r=-deg(8 + 30 * crouch),
        knee_r=deg(70 * crouch),
        body_yaw=np.full_like(t, yaw),
        head_yaw=np.full_like(t, yaw + deg(rng.uniform(-15, 15))),
    )
    # Bent knees lift the ankles towards the pelvis: lower the pelvis so the feet stay on the ground.
    ankles = pose_figure(shape, pose).keypoints[:, 15:17, 1].mean(axis=-1)
    drop = ankles.max() - ankles - rng.uniform(0.1, 0.25) * air
    return pose, np.stack([np.zeros_like(t), drop], axis=-1)


_ACTION_FUNCTIONS: Final[dict[str, Action]] = {
    "walk": _gait(False),
    "run": _gait(True),
    "wave": _wave,
    "jump": _jump,
}


def _wobble(rng: np.random.Generator, pose: Pose, t: FloatArray, amplitude_deg: float) -> Pose:
    """Add a slow sinusoid of random frequency, phase and amplitude to each joint: smooth noise."""
    count = len(_JOINTS)
    amplitude = np.deg2rad(rng.uniform(0, amplitude_deg, count))
    frequency, phase = rng.uniform(0.01, 0.05, count), rng.uniform(0, 2 * np.pi, count)
    changes = {
        name: getattr(pose, name) + amplitude[k] * np.sin(2 * np.pi * frequency[k] * t + phase[k])
        for k, name in enumerate(_JOINTS)
    }
    return dataclasses.replace(pose, **changes)


def _plan(rng: np.random.Generator, action: str, config: MotionConfig) -> Figure:
    """The figure in image pixels over all T frames."""
    t = np.arange(config.num_frames, dtype=np.float64)
    shape = sample_shape(rng)
    pose, root = _ACTION_FUNCTIONS[action](rng, t, shape)
    pose = _wobble(rng, pose, t, config.wobble_deg)
    heading = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0, config.drift) * t[:, None] * [np.cos(heading), np.sin(heading)]
    body = pose_figure(shape, pose).transform(1.0, 0.0, root + drift)
    return place_figure(body, rng, config.image_size, config.person_height, config.rotation_deg, 0.0)


def _trajectory(rng: np.random.Generator, index: int, config: MotionConfig) -> tuple[Figure, Trajectory]:
    action = ACTIONS[index % len(ACTIONS)]
    figure = _plan(rng, action, config)
    jitter = rng.normal(0.0, config.keypoint_noise_px, figure.keypoints.shape)
    figure = dataclasses.replace(figure, keypoints=figure.keypoints + jitter)
    empty = np.zeros(config.image_size, dtype=bool)
    flags = np.stack(
        [visibility_flags(figure.keypoints[t], figure.face_hidden[t], empty) for t in range(config.num_frames)]
    )
    return figure, Trajectory(action=action, keypoints=figure.keypoints.astype(np.float32), visibility=flags)


def motion_trajectory(seed: int, index: int, config: MotionConfig | None = None) -> Trajectory:
    """Keypoints of sequence `index`, without drawing anything (fast: for the forecasting models)."""
    return _trajectory(np.random.default_rng([seed, index, _STREAM]), index, config or MotionConfig())[1]


def motion_batch(
    seed: int, indices: Iterable[int], config: MotionConfig | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Keypoints (N, T, 17, 2), visibility (N, T, 17) and action labels (N,) indexing ACTIONS."""
    config = config or MotionConfig()
    items = [motion_trajectory(seed, int(i), config) for i in indices]
    t = config.num_frames
    keypoints = np.stack([x.keypoints for x in items]) if items else np.zeros((0, t, NUM_COCO_KEYPOINTS, 2), np.float32)
    visibility = np.stack([x.visibility for x in items]) if items else np.zeros((0, t, NUM_COCO_KEYPOINTS), np.uint8)
    return keypoints, visibility, np.array([ACTIONS.index(x.action) for x in items], dtype=np.int64)


def motion_frames(seed: int, index: int, config: MotionConfig | None = None) -> FrameSequence:
    """Sequence `index` rendered on a fixed background; an occluder may appear or slide in late.

    The occluder ends over a joint in the last frame and is absent, or far away, in the first half, so a joint
    occluded at the end was visible before: the case where a sequence model can beat a single-frame one.
    """
    config = config or MotionConfig()
    rng = np.random.default_rng([seed, index, _STREAM])
    figure, trajectory = _trajectory(rng, index, config)
    frames_count, (height, width) = config.num_frames, config.image_size
    style, scenery = sample_style(rng), background(rng, config.image_size, config.clutter)
    centres: list[FloatArray | None] = [None] * frames_count
    occluder = sample_occluder(rng, rng.uniform(0.2, 0.35) * figure.scale)
    if rng.random() < config.occlusion_prob:
        end = figure.keypoints[-1, rng.integers(5, NUM_COCO_KEYPOINTS)] + rng.uniform(-2, 2, 2)
        arrival = int(rng.integers(frames_count // 2, frames_count))
        if rng.random() < 0.5:  # appears at `arrival` and stays
            centres[arrival:] = [end] * (frames_count - arrival)
        else:  # slides in from well outside the body's reach, arriving at `arrival`
            heading = rng.uniform(0, 2 * np.pi)
            start = end + 1.5 * figure.scale * np.array([np.cos(heading), np.sin(heading)])
            centres = [start + (end - start) * min(1.0, t / arrival) for t in range(frames_count)]
    frames = np.empty((frames_count, height, width, 3), np.uint8)
    masks = np.zeros((frames_count, height, width), bool)
    flags = np.empty_like(trajectory.visibility)
    for t in range(frames_count):
        image, mask = scenery.copy(), Image.new("L", (width, height))
        draw_figure(image, figure.frame(t), style)
        centre = centres[t]
        if centre is not None:
            occluder.draw(image, mask, centre)
        masks[t] = np.asarray(mask) > 0
        frames[t] = finish(image, rng, config.noise_std, 0.0)
        flags[t] = visibility_flags(figure.keypoints[t], figure.face_hidden[t], masks[t])
    return FrameSequence(
        action=trajectory.action,
        keypoints=trajectory.keypoints,
        visibility=flags,
        frames=frames,
        occluder_masks=masks,
    )
