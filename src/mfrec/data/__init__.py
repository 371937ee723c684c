"""Data: readers, MovieLens loader, the Interactions container and splits."""
from .interactions import Interactions

__all__ = ["Interactions"]
