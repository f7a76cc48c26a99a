"""The portal's performance benchmark: `python bench/run.py` (see bench/README.md)."""
