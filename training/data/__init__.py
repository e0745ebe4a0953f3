"""Data of the training package, generated (poses, motion, moving digits) or read from user files, as numpy.

Modules, numpy + Pillow only: `body` (2D body model), `render` and `scene` (drawing), `synthetic_pose`, `motion`,
`moving_digits`, `coco` (its letterbox geometry is `modelcard.letterbox`, shared with serving), `arrays`, `splits`
and `tools` (throughput and preview). The tasks in `training.tasks` wrap these arrays as torch datasets.
"""
