"""Command-line checks of the synthetic data: generation throughput and a preview grid with keypoints drawn.

python -m training.data.tools throughput --count 2000
python -m training.data.tools preview --out /tmp/pose_samples.png
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from PIL import Image, ImageDraw

from evaluation.keypoints import COCO_SKELETON, VISIBILITY_OCCLUDED, VISIBILITY_VISIBLE
from training.data.synthetic_pose import PoseBatch, PoseConfig, pose_batch

_FLAG_COLOURS = {VISIBILITY_VISIBLE: (0, 255, 0), VISIBILITY_OCCLUDED: (255, 0, 0)}


def throughput(count: int, size: int, seed: int = 0) -> float:
    """Pose samples per second on this process's single core (after a short warm-up)."""
    config = PoseConfig(image_size=(size, size))
    pose_batch(seed, range(10), config)
    start = time.perf_counter()
    pose_batch(seed, range(10, 10 + count), config)
    return count / (time.perf_counter() - start)


def preview_grid(batch: PoseBatch, zoom: int = 2, columns: int = 4) -> Image.Image:
    """Samples side by side with the skeleton; green dots visible, red occluded, flag-0 points left out."""
    count, height, width = batch.images.shape[:3]
    rows = -(-count // columns)
    grid = Image.new("RGB", (columns * width * zoom, rows * height * zoom), (255, 255, 255))
    for n in range(count):
        tile = Image.fromarray(batch.images[n]).resize((width * zoom, height * zoom), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(tile)
        points = batch.keypoints[n] * zoom
        flags = batch.visibility[n]
        for a, b in COCO_SKELETON:
            if flags[a] and flags[b]:
                draw.line([tuple(points[a]), tuple(points[b])], fill=(255, 255, 255), width=1)
        for (x, y), flag in zip(points.tolist(), flags.tolist(), strict=True):
            if flag:
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=_FLAG_COLOURS[flag])
        grid.paste(tile, ((n % columns) * width * zoom, (n // columns) * height * zoom))
    return grid


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("throughput", help="pose samples per second on one core")
    speed.add_argument("--count", type=int, default=2000)
    speed.add_argument("--size", type=int, default=128)
    preview = commands.add_parser("preview", help="PNG grid of pose samples with their keypoints")
    preview.add_argument("--out", default="pose_samples.png")
    preview.add_argument("--count", type=int, default=8)
    preview.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "throughput":
        rate = throughput(args.count, args.size)
        print(f"{rate:.0f} samples/s ({args.size}x{args.size}); 10,000 samples in {10_000 / rate:.1f} s")
    else:
        preview_grid(pose_batch(args.seed, range(args.count))).save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
