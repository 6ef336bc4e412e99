"""Named transforms referenced from rule files.

Value transforms map a Keras argument value to a torch argument value (constants only; a symbolic
value passes through `identity` unchanged and makes any other transform report FWT202).
Weight transforms map a Keras weight array to a torch weight array. Each is registered with the name
of its inverse so that the other direction can use the same rule entry.
"""
from __future__ import annotations

from typing import Any, Callable

VALUE_TRANSFORMS: dict[str, Callable[..., Any]] = {}
WEIGHT_TRANSFORMS: dict[str, Callable[..., Any]] = {}
INVERSES: dict[str, str] = {}


def discover_transforms() -> None:
    """Import every translator/rules/transforms_*.py module: each registers its transforms by name."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("transforms_"):
            importlib.import_module(f"{__package__}.{info.name}")


def value_transform(name: str, inverse: str | None = None):
    def register(fn):
        VALUE_TRANSFORMS[name] = fn
        if inverse:
            INVERSES[name] = inverse
        return fn
    return register


def weight_transform(name: str, inverse: str | None = None):
    def register(fn):
        WEIGHT_TRANSFORMS[name] = fn
        if inverse:
            INVERSES[name] = inverse
        return fn
    return register


# ---- value transforms: (value, spatial_rank) -> value -------------------------------------------

@value_transform("identity", inverse="identity")
def identity(value, rank=None):
    return value


# Markers for op params, interpreted by the op emitter (translator/backends/torch_ops.py).
for _marker in ("tensor", "tensors", "axis"):
    VALUE_TRANSFORMS[_marker] = identity
    INVERSES[_marker] = _marker


@value_transform("one_minus", inverse="one_minus")
def one_minus(value, rank=None):
    return round(1.0 - float(value), 12)


@value_transform("as_tuple", inverse="as_tuple")
def as_tuple(value, rank=None):
    """Keras accepts an int or a tuple for kernel sizes, strides, dilations: torch emits a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * (rank or 1)


# ---- weight transforms: (array, meta) -> array ---------------------------------------------------
# numpy is imported by callers; these functions only use array methods.

@weight_transform("copy", inverse="copy")
def w_copy(array, meta=None):
    return array


@weight_transform("transpose", inverse="transpose")
def w_transpose(array, meta=None):
    return array.T


@weight_transform("kernel_to_oihw", inverse="oihw_to_kernel")
def kernel_to_oihw(array, meta=None):
    """Keras conv kernel (*k, in, out) -> torch (out, in, *k)."""
    r = array.ndim
    return array.transpose((r - 1, r - 2) + tuple(range(r - 2)))


@weight_transform("oihw_to_kernel", inverse="kernel_to_oihw")
def oihw_to_kernel(array, meta=None):
    r = array.ndim
    return array.transpose(tuple(range(2, r)) + (1, 0))


def _swap_first_two_gates(array, axis):
    """Keras GRU gates are (z, r, h); torch GRU gates are (r, z, n). The swap is its own inverse."""
    z, r, h = _split3(array, axis)
    import numpy as np
    return np.concatenate([r, z, h], axis=axis)


def _split3(array, axis):
    import numpy as np
    return np.split(array, 3, axis=axis)


@weight_transform("gru_kernel", inverse="gru_kernel_inverse")
def gru_kernel(array, meta=None):
    """(in, 3U) z,r,h -> (3U, in) r,z,n."""
    return _swap_first_two_gates(array, axis=1).T


@weight_transform("gru_kernel_inverse", inverse="gru_kernel")
def gru_kernel_inverse(array, meta=None):
    return _swap_first_two_gates(array.T, axis=1)


@weight_transform("gru_bias_input")
def gru_bias_input(array, meta=None):
    """Keras reset_after bias (2, 3U): row 0 is the input bias."""
    return _swap_first_two_gates(array[0], axis=0)


@weight_transform("gru_bias_recurrent")
def gru_bias_recurrent(array, meta=None):
    return _swap_first_two_gates(array[1], axis=0)


@weight_transform("zeros_like")
def zeros_like(array, meta=None):
    return array * 0
