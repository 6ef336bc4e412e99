"""Weight transforms of MultiHeadAttention (its EinsumDense projections) and PReLU.

MultiHeadAttention keeps its weights in EinsumDense sublayers whose weight names collide (four
`kernel`s): each is ported by a *sublayer transform* (translator/rules/transforms_rnn.py), named by
the Keras attribute that holds it, into one nn.Linear of the translation's nn.ModuleDict:

    _query_dense   kernel (dim, heads, key_dim)         -> query.weight (heads*key_dim, dim)
    _key_dense     kernel (dim_k, heads, key_dim)       -> key.weight
    _value_dense   kernel (dim_v, heads, value_dim)     -> value.weight
    _gate_dense    kernel (dim, heads, value_dim)       -> gate.weight      (use_gate=True)
    _output_dense  kernel (heads, value_dim, *out)      -> output.weight (prod(out), heads*value_dim)
    biases (heads, head_dim) / (*out)                   -> flattened

The Linear features are ordered (head, head_dim), which `.unflatten(-1, (heads, head_dim))` and
`.transpose(1, 2).flatten(2)` in the forward expect. These transforms are one-way (Keras -> torch):
the inverse needs the Keras shape, which a (heads*key_dim, dim) weight does not carry.
"""
from __future__ import annotations

from .transforms import weight_transform
from .transforms_rnn import sublayer_transform


def _einsum_dense(dense, spec, input_axes: int):
    import numpy as np
    kernel = np.asarray(dense.kernel.numpy() if hasattr(dense.kernel, "numpy") else dense.kernel)
    rows = int(np.prod(kernel.shape[:input_axes]))
    items = [("kernel", kernel.reshape(rows, -1).T, spec.torch.format("weight"))]
    if getattr(dense, "bias", None) is not None:
        bias = np.asarray(dense.bias.numpy() if hasattr(dense.bias, "numpy") else dense.bias)
        items.append(("bias", bias.reshape(-1), spec.torch.format("bias")))
    return items


@sublayer_transform("einsum_dense_in")
def einsum_dense_in(dense, spec, items_of):
    """An input projection of MultiHeadAttention: kernel (in, heads, head_dim) -> Linear weight
    (heads*head_dim, in); bias (heads, head_dim) -> (heads*head_dim,)."""
    return _einsum_dense(dense, spec, input_axes=1)


@sublayer_transform("einsum_dense_out")
def einsum_dense_out(dense, spec, items_of):
    """MultiHeadAttention's output projection: kernel (heads, value_dim, *out) -> Linear weight
    (prod(out), heads*value_dim); bias (*out) -> (prod(out),)."""
    return _einsum_dense(dense, spec, input_axes=2)


@weight_transform("flatten")
def flatten(array, meta=None):
    """Any shape -> 1-D in C order: PReLU's alpha (the forward views it back in the Keras shape)."""
    return array.reshape(-1)
