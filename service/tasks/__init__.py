"""Task logic behind the /v1 endpoints, free of FastAPI: images, pose, forecasts, evaluation sets."""
