"""Inverse weight transforms of the torch -> Keras direction for activation and normalisation layers.

`flatten` (Keras -> torch: PReLU's alpha, any shape -> 1-D) is one-way by itself: its inverse needs the
Keras shape, which the flat torch weight does not carry. Porting passes the Keras variable's shape in
`meta["keras_shape"]` (translator/verify/port_torch.py), and `unflatten_to_keras` reshapes to it: the
torch PReLU weight (num_parameters,) becomes alpha (1, 1, C) (channels last, spatial axes shared) or
(1, 1, 1) (one parameter shared by every axis). A size mismatch is an error, never a silent broadcast.
"""
from __future__ import annotations

from .transforms import INVERSES, weight_transform


@weight_transform("unflatten_to_keras", inverse="flatten")
def unflatten_to_keras(array, meta=None):
    shape = (meta or {}).get("keras_shape")
    if shape is None:
        raise ValueError("unflatten_to_keras needs the Keras weight shape (meta['keras_shape'])")
    if array.size != _prod(shape):
        raise ValueError(f"cannot reshape a torch weight of {array.size} values to the Keras shape {shape}")
    return array.reshape(shape)


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out


INVERSES.setdefault("flatten", "unflatten_to_keras")
