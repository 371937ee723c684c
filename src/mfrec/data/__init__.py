"""Data: readers, MovieLens loader, the Interactions container and splits."""
from .interactions import Interactions
from .split import Split, kfold, leave_one_out, per_user_split, random_split, temporal_split

__all__ = ["Interactions", "Split", "random_split", "per_user_split", "leave_one_out", "temporal_split", "kfold"]
