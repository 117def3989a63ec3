"""Validation helper for (n, 2) coordinate arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def as_xy(xy: npt.ArrayLike) -> np.ndarray:
    """Return xy as a float64 array of shape (n, 2), raising ValueError otherwise."""
    arr = np.asarray(xy, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected an array of shape (n, 2), got shape {arr.shape}")
    return arr
