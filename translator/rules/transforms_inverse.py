"""Inverses for the torch -> Keras direction of weight transforms that have no one-to-one inverse.

Most weight transforms are registered with their inverse (`transpose` <-> `transpose`,
`kernel_to_oihw` <-> `oihw_to_kernel`, `gru_kernel` <-> `gru_kernel_inverse`); porting a torch
state_dict into Keras applies `WEIGHT_TRANSFORMS[INVERSES[name]]`. Some Keras weights are split
into several torch tensors, each by a one-way transform: one Keras LSTM bias becomes torch's
`bias_ih` (copy) and `bias_hh` (zeros_like). Going back, the torch tensors are *gathered* into the
one Keras weight by a function registered here for the tuple of transform names, in the order of
the rule's `weights:` entries for that Keras weight:

    (copy, zeros_like)                        LSTM / SimpleRNN bias = bias_ih + bias_hh (torch adds
                                              the two biases; Keras has one)
    (gru_bias_input, gru_bias_recurrent)      GRU(reset_after=True) bias (2, 3U): row 0 the input
                                              bias, row 1 the recurrent bias, gates (r, z, n) -> (z, r, h)

`gather_inverse(names)` returns the function, or None when the combination is one-way.
"""
from __future__ import annotations

from typing import Callable

from .transforms import _swap_first_two_gates

GATHER_INVERSES: dict[tuple[str, ...], Callable] = {}


def gathered_inverse(*names: str):
    """Register `fn(arrays, meta=None) -> array` as the inverse of the weights `names` together."""
    def register(fn):
        GATHER_INVERSES[tuple(names)] = fn
        return fn
    return register


def gather_inverse(names) -> Callable | None:
    return GATHER_INVERSES.get(tuple(names))


@gathered_inverse("copy", "zeros_like")
def sum_of_biases(arrays, meta=None):
    """torch bias_ih + bias_hh -> the one Keras bias (the cell only ever adds the two)."""
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


@gathered_inverse("gru_bias_input", "gru_bias_recurrent")
def gru_bias(arrays, meta=None):
    """torch bias_ih, bias_hh (3H,) with gates (r, z, n) -> Keras bias (2, 3U) with gates (z, r, h)."""
    import numpy as np
    b_ih, b_hh = arrays
    return np.stack([_swap_first_two_gates(b_ih, axis=0), _swap_first_two_gates(b_hh, axis=0)])
