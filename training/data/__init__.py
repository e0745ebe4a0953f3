"""Datasets of the training package: generated (poses, motion, moving digits) or read from user files.

Modules, numpy + Pillow unless noted: `body` (2D body model), `render` and `scene` (drawing),
`synthetic_pose`, `motion`, `moving_digits`, `coco` (its letterbox geometry is `modelcard.letterbox`, shared
with serving), `arrays`, `splits`, `datasets` (the torch wrappers, the only torch import) and `tools` (throughput
and preview).
Nothing is imported here, so importing a numpy module never pulls in torch.
"""
