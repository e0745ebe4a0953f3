"""A 2D articulated human: proportions, joint-angle ranges and forward kinematics to the COCO-17 keypoints.

Body frame: pelvis centre at the origin, x towards the image's right, y down, lengths in standing heights.
Angles follow one rule everywhere: 0 points a limb straight down and a positive angle turns it towards +x.
A frontal person's left side appears on the image's right, so left limbs abduct with positive angles and right
limbs with negative ones. `lean` rotates the whole upper body by the same rule (positive moves the shoulders
towards -x). Every array broadcasts over leading axes, so one call poses a whole motion sequence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Face points in COCO order (nose, left eye, right eye, left ear, right ear): angle around the head's vertical
# axis from the face direction, and height below the head centre in head radii.
_FACE_AZIMUTH = np.array([0.0, 0.5, -0.5, np.pi / 2, -np.pi / 2])
_FACE_HEIGHT = np.array([0.32, -0.02, -0.02, 0.08, 0.08])
HEAD_ASPECT = 0.85  # head width / head height
_FACE_HIDDEN_BELOW = -0.05  # cosine of the angle to the viewer under which a face point is behind the head


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths and limb radii in standing heights; lengths are joint centre to joint centre."""

    torso: float = 0.29  # hip centre to shoulder centre
    neck: float = 0.125  # shoulder centre to head centre
    head: float = 0.068  # head radius (vertical)
    shoulder_width: float = 0.21  # between the shoulder joints
    hip_width: float = 0.15  # between the hip joints
    upper_arm: float = 0.186
    forearm: float = 0.146
    hand: float = 0.075  # wrist to finger tips, drawn as a blob
    thigh: float = 0.245
    shin: float = 0.246
    foot: float = 0.11
    arm_radius: float = 0.028
    forearm_radius: float = 0.022
    thigh_radius: float = 0.045
    shin_radius: float = 0.032


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Each length jittered by up to 10 % (left and right alike) and one random build for all limb widths."""
    base = BodyShape()
    build = rng.uniform(0.75, 1.3)
    values = {}
    for field in dataclasses.fields(base):
        value = getattr(base, field.name)
        factor = build * rng.uniform(0.9, 1.1) if field.name.endswith("_radius") else rng.uniform(0.9, 1.1)
        values[field.name] = value * factor
    return BodyShape(**values)


@dataclass(frozen=True)
class Pose:
    """Joint angles in radians: floats, or arrays sharing one leading shape such as (T,)."""

    lean: FloatArray | float = 0.0  # upper body against the pelvis
    neck: FloatArray | float = 0.0  # head against the upper body
    shoulder_l: FloatArray | float = 0.0  # upper arm against the torso's down axis
    elbow_l: FloatArray | float = 0.0  # forearm against the upper arm
    shoulder_r: FloatArray | float = 0.0
    elbow_r: FloatArray | float = 0.0
    hip_l: FloatArray | float = 0.0  # thigh against straight down
    knee_l: FloatArray | float = 0.0  # shin against the thigh
    hip_r: FloatArray | float = 0.0
    knee_r: FloatArray | float = 0.0
    body_yaw: FloatArray | float = 0.0  # turn about the vertical axis; +pi/2 faces +x, the left side away
    head_yaw: FloatArray | float = 0.0  # same for the face; also sets which face points are hidden


def sample_pose(rng: np.random.Generator) -> Pose:
    """A still pose, every angle uniform within human ranges, facing the viewer or turned aside."""
    deg = np.deg2rad
    body_yaw = deg(rng.uniform(-70, 70))
    return Pose(
        lean=deg(np.clip(rng.normal(0, 8), -25, 25)),
        neck=deg(rng.uniform(-20, 20)),
        shoulder_l=deg(rng.uniform(-25, 170)),
        elbow_l=deg(rng.uniform(-140, 140)),
        shoulder_r=-deg(rng.uniform(-25, 170)),
        elbow_r=-deg(rng.uniform(-140, 140)),
        hip_l=deg(rng.uniform(-30, 75)),
        knee_l=deg(rng.uniform(-110, 25)),
        hip_r=-deg(rng.uniform(-30, 75)),
        knee_r=-deg(rng.uniform(-110, 25)),
        body_yaw=body_yaw,
        head_yaw=np.clip(body_yaw + deg(rng.uniform(-40, 40)), -deg(90), deg(90)),
    )


def direction(angle: FloatArray | float) -> FloatArray:
    """Unit vectors (..., 2) for angles by the module's rule: 0 points down (+y), pi/2 points to +x."""
    angle = np.asarray(angle, dtype=np.float64)
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)


def rotate(points: FloatArray, angle: FloatArray | float) -> FloatArray:
    """Rotate points (..., 2) by `angle`, same rule as `direction`: rotate(down, a) == direction(a)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[..., 0], points[..., 1]
    return np.stack([x * c + y * s, y * c - x * s], axis=-1)


@dataclass(frozen=True)
class Figure:
    """Where everything of a posed body lies, in the body frame or (after `transform`) in image pixels."""

    shape: BodyShape
    scale: float  # pixels per standing height (1 in the body frame)
    keypoints: FloatArray  # (..., 17, 2) COCO order
    hand_tips: FloatArray  # (..., 2, 2) left, right
    toe_tips: FloatArray  # (..., 2, 2) left, right
    head_centre: FloatArray  # (..., 2)
    head_angle: FloatArray  # (...,) rotation of the head's down axis
    face_depth: FloatArray  # (..., 5) cosine between each face point's normal and the viewer
    body_yaw: FloatArray  # (...,)

    @property
    def face_hidden(self) -> npt.NDArray[np.bool_]:
        """(..., 5) face points turned behind the head (COCO marks them occluded, flag 1)."""
        return self.face_depth < _FACE_HIDDEN_BELOW

    def transform(self, scale: float, rotation: float, offset: FloatArray) -> Figure:
        """Rotate about the origin, scale, then shift by `offset`: (2,), or (..., 2) per frame."""

        def move(points: FloatArray) -> FloatArray:
            shift = offset if points.ndim == offset.ndim else np.expand_dims(offset, -2)  # (..., 1, 2) for point sets
            return scale * rotate(points, rotation) + shift

        return dataclasses.replace(
            self,
            scale=self.scale * scale,
            keypoints=move(self.keypoints),
            hand_tips=move(self.hand_tips),
            toe_tips=move(self.toe_tips),
            head_centre=move(self.head_centre),
            head_angle=self.head_angle + rotation,
        )

    def frame(self, index: int) -> Figure:
        """One frame of a figure posed over a sequence (leading axis T)."""
        return dataclasses.replace(
            self,
            keypoints=self.keypoints[index],
            hand_tips=self.hand_tips[index],
            toe_tips=self.toe_tips[index],
            head_centre=self.head_centre[index],
            head_angle=self.head_angle[index],
            face_depth=self.face_depth[index],
            body_yaw=self.body_yaw[index],
        )

    def outline_points(self) -> FloatArray:
        """(..., 24, 2) points bounding the drawing: keypoints, hand and toe tips, the top of the head."""
        head_top = self.head_centre - self.shape.head * self.scale * direction(self.head_angle)
        return np.concatenate([self.keypoints, self.hand_tips, self.toe_tips, head_top[..., None, :]], axis=-2)


def _limb(root: FloatArray, angle1: FloatArray, length1: float, angle2: FloatArray, length2: float) -> FloatArray:
    """Middle and end joints (2, ..., 2) of a two-segment chain; `angle2` is relative to the first segment."""
    middle = root + length1 * direction(angle1)
    return np.stack([middle, middle + length2 * direction(angle1 + angle2)])


def pose_figure(shape: BodyShape, pose: Pose) -> Figure:
    """Forward kinematics in the body frame."""
    angles = {f.name: np.asarray(getattr(pose, f.name), dtype=np.float64) for f in dataclasses.fields(pose)}
    lead = np.broadcast_shapes(*(a.shape for a in angles.values()))
    a = {name: np.broadcast_to(value, lead) for name, value in angles.items()}
    # Turning sideways narrows shoulders and hips; the body's depth keeps them from vanishing.
    narrow = np.maximum(np.abs(np.cos(a["body_yaw"])), 0.3)[..., None]
    across = rotate(np.array([1.0, 0.0]), a["lean"])  # shoulder axis, (..., 2)
    hip_l = narrow * np.array([shape.hip_width / 2, 0.0])
    neck_base = -shape.torso * direction(a["lean"])
    shoulder_l = neck_base + narrow * shape.shoulder_width / 2 * across
    shoulder_r = neck_base - narrow * shape.shoulder_width / 2 * across

    arm_l = _limb(shoulder_l, a["lean"] + a["shoulder_l"], shape.upper_arm, a["elbow_l"], shape.forearm)
    arm_r = _limb(shoulder_r, a["lean"] + a["shoulder_r"], shape.upper_arm, a["elbow_r"], shape.forearm)
    leg_l = _limb(hip_l, a["hip_l"], shape.thigh, a["knee_l"], shape.shin)
    leg_r = _limb(-hip_l, a["hip_r"], shape.thigh, a["knee_r"], shape.shin)
    forearm_dirs = np.stack(
        [
            direction(a["lean"] + a["shoulder_l"] + a["elbow_l"]),
            direction(a["lean"] + a["shoulder_r"] + a["elbow_r"]),
        ],
        axis=-2,
    )
    # Feet point where the body faces; seen from the front they shrink to a stub under the ankle.
    foot = shape.foot * np.stack([np.sin(a["body_yaw"]), np.full(lead, 0.35)], axis=-1)

    head_angle = a["lean"] + a["neck"]
    head_centre = neck_base - shape.neck * direction(head_angle)
    azimuth = a["head_yaw"][..., None] + _FACE_AZIMUTH  # (..., 5)
    face_local = shape.head * np.stack(
        [HEAD_ASPECT * np.sin(azimuth), np.broadcast_to(_FACE_HEIGHT, azimuth.shape)], axis=-1
    )
    face = head_centre[..., None, :] + rotate(face_local, head_angle[..., None])

    joints = [shoulder_l, shoulder_r, arm_l[0], arm_r[0], arm_l[1], arm_r[1]]
    joints += [hip_l, -hip_l, leg_l[0], leg_r[0], leg_l[1], leg_r[1]]
    body = np.stack([np.broadcast_to(j, (*lead, 2)) for j in joints], axis=-2)  # (..., 12, 2)
    wrists, ankles = body[..., 4:6, :], body[..., 10:12, :]
    return Figure(
        shape=shape,
        scale=1.0,
        keypoints=np.concatenate([face, body], axis=-2),
        hand_tips=wrists + shape.hand * forearm_dirs,
        toe_tips=ankles + foot[..., None, :],
        head_centre=head_centre,
        head_angle=head_angle,
        face_depth=np.cos(azimuth),
        body_yaw=a["body_yaw"],
    )
