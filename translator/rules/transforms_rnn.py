"""Weight transforms of the recurrent family, and sublayer transforms for wrapper layers.

A *sublayer transform* is named in a rule's `weights:` like any weight transform, but ports a whole
sublayer of the Keras layer (translator/verify/port.py, `weight_items`): `keras:` names the attribute
that holds the sublayer, `torch:` is a pattern for the torch names (`{}` is the torch name that the
sublayer's own rule gives). Keras wrappers hold their weights in sublayers whose weight names collide
(a Bidirectional LSTM has `kernel` twice: forward_layer's and backward_layer's):

    Bidirectional(LSTM)   forward_layer  -> weight_ih_l0, ...       {keras: forward_layer, torch: "{}"}
                          backward_layer -> weight_ih_l0_reverse    {keras: backward_layer, torch: "{}_reverse"}
    TimeDistributed(X)    layer          -> X's own torch names     {keras: layer, torch: "{}"}
    RNN(cell)             cell           -> weight_ih_l0, ...       (rnn_cells: StackedRNNCells layer i
                                                                     -> weight_ih_l{i}, ...)

Cell rules (LSTMCell, GRUCell, SimpleRNNCell) name the torch *Cell parameters (weight_ih, bias_hh,
...); inside an RNN they become layer `l{i}` of one nn.LSTM / nn.GRU / nn.RNN.

Layouts (NUMERICS.md): LSTM gates (i, f, c, o) are the same in both frameworks: kernels are
transposed, Keras' one bias is torch's bias_ih and bias_hh is zero. GRU (reset_after=True) gates are
Keras (z, r, h), torch (r, z, n); the bias rows are input / recurrent (`gru_*` in transforms.py).
SimpleRNN is like LSTM with a single gate.
"""
from __future__ import annotations

from .transforms import INVERSES, WEIGHT_TRANSFORMS


def sublayer_transform(name: str):
    """Register `fn(sublayer, spec, items_of) -> [(keras name, value, torch name)]` as the sublayer
    transform `name`. `items_of(layer)` ports one layer by its own rule."""
    def register(fn):
        def not_an_array_transform(array, meta=None):
            raise TypeError(f"'{name}' ports a whole sublayer: it is applied by translator/verify/port.py")
        not_an_array_transform.port_sublayer = fn
        not_an_array_transform.__doc__ = fn.__doc__
        WEIGHT_TRANSFORMS[name] = not_an_array_transform
        INVERSES[name] = name
        return fn
    return register


@sublayer_transform("sublayer")
def sublayer(layer, spec, items_of):
    """One sublayer, ported by its own rule; torch names from the pattern (`{}_reverse`)."""
    return [(k, value, spec.torch.format(t)) for k, value, t in items_of(layer)]


@sublayer_transform("rnn_cells")
def rnn_cells(cell, spec, items_of):
    """The cell of a keras.layers.RNN: one cell is layer 0 of the torch RNN; StackedRNNCells
    (also what RNN([cell, cell]) builds) gives layer i to its i-th cell (`weight_ih_l{i}`)."""
    cells = list(cell.cells) if hasattr(cell, "cells") else [cell]
    out = []
    for i, one in enumerate(cells):
        out += [(k, value, spec.torch.format(f"{t}_l{i}")) for k, value, t in items_of(one)]
    return out
