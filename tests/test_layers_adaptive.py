"""Keras 3's AdaptiveAveragePooling{1,2,3}D / AdaptiveMaxPooling{1,2,3}D -> torch's AdaptiveAvgPool /
AdaptiveMaxPool (the same windows for every input and output size; the torch -> Keras direction emits
them for sizes that do not divide the input: tests/test_t2k_layers.py)."""
from __future__ import annotations

import numpy as np
import pytest

from test_layers_numeric import check, functional, img, seq


def vol(d=5, h=6, w=7, c=3, n=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d, h, w, c)).astype("float32")


@pytest.mark.parametrize("shape, pool, x", [
    ((7, 10, 3), "layers.AdaptiveAveragePooling2D((3, 4))(layers.Conv2D(4, 1)(x))", img(7, 10)),
    ((7, 10, 3), "layers.AdaptiveMaxPooling2D(5)(layers.Conv2D(4, 1)(x))", img(7, 10)),
    ((9, 4), "layers.AdaptiveAveragePooling1D(4)(layers.Conv1D(4, 1)(x))", seq(9, 4)),
    ((9, 4), "layers.AdaptiveMaxPooling1D(2)(layers.Conv1D(4, 1)(x))", seq(9, 4)),
    ((5, 6, 7, 3), "layers.AdaptiveAveragePooling3D((2, 4, 3))(layers.Conv3D(4, 1)(x))", vol()),
    ((5, 6, 7, 3), "layers.AdaptiveMaxPooling3D(3)(layers.Conv3D(4, 1)(x))", vol()),
], ids=["avg2d", "max2d", "avg1d", "max1d", "avg3d", "max3d"])
def test_adaptive_pooling(shape, pool, x):
    check(functional(shape, f"out = {pool}"), [x])
