"""Keras hatches of the recurrent family (torch -> Keras): nn.LSTM / nn.GRU / nn.RNN and their cells.

    nn.LSTM(I, H, num_layers=L, bidirectional=True, batch_first=False, dropout=p, bias=False)
      -> self.lstm    = layers.Bidirectional(layers.LSTM(H, return_sequences=True, use_bias=False))
         self.lstm_l1 = layers.Bidirectional(layers.LSTM(H, return_sequences=True, use_bias=False))
         ...                                                  (one Keras layer per torch layer)
         self.lstm_drop = layers.Dropout(p)                   (between layers; identity at inference)

Layer i of the torch module is the Keras attribute `<attr>` (i = 0) or `<attr>_l{i}`
(`rnn_layer_attr`); with num_layers given symbolically (`nn.LSTM(I, H, nlayers)`, a constructor
parameter) the attribute `<attr>` holds the list `[layers.LSTM(...) for _ in range(nlayers)]`, and
layer i is its item i; translator/verify/port_torch_rnn.py ports `weight_ih_l{i}[_reverse]` into it by
the same naming. `return_state=True` is added when a call site uses the final states
(`options["rnn_states"]`, decided by translator/backends/keras_forward_rnn.py); Bidirectional
concatenates [forward, backward] features as torch does (merge_mode "concat", the default).
nn.RNN(nonlinearity="relu") is SimpleRNN(activation="relu"). GRU gates: torch (r, z, n), Keras
(z, r, h) with reset_after=True (the Keras default) -- the port swaps the blocks. proj_size: a
generated cell with the projection (keras_hatches_lstm_proj.py).

Cells (nn.LSTMCell / GRUCell / RNNCell) become keras.layers.LSTMCell / GRUCell / SimpleRNNCell; the
call `cell(x_t, states)` is written by keras_forward_rnn.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..frontends.torch_models import Bound
from ..ir import UNKNOWN, Sym
from .keras_code import Meta, call, node_of, tensor
from .keras_layers import Applied, LeafContext, Step, generic_args, keras_hatch

KERAS_RNN = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}
KERAS_CELL = {"LSTMCell": "LSTMCell", "GRUCell": "GRUCell", "RNNCell": "SimpleRNNCell"}


def rnn_layer_attr(attr: str, i: int) -> str:
    """The Keras attribute holding layer i of the torch RNN held in `attr`."""
    return attr if i == 0 else f"{attr}_l{i}"


@dataclass(frozen=True)
class RnnInfo:
    """What the forward translation needs of one translated torch RNN module."""
    torch_class: str          # LSTM | GRU | RNN
    num_layers: int
    directions: int           # 1 or 2
    batch_first: bool
    states: bool              # the Keras layers return their final states
    dropout: bool             # a Dropout layer (role "drop") between the layers
    units: int | None
    layers_node: object = None  # num_layers given symbolically (a constructor parameter): its node;
                                # the layers are then one Python list attribute (num_layers is None)

    @property
    def symbolic(self) -> bool:
        return self.layers_node is not None

    @property
    def n_states(self) -> int:
        """States per layer and direction: (h, c) for an LSTM, h otherwise."""
        return 2 if self.torch_class == "LSTM" else 1

    @property
    def count(self) -> int | None:
        """num_layers * directions: the first axis of torch's h_n / c_n (None when symbolic)."""
        return None if self.symbolic else self.num_layers * self.directions


def _const_int(ctx: LeafContext, name: str) -> int:
    v = ctx.const(name)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        ctx.fail("FWT202", f"{name}={v!r} is not supported")
    return v


def _dropout_rate(ctx: LeafContext):
    """(node, nonzero) of the inter-layer dropout; a symbolic rate is kept as written."""
    v = ctx.args.value("dropout")
    ctx.consumed.add("dropout")
    if v is UNKNOWN or isinstance(v, Sym):
        return ctx.args.node("dropout"), True
    return node_of(v), bool(v)


@keras_hatch("lstm", "gru", "simple_rnn")
def rnn(ctx: LeafContext) -> Applied:
    short = ctx.short
    layers_node = None
    if isinstance(ctx.args.value("num_layers"), Sym) and ctx.args.node("num_layers") is not None:
        layers_n, layers_node = None, ctx.args.node("num_layers")       # nn.LSTM(I, H, nlayers)
        ctx.consumed.add("num_layers")
    else:
        layers_n = _const_int(ctx, "num_layers")
    bidirectional = bool(ctx.const("bidirectional"))
    batch_first = ctx.const("batch_first")
    from .keras_hatches_lstm_proj import proj_lstm, proj_size
    proj = proj_size(ctx)            # an LSTM with projections: a generated cell (keras_hatches_lstm_proj.py)
    if ctx.meta.rank not in (None, 3):
        ctx.fail("FWT202", f"applied to a rank-{ctx.meta.rank} tensor (batch, time, features expected; "
                           "unbatched input is not translated)")
    states = bool(ctx.options.get("rnn_states"))
    overrides = {"return_sequences": True}
    if states:
        overrides["return_state"] = True
    if short == "RNN":
        nonlinearity = ctx.const("nonlinearity")
        if nonlinearity not in ("tanh", "relu"):
            ctx.fail("FWT202", f"nonlinearity={nonlinearity!r}")
        if nonlinearity == "relu":
            overrides["activation"] = "relu"
    drop_node, drop = _dropout_rate(ctx)
    drop = drop and (layers_n is None or layers_n > 1)
    if ctx.sequential and (layers_n != 1 or not batch_first or states):
        ctx.fail("FWT202", "inside nn.Sequential only a one-layer batch_first RNN translates (its output is "
                           "a tuple that the next module would receive)")
    ctx.consumed |= {"num_layers", "bidirectional", "batch_first", "proj_size", "nonlinearity"}
    # batch_first=False is a transpose at the boundary (keras_forward_rnn.py): the rule's `const: true`
    # check must not see it
    args = Bound({k: v for k, v in ctx.args.given.items() if k != "batch_first"},
                 {**ctx.args.defaults, "batch_first": True})
    inner_ctx = LeafContext(ctx.rule, ctx.torch_path, args, ctx.meta, ctx.refs, ctx.notes, ctx.line,
                            ctx.sequential, set(ctx.consumed))
    positional, keywords = generic_args(inner_ctx, overrides=overrides)
    cls = KERAS_RNN[short]
    steps = []
    for i in range(layers_n or 1):
        ctor = call(ctx.refs.layer(cls), positional, keywords) if proj is None else \
            proj_lstm(ctx, positional, keywords, proj)
        if bidirectional:
            ctor = call(ctx.refs.layer("Bidirectional"), [ctor])
        if layers_node is not None:       # [layers.LSTM(...) for _ in range(nlayers)]
            ctor = cst.ListComp(ctor, cst.CompFor(target=cst.Name("_"), iter=call(cst.Name("range"), [layers_node])))
        steps.append(Step("layer", ctor, "" if i == 0 else f"l{i}"))
        if i == 0 and drop:
            steps.append(Step("layer", call(ctx.refs.layer("Dropout"), [drop_node]), "drop"))
    units = ctx.args.value("hidden_size")
    units = units if isinstance(units, int) and not isinstance(units, bool) else None
    directions = 2 if bidirectional else 1
    info = RnnInfo(short, layers_n, directions, bool(batch_first), states, drop, units, layers_node)
    m = ctx.meta
    out_units = units if proj is None else proj[1]          # h: projected to proj_size
    feat = out_units * directions if out_units is not None else None
    if m.shape is not None:
        seq = tensor(shape=(m.shape[0], m.shape[1], feat))
    else:
        seq = tensor(shape=(None, None, feat))
    state = tensor(shape=(info.count, None, units))
    h_state = tensor(shape=(info.count, None, out_units))
    items = (seq, Meta(kind="tuple", items=(h_state, state)) if short == "LSTM" else state)
    out = Meta(kind="rnn", items=items, info=info)
    return Applied(steps, out, cls)


@keras_hatch("lstm_cell", "gru_cell", "simple_rnn_cell")
def rnn_cell(ctx: LeafContext) -> Applied:
    overrides = {}
    if ctx.short == "RNNCell":
        nonlinearity = ctx.const("nonlinearity")
        if nonlinearity not in ("tanh", "relu"):
            ctx.fail("FWT202", f"nonlinearity={nonlinearity!r}")
        if nonlinearity == "relu":
            overrides["activation"] = "relu"
    ctx.consumed.add("nonlinearity")
    if ctx.sequential:
        ctx.fail("FWT202", "a recurrent cell inside nn.Sequential")
    positional, keywords = generic_args(ctx, overrides=overrides)
    cls = KERAS_CELL[ctx.short]
    units = ctx.args.value("hidden_size")
    units = units if isinstance(units, int) and not isinstance(units, bool) else None
    state = tensor(shape=(None, units))
    out = Meta(kind="tuple", items=(state, state)) if ctx.short == "LSTMCell" else state
    return Applied([Step("layer", call(ctx.refs.layer(cls), positional, keywords))], out, cls)
