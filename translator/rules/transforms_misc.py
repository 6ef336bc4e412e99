"""Weight transforms for attention (Keras EinsumDense kernels) and PReLU.

All three are one-way (Keras -> torch): the inverse needs the Keras shape, which the torch array does
not carry (a (H*K, D) Linear weight is a (D, H, K) kernel for any factorisation H*K).
"""
from __future__ import annotations

from .transforms import weight_transform


@weight_transform("einsum_in_kernel")
def einsum_in_kernel(array, meta=None):
    """EinsumDense kernel (in, *out) -> Linear weight (prod(out), in): MultiHeadAttention's query, key,
    value and gate kernels (dim, heads, head_dim). The output features are ordered (head, head_dim),
    which is what `.unflatten(-1, (heads, head_dim))` in the forward expects."""
    return array.reshape(array.shape[0], -1).T


@weight_transform("einsum_out_kernel")
def einsum_out_kernel(array, meta=None):
    """MultiHeadAttention output kernel (heads, value_dim, *out) -> Linear weight (prod(out), heads*value_dim),
    the input features ordered (head, value_dim) as `.flatten(2)` of (batch, seq, heads, value_dim) gives."""
    return array.reshape(array.shape[0] * array.shape[1], -1).T


@weight_transform("flatten")
def flatten(array, meta=None):
    """Any shape -> 1-D in C order: EinsumDense biases (heads, head_dim), PReLU alpha."""
    return array.reshape(-1)
