"""Emit hatches and shape functions of the recurrent family, and TimeDistributed.

Every recurrent layer becomes one `nn.LSTM` / `nn.GRU` / `nn.RNN` with `batch_first=True` (Keras is
batch-major), whatever the Keras spelling:

    LSTM(8) / GRU(8) / SimpleRNN(8)             nn.LSTM(in, 8, batch_first=True)
    RNN(LSTMCell(8)), RNN(GRUCell(8)), ...      the same module
    RNN([LSTMCell(8), LSTMCell(8)]),            nn.LSTM(in, 8, num_layers=2, ...): torch's layer i reads
      RNN(StackedRNNCells([...]))               layer i - 1's outputs, as Keras' stacked cells do
    Bidirectional(LSTM(8), merge_mode=...)      nn.LSTM(..., bidirectional=True)

The torch module returns `(out, h_n)` (`(out, (h_n, c_n))` for LSTM), h_n of shape
(layers * directions, N, H). The forward expression picks what Keras returns:

- `return_sequences=False`: the last output `out[:, -1]`. Bidirectional: Keras concatenates the forward
  last output and the backward layer's output after its whole reversed pass, which is torch's
  `out[:, 0, H:]`, NOT `out[:, -1, H:]` (NUMERICS.md): the hatch reads both from h_n.
- Bidirectional `return_sequences=True`: Keras flips the backward layer's outputs back to input order
  (keras/src/layers/rnn/bidirectional.py), as torch's `out` already is: concat is `out`, sum / mul /
  ave reduce the two halves, merge_mode=None returns both halves.
- `go_backwards=True`: Keras runs over the reversed sequence and, with return_sequences=True, returns
  the outputs in processing order, i.e. reversed (checked against keras/src/backend/*/rnn.py):
  `module(x.flip(1))`, outputs not flipped back.
- `return_state=True`: several outputs (`out, h, c = layers.LSTM(8, return_state=True)(x)`): the
  expression is a tuple, `(lambda out, state: (out[:, -1], state[0][0], state[1][0]))(*self.lstm(x))`;
  Bidirectional adds the backward states after the forward ones, as Keras does.
- `initial_state=[h, c]` (a call argument) becomes torch's `(h.unsqueeze(0), c.unsqueeze(0))`
  (`torch.stack([forward, backward])` for Bidirectional).

Not translated (the model is left as it was, with a finding): GRU(reset_after=False) (torch's GRU
applies the reset gate after the recurrent matmul, Keras' reset_after=False before it: no torch.nn
module computes it), activations other than tanh (SimpleRNN: tanh or relu) and sigmoid, stateful,
custom cells (`RNN(MyCell())`: a Python loop over time would be needed), stacked cells of different
sizes or kinds, stacked cells with return_state or in a Bidirectional (torch's stacked bidirectional
RNN feeds both directions to the next layer, Keras' does not), ConvLSTM*D (no rule: FWT101).
`dropout` / `recurrent_dropout` act in training only (FWT203 note). A mask from
`Embedding(mask_zero=True)` is refused by the Embedding rule (FWT202): padded steps would change results.

TimeDistributed(layer) applies the layer to every time step: Dense works on the last axis in torch
too and is applied directly; any other layer sees the time axis folded into the batch
(`x.flatten(0, 1)`, unfolded afterwards with `unflatten(0, (-1, T))`), in its own layout.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import libcst as cst

from ..cst_walk import node_code
from ..findings import TranslationError
from ..ir import Layer, Sym, TensorMeta, dim_mul
from ..names import dotted
from ..passes.shapes import SHAPE_FUNCTIONS, ShapeError, shape_fn
from ..values import to_node
from .torch_code import call, method, permute, template, to_cf_perm, to_cl_perm
from .torch_layers import Emission, LayerContext, build_ctor, check_args, emit_layer, hatch

TORCH_RNN = {"LSTM": "torch.nn.LSTM", "GRU": "torch.nn.GRU", "RNN": "torch.nn.RNN"}
MERGES = {"sum": "sum", "mul": "prod", "ave": "mean"}
RNN_LAYER_HATCHES = ("rnn", "rnn_layer")     # emit hatches of rules that are whole recurrent layers


# ---- layers given as constructor arguments ---------------------------------------------------------

def _translator(ctx: LayerContext):
    """The ForwardTranslator that created `ctx` (it resolves names through the file's imports)."""
    ft = ctx.translator or getattr(ctx.self_ref, "__self__", None)
    if ft is None or not hasattr(ft, "rule_for"):
        raise TranslationError("FWT901", f"{ctx.layer.keras_class}: cannot resolve a layer argument here",
                               ctx.layer.line)
    return ft


def layer_from_node(ctx: LayerContext, node: cst.BaseExpression, check: bool = True) -> LayerContext | None:
    """A layer written as an argument of another layer (`Bidirectional(LSTM(8))`, `RNN(LSTMCell(8))`,
    `TimeDistributed(Dense(4))`), inline or as a name bound to a layer before: a LayerContext with its
    rule and arguments, sharing the outer layer's inputs and attribute. None when `node` is not a layer
    that has a rule (a custom class, an expression)."""
    ft = _translator(ctx)
    if isinstance(node, cst.Call) and not isinstance(node.func, cst.Call):
        found = ft.rule_for(node.func)
        if found is None:
            return None
        path, rule = found
        args = ft.bind_args(node, rule, path)
        ft.resolve_function_refs(args)
        layer = Layer(attr=ctx.layer.attr, rule=rule, keras_path=path, args=args, line=ctx.layer.line,
                      node=node)
    else:
        known = ft.layer_refs.get(dotted(node) or "")
        if known is None:
            return None
        layer = replace(known, attr=ctx.layer.attr)
    sub = LayerContext(layer, ctx.metas, ctx.imports, ctx.rules, ctx.self_ref)
    sub.notes = ctx.notes           # findings about the inner layer are the outer layer's
    if check:
        check_args(sub)
    return sub


def _argument_node(ctx: LayerContext, name: str):
    val = ctx.layer.args.get(name)
    if val is None or val.node is None:
        raise TranslationError("FWT201", f"{ctx.layer.keras_class}: argument '{name}' is required", ctx.layer.line)
    return val.node


def _source(node) -> str:
    return node_code(node)


# ---- what a recurrent layer computes ------------------------------------------------------------------

@dataclass
class RnnSpec:
    kind: str                     # LSTM | GRU | RNN (the torch class)
    cell: LayerContext            # the layer or cell whose params build the torch module
    num_layers: int = 1
    nonlinearity: str = "tanh"
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    bidirectional: bool = False
    merge_mode: str | None = "concat"

    @property
    def units(self):
        return self.cell.arg("units")

    @property
    def n_states(self) -> int:
        return 2 if self.kind == "LSTM" else 1


def _flag(ctx: LayerContext, name: str) -> bool:
    """A boolean argument that changes the emitted code: it must be a constant."""
    value = ctx.arg(name)
    if not isinstance(value, bool):
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: {name}={value!s} must be a constant "
                               "True or False to translate", ctx.layer.line)
    return value


def _kind(ctx: LayerContext) -> str:
    name = (ctx.rule.torch or "").rsplit(".", 1)[-1]
    kind = name[:-4] if name.endswith("Cell") else name
    if kind not in TORCH_RNN:
        raise TranslationError("FWT901", f"rule '{ctx.rule.id}': torch class {ctx.rule.torch} is not a "
                               "torch RNN", ctx.layer.line)
    return kind


def _check_cell(cell: LayerContext) -> tuple[str, str]:
    """Arguments of one LSTM/GRU/SimpleRNN layer or cell that torch cannot express, and training-only
    ones; returns (kind, nonlinearity)."""
    kind, what = _kind(cell), cell.layer.keras_class
    # GRU(reset_after=False) is refused by the rule (`allowed: [true]`, FWT202): Keras then applies
    # the reset gate before the recurrent matmul, torch.nn.GRU after it; no torch module computes it.
    for name in ("dropout", "recurrent_dropout"):
        if cell.arg(name):
            cell.notes.append(("FWT203", f"{what}: {name}={cell.arg(name)} dropped (active only in "
                               "training; torch's RNN modules have no per-step input/recurrent dropout)"))
    nonlinearity = cell.arg("activation") if kind == "RNN" else "tanh"
    return kind, nonlinearity


def _cells(ctx: LayerContext) -> list[LayerContext]:
    """The cells of a keras.layers.RNN: `cell=` is one cell, a list of cells, or StackedRNNCells."""
    node = _argument_node(ctx, "cell")
    if isinstance(node, (cst.List, cst.Tuple)):
        nodes = [el.value for el in node.elements]
    else:
        cell = layer_from_node(ctx, node)
        if cell is None or cell.rule.emit != "rnn_cell":
            raise TranslationError(
                "FWT202", f"{ctx.layer.keras_class}: cell {_source(node)} is not supported: only "
                "SimpleRNNCell, LSTMCell, GRUCell and StackedRNNCells of them translate (a custom cell "
                "with `state_size` needs a hand-written loop over time in torch)", ctx.layer.line)
        if cell.rule.param("cells") is None:
            return [cell]
        nodes = [el.value for el in _list_node(cell, "cells")]     # StackedRNNCells([...])
    cells = []
    for n in nodes:
        cell = layer_from_node(ctx, n)
        if cell is None or cell.rule.emit != "rnn_cell" or cell.rule.param("cells") is not None:
            raise TranslationError(
                "FWT202", f"{ctx.layer.keras_class}: stacked cell {_source(n)} is not supported: only "
                "SimpleRNNCell, LSTMCell and GRUCell translate", ctx.layer.line)
        cells.append(cell)
    if not cells:
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: no cells", ctx.layer.line)
    return cells


def _list_node(ctx: LayerContext, name: str):
    node = _argument_node(ctx, name)
    if not isinstance(node, (cst.List, cst.Tuple)):
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: '{name}' must be a list written in "
                               "the call", ctx.layer.line)
    return node.elements


def _signature(cell: LayerContext, kind: str, nonlinearity: str) -> tuple:
    return kind, cell.arg("units"), cell.arg("use_bias"), nonlinearity, cell.arg("activation"), \
        cell.arg("recurrent_activation") if cell.rule.param("recurrent_activation") else None


def recurrent_spec(ctx: LayerContext) -> RnnSpec:
    """The spec of a whole recurrent layer: LSTM / GRU / SimpleRNN, or RNN(cell or cells)."""
    if ctx.rule.emit == "rnn_layer":
        cells = _cells(ctx)
    elif ctx.rule.emit == "rnn":
        cells = [ctx]
    else:
        raise TranslationError("FWT202", f"{ctx.layer.keras_class} is not a recurrent layer", ctx.layer.line)
    checked = [_check_cell(c) for c in cells]
    signatures = {_signature(c, *k) for c, k in zip(cells, checked)}
    if len(signatures) > 1:
        raise TranslationError(
            "FWT202", f"{ctx.layer.keras_class}: stacked cells of different kinds, sizes or activations; "
            "torch's multi-layer RNN needs them alike (write one RNN per cell)", ctx.layer.line)
    spec = RnnSpec(kind=checked[0][0], cell=cells[0], num_layers=len(cells), nonlinearity=checked[0][1],
                   return_sequences=_flag(ctx, "return_sequences"), return_state=_flag(ctx, "return_state"),
                   go_backwards=_flag(ctx, "go_backwards"))
    if spec.num_layers > 1 and spec.return_state:
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: return_state=True with stacked cells "
                               "(Keras returns one list of states per cell) is not supported", ctx.layer.line)
    return spec


# ---- the emitted code -----------------------------------------------------------------------------------

def _ctor(spec: RnnSpec) -> cst.BaseExpression:
    overrides = {"batch_first": True}
    if spec.num_layers > 1:
        overrides["num_layers"] = spec.num_layers
    if spec.kind == "RNN" and spec.nonlinearity != "tanh":
        overrides["nonlinearity"] = spec.nonlinearity
    if spec.bidirectional:
        overrides["bidirectional"] = True
    return build_ctor(spec.cell, torch_path=TORCH_RNN[spec.kind], overrides=overrides)


def _last_h(spec: RnnSpec, state: str) -> str:
    """h_n of the torch output's state part (`state` is `(h_n, c_n)` for LSTM)."""
    return f"{state}[0]" if spec.kind == "LSTM" else state


def _outputs(spec: RnnSpec, out: str, state: str, in_tuple: bool) -> str:
    """Keras' output(s) as torch code, from the names of torch's (out, state)."""
    if not spec.bidirectional:
        return out if spec.return_sequences else f"{out}[:, -1]"
    merge = spec.merge_mode
    if spec.return_sequences:
        if merge == "concat":
            return out
        if merge is None:
            return f"*{out}.chunk(2, -1)" if in_tuple else f"{out}.chunk(2, -1)"
        return f"{out}.unflatten(-1, (2, -1)).{MERGES[merge]}(-2)"
    h = _last_h(spec, state)
    if merge == "concat":
        return f"{h}.transpose(0, 1).flatten(1)"
    if merge is None:
        return f"{h}[0], {h}[1]" if in_tuple else f"{h}.unbind(0)"
    return f"{h}.{MERGES[merge]}(0)"


def _states(spec: RnnSpec, state: str) -> list[str]:
    """Keras' states (forward ones, then backward ones) from torch's state part."""
    out = []
    for d in range(2 if spec.bidirectional else 1):
        if spec.kind == "LSTM":
            out += [f"{state}[0][{d}]", f"{state}[1][{d}]"]
        else:
            out.append(f"{state}[{d}]")
    return out


def _expression(spec: RnnSpec, module_call: cst.BaseExpression) -> cst.BaseExpression:
    if not spec.return_state:
        return template(_outputs(spec, "{m}[0]", "{m}[1]", False), m=module_call)
    state = "state" if spec.kind == "LSTM" else "h"
    items = [_outputs(spec, "out", state, True)] + _states(spec, state)
    return template(f"(lambda out, {state}: ({', '.join(items)}))(*{{m}})", m=module_call)


def _initial_state(ctx: LayerContext, spec: RnnSpec):
    """The `initial_state=` call argument as torch's h_0 (or (h_0, c_0))."""
    given = ctx.call_args.get("initial_state")
    if given is None:
        return None
    expr, meta, _ = given
    if spec.num_layers > 1:
        raise TranslationError("FWT201", f"{ctx.layer.keras_class}: initial_state with stacked cells is "
                               "not supported", ctx.layer.line)
    if isinstance(expr, (cst.List, cst.Tuple)):
        items = [el.value for el in expr.elements]
    elif meta is not None and spec.n_states == 1 and not spec.bidirectional:
        items = [expr]
    else:
        raise TranslationError("FWT201", f"{ctx.layer.keras_class}: initial_state must be a list of state "
                               "tensors written in the call", ctx.layer.line)
    directions = 2 if spec.bidirectional else 1
    if len(items) != spec.n_states * directions:
        raise TranslationError("FWT201", f"{ctx.layer.keras_class}: initial_state has {len(items)} tensors, "
                               f"expected {spec.n_states * directions}", ctx.layer.line)
    per_state = []
    for k in range(spec.n_states):
        if directions == 1:
            per_state.append(method(items[k], "unsqueeze", [to_node(0)]))
        else:
            pair = cst.List([cst.Element(items[k]), cst.Element(items[spec.n_states + k])])
            per_state.append(call(ctx.ref("torch.stack"), [pair]))
    if spec.kind == "LSTM":
        return cst.Tuple([cst.Element(s) for s in per_state])
    return per_state[0]


def emit_recurrent(ctx: LayerContext, spec: RnnSpec) -> Emission:
    ctx.rnn_spec = spec
    ctor = _ctor(spec)

    def apply(xs, metas):
        x = xs[0]
        if spec.go_backwards:
            x = method(x, "flip", [to_node(1)])
        args = [x]
        h0 = _initial_state(ctx, spec)
        if h0 is not None:
            args.append(h0)
        return _expression(spec, call(ctx.self_ref(ctx.layer.attr), args))
    return Emission(ctor, apply)


@hatch("rnn")
def rnn(ctx: LayerContext) -> Emission:
    """LSTM, GRU, SimpleRNN."""
    return emit_recurrent(ctx, recurrent_spec(ctx))


@hatch("rnn_layer")
def rnn_layer(ctx: LayerContext) -> Emission:
    """keras.layers.RNN(cell): the cell's torch RNN."""
    return emit_recurrent(ctx, recurrent_spec(ctx))


@hatch("rnn_cell")
def rnn_cell(ctx: LayerContext) -> Emission:
    """A cell (or StackedRNNCells) builds no module of its own: the RNN holding it does. Calling it
    directly (one time step with explicit states) is not translated."""
    def apply(xs, metas):
        raise TranslationError("FWT202", f"{ctx.layer.keras_class} called directly (one time step with "
                               "explicit states) is not supported: wrap it in keras.layers.RNN", ctx.layer.line)
    return Emission(None, apply)


@hatch("bidirectional")
def bidirectional(ctx: LayerContext) -> Emission:
    inner = _wrapped(ctx, "layer")
    spec = recurrent_spec(inner)
    what = f"Bidirectional({inner.layer.keras_class})"
    if spec.go_backwards:
        raise TranslationError("FWT202", f"{what}: the wrapped layer has go_backwards=True (Keras refuses "
                               "it too)", ctx.layer.line)
    if spec.num_layers > 1:
        raise TranslationError(
            "FWT202", f"{what} of stacked cells: Keras runs each direction through its own stack, torch's "
            "bidirectional multi-layer RNN feeds both directions to the next layer", ctx.layer.line)
    backward_val = ctx.layer.args.get("backward_layer")
    if backward_val is not None and not (backward_val.known and backward_val.const is None):
        back = recurrent_spec(_wrapped(ctx, "backward_layer"))
        same = (back.kind, back.num_layers, back.nonlinearity, back.return_sequences, back.return_state,
                _signature(back.cell, back.kind, back.nonlinearity)) == \
               (spec.kind, spec.num_layers, spec.nonlinearity, spec.return_sequences, spec.return_state,
                _signature(spec.cell, spec.kind, spec.nonlinearity))
        if not same or not back.go_backwards:
            raise TranslationError(
                "FWT202", f"{what}: backward_layer must be the same kind of layer with the same size and "
                "arguments and go_backwards=True for one bidirectional torch module", ctx.layer.line)
    merge = ctx.arg("merge_mode")
    if merge not in ("concat", "sum", "mul", "ave", None) or isinstance(merge, Sym):
        raise TranslationError("FWT202", f"Bidirectional: merge_mode={merge!s} must be a constant 'concat', "
                               "'sum', 'mul', 'ave' or None to translate", ctx.layer.line)
    spec = replace(spec, bidirectional=True, merge_mode=merge)
    return emit_recurrent(ctx, spec)


def _wrapped(ctx: LayerContext, name: str) -> LayerContext:
    node = _argument_node(ctx, name)
    inner = layer_from_node(ctx, node)
    if inner is None or inner.rule.emit not in RNN_LAYER_HATCHES:
        raise TranslationError(
            "FWT202", f"{ctx.layer.keras_class}: wrapped layer {_source(node)} is not supported: only "
            "LSTM, GRU, SimpleRNN and RNN(cell) translate", ctx.layer.line)
    return inner


@shape_fn("recurrent")
def recurrent_shape(args, shapes):
    """Outputs of a recurrent layer (LSTM, GRU, SimpleRNN, RNN(cell), Bidirectional), Keras order."""
    spec = getattr(getattr(args, "ctx", None), "rnn_spec", None)
    if spec is None:
        raise ShapeError("recurrent layer not emitted")
    s, units = shapes[0], spec.units
    width = dim_mul(units, 2) if spec.bidirectional and spec.merge_mode == "concat" else units
    out = tuple(s[:2]) + (width,) if spec.return_sequences else (s[0], width)
    outs = [out, out] if spec.bidirectional and spec.merge_mode is None else [out]
    if spec.return_state:
        outs += [(s[0], units)] * (spec.n_states * (2 if spec.bidirectional else 1))
    return outs


# ---- TimeDistributed ------------------------------------------------------------------------------------

class _Args:
    """What a shape function sees of a layer's arguments (rule defaults applied)."""

    def __init__(self, ctx: LayerContext):
        self.ctx = ctx

    def __getitem__(self, name):
        return self.ctx.arg(name)

    def call_meta(self, name):
        return None


# Rules whose layer works on the last axis alone, whatever the rank: TimeDistributed applies them as is.
LAST_AXIS_RULES = ("dense",)


@hatch("time_distributed")
def time_distributed(ctx: LayerContext) -> Emission:
    node = _argument_node(ctx, "layer")
    inner = layer_from_node(ctx, node, check=False)
    if inner is None:
        raise TranslationError("FWT202", f"TimeDistributed: wrapped layer {_source(node)} is not supported "
                               "(no rule)", ctx.layer.line)
    meta = ctx.meta
    if meta.rank is None or meta.rank < 3:
        raise TranslationError("FWT302", "TimeDistributed: the input rank must be known (batch, time, ...)",
                               ctx.layer.line)
    if inner.rule.id in LAST_AXIS_RULES:
        emission = emit_layer(inner)
        inner_out = _inner_out(inner, meta.shape, "cl")
        ctx.td_out = inner_out.shape
        return Emission(emission.ctor, lambda xs, metas: emission.apply(xs, [meta]))
    time = meta.shape[1]
    folded_shape = (None,) + tuple(meta.shape[2:])
    rank = len(folded_shape)
    layout = "cf" if inner.rule.layout == "cf" and rank > 2 else "cl"
    folded = TensorMeta(folded_shape, layout, meta.dtype)
    inner.metas = [folded]
    emission = emit_layer(inner)
    inner_out = _inner_out(inner, folded_shape, layout)
    ctx.td_out = (meta.shape[0], time) + tuple(inner_out.shape[1:])

    def apply(xs, metas):
        x = xs[0]
        steps = time
        if steps is None:
            if not isinstance(x, cst.Name):
                raise TranslationError("FWT302", "TimeDistributed: the number of time steps is unknown",
                                       ctx.layer.line)
            steps = cst.parse_expression(f"{x.value}.shape[1]")
        y = method(x, "flatten", [to_node(0), to_node(1)])
        if layout == "cf":
            y = permute(y, to_cf_perm(rank))
        y = emission.apply([y], [folded])
        if inner_out.layout == "cf" and inner_out.rank > 2:
            y = permute(y, to_cl_perm(inner_out.rank))
        steps_node = steps if isinstance(steps, cst.BaseExpression) else to_node(steps)
        return method(y, "unflatten", [to_node(0), cst.Tuple([cst.Element(to_node(-1)),
                                                             cst.Element(steps_node)])])
    return Emission(emission.ctor, apply)


def _inner_out(inner: LayerContext, shape, layout: str) -> TensorMeta:
    """The wrapped layer's output meta on one time step (its shape function, in Keras order)."""
    inner.call_args = {}
    try:
        out_shape = SHAPE_FUNCTIONS[inner.rule.shape](_Args(inner), [tuple(shape)])[0]
    except (ShapeError, TypeError, KeyError, IndexError, ZeroDivisionError):
        raise TranslationError("FWT302", f"TimeDistributed({inner.layer.keras_class}): output shape not "
                               "inferable", inner.layer.line) from None
    out_layout = layout if inner.rule.layout in ("cf", "any") else "cl"
    meta = TensorMeta(out_shape, out_layout if len(out_shape) > 2 else "cl")
    inner.out_meta, inner.out_metas = meta, [meta]
    return meta


@shape_fn("time_distributed")
def time_distributed_shape(args, shapes):
    out = getattr(getattr(args, "ctx", None), "td_out", None)
    if out is None:
        raise ShapeError("TimeDistributed not emitted")
    return [tuple(out)]
