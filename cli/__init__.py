"""The `posecast` command line: HTTP calls to a running server (`client`) and model import (`main`)."""
