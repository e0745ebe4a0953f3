"""Metrics and keypoint conventions shared by training and serving.

numpy only: the runtime image has no torch.
"""
