"""The 300-route applications that `python -m bench.startup` times, for porch and FastAPI."""
