"""nn.LSTM(proj_size=P > 0) -> keras.layers.RNN over a generated LSTM cell with a projection (torch -> Keras).

Keras' LSTM has no projection. torch's LSTM with proj_size computes, per step (gates i, f, g, o as
Keras' i, f, c, o):

    z = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh          W_hh: (4H, P) -- the recurrence reads h (P)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h = (sigmoid(o) * tanh(c)) @ W_hr.T                 W_hr: (P, H)

which the translated file gets as a small Keras cell class, written once before the first class that
uses it (translator/backends/keras_support.py), wrapped in keras.layers.RNN:

    self.lstm = nn.LSTM(8, 6, proj_size=3, batch_first=True)
->
    self.lstm = layers.RNN(LSTMProjCell(6, 3), return_sequences=True)

Everything else of the LSTM translation (layers, Bidirectional, batch_first=False, initial and final
states, dropout between layers) is the plain LSTM's (keras_hatches_rnn.py, keras_forward_rnn.py): h
states are (…, P), c states (…, H), as torch's h_n / c_n. Weights port as kernel = W_ih.T,
recurrent_kernel = W_hh.T, bias = b_ih + b_hh, projection = W_hr.T (translator/verify/port_torch_rnn.py).
The cell is registered as serializable (Bidirectional rebuilds its backward copy from the config).
"""
from __future__ import annotations

import libcst as cst

from .keras_code import call, node_of
from .keras_support import support

CELL = "LSTMProjCell"
CELL_SOURCE = '''\
@keras.saving.register_keras_serializable(package="fwtranslate")
class LSTMProjCell(keras.layers.Layer):
    """An LSTM cell whose output (and recurrent state h) is projected to proj_units, as torch's
    nn.LSTM(proj_size=...): h = (sigmoid(o) * tanh(c)) @ projection. Gates in the order i, f, c, o."""

    def __init__(self, units, proj_units, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.proj_units, self.use_bias = units, proj_units, use_bias
        self.state_size = [proj_units, units]
        self.output_size = proj_units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.proj_units, 4 * self.units), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), name="bias", initializer="zeros") if self.use_bias else None
        self.projection = self.add_weight(shape=(self.units, self.proj_units), name="projection")

    def call(self, inputs, states, training=False):
        h, c = states
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        i, f, g, o = keras.ops.split(z, 4, axis=-1)
        c = keras.ops.sigmoid(f) * c + keras.ops.sigmoid(i) * keras.ops.tanh(g)
        h = keras.ops.matmul(keras.ops.sigmoid(o) * keras.ops.tanh(c), self.projection)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "proj_units": self.proj_units,
                "use_bias": self.use_bias}
'''

CELL_KWARGS = ("use_bias",)        # the rest of the LSTM's Keras keywords go to keras.layers.RNN


def proj_size(ctx):
    """(node, value) of a proj_size > 0, or None (no projection); FWT202 for what cannot be translated."""
    if "proj_size" not in ctx.args.defaults and not ctx.args.has("proj_size"):
        return None
    p = ctx.const("proj_size")
    if p == 0:
        return None
    hidden = ctx.args.value("hidden_size")
    if not isinstance(p, int) or isinstance(p, bool) or p < 0 or isinstance(hidden, int) and p >= hidden:
        ctx.fail("FWT202", f"proj_size={p!r}: torch requires 0 <= proj_size < hidden_size")
    return ctx.node("proj_size"), p


def proj_lstm(ctx, positional, keywords, proj) -> cst.Call:
    """layers.RNN(LSTMProjCell(H, P[, use_bias=False]), return_sequences=True, ...)."""
    name = support(ctx.refs, CELL, CELL_SOURCE)
    cell_kwargs = [(k, v) for k, v in keywords if k in CELL_KWARGS]
    rnn_kwargs = [(k, v) for k, v in keywords if k not in CELL_KWARGS]
    unknown = [k for k, _ in rnn_kwargs if k not in ("return_sequences", "return_state")]
    if unknown:
        ctx.fail("FWT202", f"with proj_size: {', '.join(unknown)} is not translated")
    cell = call(name, [positional[0], proj[0] if proj[0] is not None else node_of(proj[1])], cell_kwargs)
    return call(ctx.refs.layer("RNN"), [cell], rnn_kwargs)
