"""Emit hatches and shape functions: attention layers, PReLU/ELU, the remaining merges (Subtract,
Average, Maximum, Minimum, Dot), Permute, RepeatVector, training-only noise, preprocessing layers
inside models (Rescaling, Normalization, CenterCrop, Resizing), GroupNormalization,
UnitNormalization, Identity and Masking.

Each hatch follows the Keras 3 source of its layer (keras/src/layers/...); the docstrings name the
formula, and the numerical tests in tests/test_layers_misc.py hold them to it.
"""
from __future__ import annotations

import math
import struct
from dataclasses import replace

import libcst as cst

from ..findings import TranslationError
from ..ir import Sym, dim_mul, is_int
from ..passes.shapes import ShapeError, shape_fn
from ..values import to_node
from .torch_code import call, method, permute, to_cl_perm
from .torch_layers import Emission, LayerContext, build_ctor, hatch


# ---- expression helpers -------------------------------------------------------------------------

_PREC = {cst.BitOr: 1, cst.BitXor: 2, cst.BitAnd: 3, cst.LeftShift: 4, cst.RightShift: 4, cst.Add: 5,
         cst.Subtract: 5, cst.Multiply: 6, cst.MatrixMultiply: 6, cst.Divide: 6, cst.FloorDivide: 6,
         cst.Modulo: 6, cst.Power: 8}


def _prec(node) -> int:
    if getattr(node, "lpar", None):
        return 99
    if isinstance(node, cst.BinaryOperation):
        return _PREC[type(node.operator)]
    if isinstance(node, cst.UnaryOperation):
        return 0 if isinstance(node.operator, cst.Not) else 7
    if isinstance(node, (cst.IfExp, cst.Lambda, cst.BooleanOperation, cst.Comparison, cst.NamedExpr)):
        return 0
    return 99


def _paren(node):
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _n(value):
    """A node from a constant, or the node itself."""
    return value if isinstance(value, cst.CSTNode) else to_node(value)


def binop(left, op: type, right):
    """`left op right`, parenthesising operands only where Python's precedence needs it."""
    left, right = _n(left), _n(right)
    p = _PREC[op]
    if _prec(left) < p:
        left = _paren(left)
    if _prec(right) <= p:
        right = _paren(right)
    return cst.BinaryOperation(left=left, operator=op(), right=right)


def invert(node):
    """`~node` (logical not of a boolean tensor)."""
    return cst.UnaryOperation(cst.BitInvert(), node if _prec(node) >= 7 else _paren(node))


def attr(obj, name: str):
    return cst.Attribute(value=obj, attr=cst.Name(name))


def meth(obj, name: str, *args, **kwargs):
    return method(obj, name, [_n(a) for a in args], [(k, _n(v)) for k, v in kwargs.items()])


def fn(ctx: LayerContext, path: str, *args, **kwargs):
    return call(ctx.ref(path), [_n(a) for a in args], [(k, _n(v)) for k, v in kwargs.items()])


def index(expr, text: str):
    """expr[<text>] (text is Python slice syntax, e.g. ':, :, 1:5')."""
    return cst.Subscript(value=expr, slice=cst.parse_expression(f"_[{text}]").slice)


NEG = cst.parse_expression("-1e9")       # Keras' large negative fill for float32 scores


def _error(ctx: LayerContext, code: str, message: str):
    raise TranslationError(code, f"{ctx.layer.keras_class}: {message}", ctx.layer.line)


def _int(ctx: LayerContext, name: str):
    value = ctx.int_arg(name)
    return value


def _size(ctx: LayerContext, name: str):
    """A size that torch takes at run time (MultiHeadAttention's num_heads, key_dim): a constant, a
    parameter pinned to its default as before, or else the symbolic value (`nhead`, `d_model // nhead`)."""
    try:
        return ctx.int_arg(name)
    except TranslationError:
        if isinstance(ctx.arg(name), Sym):
            return ctx.arg(name)
        raise


def _as_cl(expr, meta):
    """A call-argument tensor in Keras axis order (call arguments are not converted by the engine)."""
    if meta is not None and meta.layout == "cf" and meta.rank and meta.rank > 2:
        return permute(expr, to_cl_perm(meta.rank)), replace(meta, layout="cl")
    return expr, meta


def _tensor_arg(ctx: LayerContext, name: str):
    """(expr, meta) of a tensor call argument, or None when absent or a literal None."""
    entry = ctx.call_args.get(name)
    if entry is None:
        return None
    expr, meta, val = entry
    if val.known and val.const is None:
        return None
    return expr, meta


def _flag(ctx: LayerContext, name: str) -> bool:
    entry = ctx.call_args.get(name)
    if entry is None:
        return False
    val = entry[2]
    if not val.known or isinstance(val.const, Sym):
        _error(ctx, "FWT202", f"call argument '{name}' must be a constant")
    return bool(val.const)


def _dim(meta, axis: int, expr, index_: int):
    """A static size when known, else `expr.shape[index_]`."""
    if meta is not None and meta.shape is not None and is_int(meta.shape[axis]):
        return to_node(meta.shape[axis])
    return index(attr(expr, "shape"), str(index_))


def _dropout_p(ctx: LayerContext, rate: float):
    """`rate if self.training else 0.0`: Keras applies attention dropout in training only."""
    value = to_node(rate) if isinstance(rate, Sym) else to_node(float(rate))
    return cst.IfExp(test=ctx.self_ref("training"), body=value, orelse=to_node(0.0))


def _causal(ctx, q, meta_q, meta_k, k):
    """Keras' causal mask (row >= column, top-left aligned) as a boolean (T, S) tensor on q's device."""
    t, s = _dim(meta_q, 1, q, 1), _dim(meta_k, 1, k, 1)
    return meth(meth(q, "new_ones", cst.Tuple([cst.Element(t), cst.Element(s)]),
                     dtype=ctx.ref("torch.bool")), "tril")


def _source_or_const(ctx: LayerContext, name: str, value):
    """The argument as the user wrote it (`1.0 / 255`) when it is an expression, else the constant."""
    val = ctx.layer.args.get(name)
    if val is not None and val.known and isinstance(val.node, cst.BinaryOperation):
        return val.node
    return to_node(value)


# ---- MultiHeadAttention -------------------------------------------------------------------------

@hatch("multi_head_attention")
def multi_head_attention(ctx: LayerContext) -> Emission:
    """keras.layers.MultiHeadAttention (keras/src/layers/attention/multi_head_attention.py).

    query/key/value EinsumDense projections to (B, T, heads, key_dim|value_dim) become nn.Linear +
    `.unflatten(-1, (heads, dim)).transpose(1, 2)`; scores softmax(q k^T / sqrt(key_dim)) over the key
    axis; dropout on the probabilities in training only; the output EinsumDense over (heads, value_dim)
    is an nn.Linear on `.transpose(1, 2).flatten(2)`. Keras uses its fused dot-product path when
    dropout == 0 and no scores are returned: TF replaces masked scores with a huge negative, so a query
    row whose mask forbids every key averages all values; an additive float mask with float32's minimum
    does the same in torch (a boolean one would give zeros). On Keras' explicit path (scores returned,
    or dropout) such rows are zeros, as SDPA's boolean mask gives.
    """
    heads, key_dim = _size(ctx, "num_heads"), _size(ctx, "key_dim")
    value_dim = ctx.arg("value_dim") or key_dim
    if not (is_int(value_dim) or isinstance(value_dim, Sym)):
        _error(ctx, "FWT202", "'value_dim' must be an integer")
    use_bias, use_gate = bool(ctx.arg("use_bias")), bool(ctx.arg("use_gate"))
    dropout = ctx.arg("dropout") or 0.0
    out_shape = ctx.arg("output_shape")
    if out_shape is not None:
        out_shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
        if not out_shape or not all(is_int(d) for d in out_shape):
            _error(ctx, "FWT202", f"output_shape={out_shape!r} must be constant integers")
    axes = ctx.arg("attention_axes")
    if axes is not None:
        axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
        if axes not in ((1,), (-2,)):
            _error(ctx, "FWT202", f"attention_axes={axes!r}: only attention over the sequence axis "
                   "(axis 1 of a rank-3 query) is translated")
    if ctx.meta.rank not in (None, 3):
        _error(ctx, "FWT202", f"a rank-{ctx.meta.rank} query (attention over several axes) is not translated")
    mod = ctx.self_ref(ctx.layer.attr)

    def build(qm, km, vm):
        dims = {}
        for name, meta in (("query", qm), ("key", km), ("value", vm)):
            if meta is None or not (is_int(meta.last_dim) or isinstance(meta.last_dim, Sym)):
                raise TranslationError("FWT302", f"{ctx.layer.keras_class}: the {name} feature size "
                                       "is unknown", ctx.layer.line)
            dims[name] = meta.last_dim
        out_features = math.prod(out_shape) if out_shape else dims["query"]

        def linear(i, o):
            return fn(ctx, "torch.nn.Linear", i, o, **({} if use_bias else {"bias": False}))
        qk, v = dim_mul(heads, key_dim), dim_mul(heads, value_dim)
        entries = [("query", linear(dims["query"], qk)),
                   ("key", linear(dims["key"], qk)),
                   ("value", linear(dims["value"], v))]
        if use_gate:
            entries.append(("gate", linear(dims["query"], v)))
        entries.append(("output", linear(v, out_features)))
        table = cst.Dict([cst.DictElement(to_node(k), v) for k, v in entries])
        return fn(ctx, "torch.nn.ModuleDict", table)

    def project(name, x, size):
        heads_dims = cst.Tuple([cst.Element(to_node(heads)), cst.Element(to_node(size))])
        return meth(meth(call(attr(mod, name), [x]), "unflatten", -1, heads_dims), "transpose", 1, 2)

    def apply(xs, metas):
        q, qm = xs[0], metas[0]
        value = _tensor_arg(ctx, "value")
        if value is None:
            _error(ctx, "FWT201", "called without a value tensor")
        v, vm = _as_cl(*value)
        key = _tensor_arg(ctx, "key")
        k, km = _as_cl(*key) if key is not None else (v, vm)
        for name in ("query_mask", "value_mask", "key_mask"):
            if _tensor_arg(ctx, name) is not None:
                _error(ctx, "FWT201", f"'{name}' (Keras mask propagation) is not translated; pass an "
                       "attention_mask instead")
        for meta in (vm, km):
            if meta is not None and meta.rank not in (None, 3):
                _error(ctx, "FWT202", f"a rank-{meta.rank} key/value is not translated")
        scores, causal = _flag(ctx, "return_attention_scores"), _flag(ctx, "use_causal_mask")
        if emission.ctor is None:
            emission.ctor = build(qm, km, vm)
        Q, K, V = project("query", q, key_dim), project("key", k, key_dim), project("value", v, value_dim)

        mask, mask_meta = _tensor_arg(ctx, "attention_mask") or (None, None)
        if mask is not None:
            if mask_meta is None or mask_meta.rank is None:
                _error(ctx, "FWT302", "the rank of attention_mask is unknown")
            if mask_meta.rank not in (2, 3, 4):
                _error(ctx, "FWT202", f"a rank-{mask_meta.rank} attention_mask is not translated")
            mask, mask_meta = _as_cl(mask, mask_meta)
            if mask_meta.dtype != "bool":
                mask = meth(mask, "bool")          # Keras casts the mask: nonzero = attend
            if causal:
                t = qm.shape[1] if qm is not None and qm.shape else None
                s = vm.shape[1] if vm is not None and vm.shape else None
                if not (is_int(t) and is_int(s) and mask_meta.shape is not None
                        and tuple(mask_meta.shape[-2:]) == (t, s)):
                    _error(ctx, "FWT302", "use_causal_mask with an attention_mask needs a full (T, S) "
                           "mask of known size")
                mask = meth(mask, "tril")           # mask & causal
        fused = not scores and not dropout      # Keras' ops.dot_product_attention path

        def heads_axis(m):
            return meth(m, "unsqueeze", 1) if mask_meta.rank == 3 else m

        kwargs = {}
        if mask is not None:
            m = heads_axis(mask)
            if fused:      # TF fills masked scores with a huge negative: a row masked everywhere is uniform
                m = fn(ctx, "torch.where", m, 0.0, attr(fn(ctx, "torch.finfo", ctx.ref("torch.float32")), "min"))
            kwargs["attn_mask"] = m
        elif causal:
            kwargs["is_causal"] = True
        if dropout:
            kwargs["dropout_p"] = _dropout_p(ctx, dropout)
        att = fn(ctx, "torch.nn.functional.scaled_dot_product_attention", Q, K, V, **kwargs)
        out = meth(meth(att, "transpose", 1, 2), "flatten", 2)
        if use_gate:
            out = binop(out, cst.Multiply, fn(ctx, "torch.sigmoid", call(attr(mod, "gate"), [q])))
        out = call(attr(mod, "output"), [out])
        if out_shape and len(out_shape) > 1:
            out = meth(out, "unflatten", -1, out_shape)
        if not scores:
            return out
        logits = binop(binop(Q, cst.MatrixMultiply, meth(K, "transpose", -2, -1)), cst.Multiply,
                       cst.parse_expression(f"{key_dim} ** -0.5" if is_int(key_dim) else f"({key_dim}) ** -0.5"))
        keep = heads_axis(mask) if mask is not None else (_causal(ctx, q, qm, vm, v) if causal else None)
        if keep is not None:       # Keras' masked Softmax: -1e9 before, exact zeros after
            logits = meth(logits, "masked_fill", invert(keep), NEG)
        weights = fn(ctx, "torch.nn.functional.softmax", logits, dim=-1)
        if mask is not None:
            weights = meth(weights, "masked_fill", invert(keep), 0.0)
        return cst.Tuple([cst.Element(out), cst.Element(weights)])

    emission = Emission(None, apply)     # the modules are sized at the first call (key/value sizes)
    return emission


@shape_fn("multi_head_attention")
def multi_head_attention_shape(args, shapes):
    q = tuple(shapes[0])
    out_shape = args["output_shape"]
    if out_shape is None:
        out = q
    else:
        out = q[:-1] + ((out_shape,) if isinstance(out_shape, int) else tuple(out_shape))
    if not args["return_attention_scores"]:
        return [out]
    value = args.call_meta("value")
    s = value.shape[1] if value is not None and value.shape else None
    return [out, (q[0], args["num_heads"], q[1], s)]


# ---- Attention / AdditiveAttention -------------------------------------------------------------

def _param_dict(ctx: LayerContext, params: dict):
    table = cst.Dict([cst.DictElement(to_node(k), fn(ctx, "torch.nn.Parameter", v)) for k, v in params.items()])
    return fn(ctx, "torch.nn.ParameterDict", table)


def _attention(ctx: LayerContext, mode: str) -> Emission:
    """keras.layers.Attention / AdditiveAttention (keras/src/layers/attention/attention.py).

    scores: dot q @ k^T (* scale); concat w * sum(tanh([scale *] (q_i + k_j))); additive
    sum(scale * tanh(q_i + k_j)). A value mask and the causal mask subtract 1e9 from the scores
    (Keras subtracts, it does not replace: rows masked everywhere stay finite); softmax over the keys;
    dropout on the weights in training; the query mask zeroes output rows.
    """
    use_scale = bool(ctx.arg("use_scale"))
    dropout = ctx.arg("dropout") or 0.0
    ones = fn(ctx, "torch.ones", 1)     # Keras' scalar weights, as (1,) tensors
    params = {}
    if use_scale and mode == "additive":
        dim = ctx.channels()
        if not is_int(dim):                # e.g. a class translated for any channel count (fuzz, subclass)
            raise TranslationError("FWT302", f"{ctx.layer.keras_class}(use_scale=True) needs a known channel "
                                   "count", ctx.layer.line)
        limit = math.sqrt(3.0 / dim)       # Keras glorot_uniform on a (dim,) vector
        params["scale"] = meth(fn(ctx, "torch.empty", dim), "uniform_", -limit, limit)
    elif use_scale:
        params["scale"] = ones
    if mode == "concat":
        params["concat_score_weight"] = ones
    ctor = _param_dict(ctx, params) if params else None
    mod = ctx.self_ref(ctx.layer.attr)

    def apply(xs, metas):
        if len(xs) not in (2, 3):
            _error(ctx, "FWT201", "expects a list [query, value] or [query, value, key]")
        q, v = xs[0], xs[1]
        k = xs[2] if len(xs) == 3 else v
        q_mask = v_mask = None
        entry = ctx.call_args.get("mask")
        if entry is not None and not (entry[2].known and entry[2].const is None):
            items = entry[0]
            if not isinstance(items, (cst.List, cst.Tuple)) or len(items.elements) not in (2, 3):
                _error(ctx, "FWT202", "mask must be a list [query_mask, value_mask]")
            elems = [el.value for el in items.elements]
            q_mask, v_mask = [None if isinstance(e, cst.Name) and e.value == "None" else e for e in elems[:2]]
        scores, causal = _flag(ctx, "return_attention_scores"), _flag(ctx, "use_causal_mask")
        scale = attr(mod, "scale") if use_scale else None
        keep = None
        if v_mask is not None:
            keep = meth(v_mask, "unsqueeze", -2)
        if causal:
            tri = _causal(ctx, q, metas[0], metas[len(xs) - 1], k)
            keep = tri if keep is None else binop(keep, cst.BitAnd, tri)
        bias = fn(ctx, "torch.where", keep, 0.0, NEG) if keep is not None else None
        if mode == "dot" and not scores:
            kwargs = {}
            if bias is not None and v_mask is None:      # causal only: no row is masked everywhere
                kwargs["is_causal"] = True
            elif bias is not None:
                kwargs["attn_mask"] = bias
            if dropout:
                kwargs["dropout_p"] = _dropout_p(ctx, dropout)
            kwargs["scale"] = 1.0
            out = fn(ctx, "torch.nn.functional.scaled_dot_product_attention",
                     binop(q, cst.Multiply, scale) if scale is not None else q, k, v, **kwargs)
            weights = None
        else:
            if mode == "dot":
                logits = binop(q, cst.MatrixMultiply, meth(k, "transpose", -2, -1))
                if scale is not None:
                    logits = binop(logits, cst.Multiply, scale)
            else:
                pairs = binop(meth(q, "unsqueeze", -2), cst.Add, meth(k, "unsqueeze", -3))
                if mode == "concat":
                    if scale is not None:
                        pairs = binop(scale, cst.Multiply, pairs)
                    logits = binop(attr(mod, "concat_score_weight"), cst.Multiply,
                                   meth(fn(ctx, "torch.tanh", pairs), "sum", -1))
                else:
                    tanh = fn(ctx, "torch.tanh", pairs)
                    logits = meth(binop(tanh, cst.Multiply, scale) if scale is not None else tanh, "sum", -1)
            if bias is not None:
                logits = binop(logits, cst.Add, bias)
            weights = fn(ctx, "torch.nn.functional.softmax", logits, dim=-1)
            used = weights
            if dropout:
                used = fn(ctx, "torch.nn.functional.dropout", weights, dropout, training=ctx.self_ref("training"))
            out = binop(used, cst.MatrixMultiply, v)
        if q_mask is not None:
            out = meth(out, "masked_fill", invert(meth(q_mask, "unsqueeze", -1)), 0.0)
        if scores:
            return cst.Tuple([cst.Element(out), cst.Element(weights)])
        return out
    return Emission(ctor, apply)


@hatch("dot_attention")
def dot_attention(ctx: LayerContext) -> Emission:
    return _attention(ctx, ctx.arg("score_mode"))


@hatch("additive_attention")
def additive_attention(ctx: LayerContext) -> Emission:
    return _attention(ctx, "additive")


@shape_fn("attention")
def attention_shape(args, shapes):
    q, v = tuple(shapes[0]), tuple(shapes[1])
    k = tuple(shapes[2]) if len(shapes) > 2 else v
    out = q[:-1] + (v[-1],)
    if args["return_attention_scores"]:
        return [out, q[:-1] + (k[-2],)]
    return [out]


# ---- activations ----------------------------------------------------------------------------------

@hatch("prelu")
def prelu(ctx: LayerContext) -> Emission:
    """keras.layers.PReLU: relu(x) - alpha * relu(-x), alpha of shape input_shape[1:] with the
    shared axes set to 1 (Keras axes, batch = 0). Keras initialises alpha to zeros: init=0.0."""
    shape = ctx.meta.shape
    shared = ctx.arg("shared_axes")
    shared = set() if shared is None else set(shared if isinstance(shared, (list, tuple)) else [shared])
    if shape is None:
        _error(ctx, "FWT302", "the input shape is needed to size alpha")
    rank = len(shape)
    alpha = [1 if i in shared or (i - rank) in shared else shape[i] for i in range(1, rank)]
    if not all(is_int(d) for d in alpha):
        _error(ctx, "FWT302", f"alpha shape {tuple(alpha)} is not fully known")
    count = math.prod(alpha)
    per_channel = count > 1 and alpha[-1] == count
    kwargs = {"num_parameters": count} if count > 1 else {}
    ctor = fn(ctx, "torch.nn.PReLU", **kwargs, init=0.0)
    mod = ctx.self_ref(ctx.layer.attr)

    def apply(xs, metas):
        x, meta = xs[0], metas[0]
        cf = meta.layout == "cf" and rank > 2
        if count == 1 or (per_channel and (cf or rank == 2)):
            return call(mod, [x])
        if per_channel:     # channels last, rank > 2: nn.PReLU weighs dim 1
            return meth(call(mod, [meth(x, "movedim", -1, 1)]), "movedim", 1, -1)
        weight = meth(attr(mod, "weight"), "view", *alpha)
        if cf:
            weight = meth(weight, "permute", rank - 2, *range(rank - 2))
        positive = cst.Comparison(x, [cst.ComparisonTarget(cst.GreaterThanEqual(), to_node(0))])
        return fn(ctx, "torch.where", positive, x, binop(weight, cst.Multiply, x))
    return Emission(ctor, apply)


@hatch("elu_layer")
def elu_layer(ctx: LayerContext) -> Emission:
    alpha = ctx.arg("alpha")
    kwargs = {} if alpha == 1.0 else {"alpha": float(alpha)}
    return Emission(None, lambda xs, metas: fn(ctx, "torch.nn.functional.elu", xs[0], **kwargs))


@hatch("thresholded_relu")
def thresholded_relu(ctx: LayerContext) -> Emission:
    """tf_keras ThresholdedReLU (removed in Keras 3): x * (x > theta) = F.threshold(x, theta, 0.0)."""
    theta = float(ctx.arg("theta"))
    return Emission(None, lambda xs, metas: fn(ctx, "torch.nn.functional.threshold", xs[0], theta, 0.0))


# ---- merges ---------------------------------------------------------------------------------------

@hatch("merge_misc")
def merge_misc(ctx: LayerContext) -> Emission:
    """Subtract (a - b, two inputs), Average ((a + b + ...) / n), Maximum/Minimum (pairwise from the
    left, as Keras' Merge layers fold them)."""
    kind = ctx.rule.id

    def apply(xs, metas):
        if kind == "subtract":
            if len(xs) != 2:
                _error(ctx, "FWT201", f"Subtract takes exactly 2 inputs, got {len(xs)}")
            return binop(xs[0], cst.Subtract, xs[1])
        if kind == "average":
            total = xs[0]
            for x in xs[1:]:
                total = binop(total, cst.Add, x)
            return binop(total, cst.Divide, len(xs))
        out = xs[0]
        for x in xs[1:]:
            out = fn(ctx, f"torch.{kind}", out, x)
        return out
    return Emission(None, apply)


def _dot_axes(axes, r1: int, r2: int) -> tuple[int, int]:
    if isinstance(axes, int):
        return (axes % r1, axes % r2) if axes < 0 else (axes, axes)
    a, b = axes
    return a % r1 if a < 0 else a, b % r2 if b < 0 else b


@hatch("dot")
def dot(ctx: LayerContext) -> Emission:
    """keras.layers.Dot: Keras batch_dot over one axis of each input (optionally L2-normalised first,
    x * min(rsqrt(sum x^2), 1e12) = F.normalize). Output axes: the first input's remaining axes, then
    the second's without the batch axis; (batch,) becomes (batch, 1)."""
    axes, normalize = ctx.arg("axes"), ctx.arg("normalize")

    def apply(xs, metas):
        if len(xs) != 2:
            _error(ctx, "FWT201", "Dot takes exactly 2 inputs")
        r1, r2 = metas[0].rank, metas[1].rank
        if r1 is None or r2 is None:
            _error(ctx, "FWT302", "input ranks unknown")
        a0, a1 = _dot_axes(axes, r1, r2)
        if 0 in (a0, a1):
            _error(ctx, "FWT202", "Dot over the batch axis")
        x, y = xs
        if normalize:
            x = fn(ctx, "torch.nn.functional.normalize", x, dim=a0)
            y = fn(ctx, "torch.nn.functional.normalize", y, dim=a1)
        if r1 == r2 == 2:
            return meth(binop(x, cst.Multiply, y), "sum", 1, keepdim=True)
        if r1 == r2 == 3:
            left = x if a0 == 2 else meth(x, "transpose", 1, 2)
            right = y if a1 == 1 else meth(y, "transpose", 1, 2)
            return binop(left, cst.MatrixMultiply, right)
        letters = "cdefghijklmnopqrstuvwxy"
        xs_l = ["b"] + list(letters[:r1 - 1])
        ys_l = ["b"] + list(letters[r1 - 1:r1 - 1 + r2 - 1])
        xs_l[a0] = "z"
        ys_l[a1] = "z"
        out = [c for c in xs_l if c != "z"] + [c for c in ys_l[1:] if c != "z"]
        expr = fn(ctx, "torch.einsum", f"{''.join(xs_l)},{''.join(ys_l)}->{''.join(out)}", x, y)
        return meth(expr, "unsqueeze", 1) if len(out) == 1 else expr
    return Emission(None, apply)


@shape_fn("dot")
def dot_shape(args, shapes):
    s1, s2 = list(shapes[0]), list(shapes[1])
    a0, a1 = _dot_axes(args["axes"], len(s1), len(s2))
    s1.pop(a0)
    s2.pop(a1)
    s2.pop(0)
    out = s1 + s2
    return [tuple(out + [1] if len(out) == 1 else out)]


# ---- reshaping ------------------------------------------------------------------------------------

@hatch("permute")
def permute_layer(ctx: LayerContext) -> Emission:
    dims = ctx.arg("dims")
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(dims) + 1)):
        _error(ctx, "FWT202", f"dims={dims!r} is not a permutation of 1..n")
    return Emission(None, lambda xs, metas: meth(xs[0], "permute", 0, *dims))


@shape_fn("permute")
def permute_shape(args, shapes):
    s = shapes[0]
    return [(s[0],) + tuple(s[d] for d in args["dims"])]


@hatch("repeat_vector")
def repeat_vector(ctx: LayerContext) -> Emission:
    n = ctx.arg("n")
    if ctx.meta.rank not in (None, 2):
        _error(ctx, "FWT202", f"RepeatVector expects a rank-2 input, got rank {ctx.meta.rank}")
    return Emission(None, lambda xs, metas: meth(meth(xs[0], "unsqueeze", 1), "repeat", 1, n, 1))


@shape_fn("repeat_vector")
def repeat_vector_shape(args, shapes):
    s = shapes[0]
    return [(s[0], args["n"], s[1])]


# ---- identities -----------------------------------------------------------------------------------

@hatch("identity_layer")
def identity_layer(ctx: LayerContext) -> Emission:
    return Emission(None, lambda xs, metas: xs[0])


@hatch("training_noise")
def training_noise(ctx: LayerContext) -> Emission:
    """GaussianNoise / GaussianDropout: identities at inference (Keras applies them only when
    training=True); torch has no module for them, so they are left out, with a note."""
    ctx.notes.append(("FWT203", f"{ctx.layer.keras_class} dropped: it only acts in training (add the "
                      "noise in your torch training loop if you train)"))
    return Emission(None, lambda xs, metas: xs[0])


@hatch("masking")
def masking(ctx: LayerContext) -> Emission:
    raise TranslationError("FWT202", "Masking: the Keras mask it attaches is consumed by later layers "
                           "(RNNs skip masked steps, attention and pooling ignore them); torch has no mask "
                           "propagation, so the model would not match. Pass explicit masks/lengths "
                           "(e.g. pack_padded_sequence) instead", ctx.layer.line)


# ---- normalization --------------------------------------------------------------------------------

@hatch("group_norm")
def group_norm(ctx: LayerContext) -> Emission:
    """keras.layers.GroupNormalization = nn.GroupNorm (both normalise groups of contiguous channels
    over (group channels, spatial axes) with rsqrt(var + eps)); Keras groups=-1 = one per channel."""
    center, scale = ctx.arg("center"), ctx.arg("scale")
    if center != scale:
        _error(ctx, "FWT202", "center and scale must both be True or both False for torch")
    overrides = {}
    if ctx.arg("groups") == -1:
        overrides["num_groups"] = ctx.channels()
    if not center:
        overrides["affine"] = False
    return Emission(build_ctor(ctx, overrides=overrides), lambda xs, metas: ctx.module_call(xs[0]))


@hatch("unit_norm")
def unit_norm(ctx: LayerContext) -> Emission:
    """keras.layers.UnitNormalization: x * min(rsqrt(sum(x^2, axis)), 1e12) = F.normalize(eps=1e-12)."""
    axis = ctx.arg("axis")

    def apply(xs, metas):
        x, meta = xs[0], metas[0]
        if isinstance(axis, (list, tuple)):
            dims = tuple(ctx.torch_axis(a, meta) for a in axis)
            inv = meth(meth(meth(meth(x, "square"), "sum", dim=dims, keepdim=True), "rsqrt"), "clamp", max=cst.parse_expression("1e12"))
            return binop(x, cst.Multiply, inv)
        return fn(ctx, "torch.nn.functional.normalize", x, dim=ctx.torch_axis(axis, meta))
    return Emission(None, apply)


def _channel_values(ctx: LayerContext, value, name: str):
    """A scalar, or a flat list of per-channel floats (broadcast along the Keras channel axis)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in value):
        return [float(v) for v in value]
    _error(ctx, "FWT202", f"'{name}' must be a constant number or a flat list of numbers")


def _constant_tensor(ctx: LayerContext, values: list, meta, keras_axis: int):
    """torch.tensor(values) shaped to broadcast along `keras_axis` of a tensor in meta's torch layout."""
    t = fn(ctx, "torch.tensor", values)
    if meta.rank is None:
        if meta.layout == "cl" and keras_axis in (-1,):
            return t
        _error(ctx, "FWT302", "input rank unknown")
    trailing = meta.rank - 1 - ctx.torch_axis(keras_axis, meta) % meta.rank
    return meth(t, "view", -1, *([1] * trailing)) if trailing else t


def _frozen(ctx: LayerContext, tensor):
    return fn(ctx, "torch.nn.Parameter", tensor, requires_grad=False)


@hatch("rescaling")
def rescaling(ctx: LayerContext) -> Emission:
    """keras.layers.Rescaling: x * scale + offset (per-channel lists broadcast on the channel axis;
    they are held, frozen, in an nn.ParameterDict so that they follow the module's device)."""
    scale = _channel_values(ctx, ctx.arg("scale"), "scale")
    offset = _channel_values(ctx, ctx.arg("offset"), "offset")
    consts = {}
    for name, value in (("scale", scale), ("offset", offset)):
        if isinstance(value, list):
            consts[name] = _frozen(ctx, _constant_tensor(ctx, value, ctx.meta, -1))
    ctor = _param_dict_raw(ctx, consts) if consts else None
    mod = ctx.self_ref(ctx.layer.attr)

    def apply(xs, metas):
        s = attr(mod, "scale") if "scale" in consts else _source_or_const(ctx, "scale", scale)
        out = xs[0] if scale == 1.0 else binop(xs[0], cst.Multiply, s)
        if "offset" in consts:
            return binop(out, cst.Add, attr(mod, "offset"))
        if offset:
            return binop(out, cst.Add, _source_or_const(ctx, "offset", offset))
        return out
    return Emission(ctor, apply)


def _param_dict_raw(ctx: LayerContext, entries: dict):
    table = cst.Dict([cst.DictElement(to_node(k), v) for k, v in entries.items()])
    return fn(ctx, "torch.nn.ParameterDict", table)


@hatch("normalization")
def normalization(ctx: LayerContext) -> Emission:
    """keras.layers.Normalization with constant mean/variance: (x - mean) / max(sqrt(variance), 1e-7)
    (invert=True: mean + x * max(sqrt(variance), 1e-7)); the statistics broadcast along the kept axis."""
    mean, variance = ctx.arg("mean"), ctx.arg("variance")
    if mean is None or variance is None:
        _error(ctx, "FWT202", "only a layer built with mean= and variance= is translated (an adapt()ed "
               "layer's statistics are not in the source)")
    axis = ctx.arg("axis")
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            _error(ctx, "FWT202", f"axis={axis!r}: only one kept axis is translated")
        axis = axis[0]
    mean = _channel_values(ctx, mean, "mean")
    variance = _channel_values(ctx, variance, "variance")

    def std(v):
        return max(math.sqrt(v), 1e-7)
    scalar = not isinstance(mean, list) and not isinstance(variance, list)
    if not scalar:
        n = max(len(v) for v in (mean, variance) if isinstance(v, list))
        mean = mean if isinstance(mean, list) else [mean] * n
        variance = variance if isinstance(variance, list) else [variance] * n
        if axis is None:
            _error(ctx, "FWT202", "per-channel statistics need an axis")
        stats = {"mean": _frozen(ctx, _constant_tensor(ctx, mean, ctx.meta, axis)),
                 "std": _frozen(ctx, _constant_tensor(ctx, [std(v) for v in variance], ctx.meta, axis))}
        ctor = _param_dict_raw(ctx, stats)
    else:
        ctor = None
    mod = ctx.self_ref(ctx.layer.attr)
    invert_ = ctx.arg("invert")

    def apply(xs, metas):
        m = attr(mod, "mean") if not scalar else to_node(mean)
        s = attr(mod, "std") if not scalar else to_node(std(variance))
        if invert_:
            return binop(m, cst.Add, binop(xs[0], cst.Multiply, s))
        return binop(binop(xs[0], cst.Subtract, m), cst.Divide, s)
    return Emission(ctor, apply)


def _f32(x: float) -> float:
    """x rounded to float32 (then printed as the shortest float64 repr of that value)."""
    return struct.unpack("f", struct.pack("f", x))[0]


# ---- image preprocessing --------------------------------------------------------------------------

def _hw(ctx: LayerContext, meta):
    if meta.shape is None or len(meta.shape) != 4 or not all(is_int(d) for d in meta.shape[1:3]):
        _error(ctx, "FWT302", "needs a batch of images with a known height and width")
    return meta.shape[1], meta.shape[2]


@hatch("center_crop")
def center_crop(ctx: LayerContext) -> Emission:
    """keras.layers.CenterCrop: a slice starting at ((H - h) // 2, (W - w) // 2); an input smaller
    than the target is resized by Keras (smart_resize) instead, which is not translated."""
    h, w = _int(ctx, "height"), _int(ctx, "width")

    def apply(xs, metas):
        height, width = _hw(ctx, metas[0])
        if height < h or width < w:
            _error(ctx, "FWT202", f"input {height}x{width} is smaller than the crop {h}x{w} (Keras resizes)")
        top, left = (height - h) // 2, (width - w) // 2
        return index(xs[0], f":, :, {top}:{top + h}, {left}:{left + w}")
    return Emission(None, apply)


@shape_fn("center_crop")
def center_crop_shape(args, shapes):
    s = shapes[0]
    return [(s[0], args["height"], args["width"], s[3])]


def _f32_int_div(a: int, b: int) -> int:
    """TF's int32(float32(a) / b) for the aspect-ratio boxes of tf.image resize."""
    return int(_f32(_f32(float(a)) / b))


@hatch("resizing")
def resizing(ctx: LayerContext) -> Emission:
    """keras.layers.Resizing on the TF backend is tf.image.resize (half-pixel centers): that is
    F.interpolate(align_corners=False) for bilinear (antialias either way), nearest ('nearest-exact'),
    bicubic with antialias=True (TF's plain bicubic kernel differs) and area at integer scale factors.
    crop_to_aspect_ratio / pad_to_aspect_ratio are a static slice / F.pad before the resize."""
    h, w = _int(ctx, "height"), _int(ctx, "width")
    mode, antialias = ctx.arg("interpolation"), bool(ctx.arg("antialias"))
    crop, pad, fill = ctx.arg("crop_to_aspect_ratio"), ctx.arg("pad_to_aspect_ratio"), ctx.arg("fill_value")
    if mode == "bicubic" and not antialias:
        _error(ctx, "FWT202", "interpolation='bicubic' without antialias: TF's cubic kernel (a=-0.5) is "
               "not torch's (a=-0.75)")
    if mode == "area" and antialias:
        _error(ctx, "FWT202", "interpolation='area' with antialias=True is not translated")

    def apply(xs, metas):
        height, width = _hw(ctx, metas[0])
        x = xs[0]
        if crop:
            ch = max(min(height, _f32_int_div(width * h, w)), 1)
            cw = max(min(width, _f32_int_div(height * w, h)), 1)
            top, left = int(_f32(float(height - ch)) / 2), int(_f32(float(width - cw)) / 2)
            if (ch, cw) != (height, width):
                x = index(x, f":, :, {top}:{top + ch}, {left}:{left + cw}")
            height, width = ch, cw
        elif pad:
            ph = max(height, _f32_int_div(width * h, w))
            pw = max(width, _f32_int_div(height * w, h))
            top, left = int(_f32(float(ph - height)) / 2), int(_f32(float(pw - width)) / 2)
            if top or left:
                kwargs = {"value": float(fill)} if fill else {}
                x = fn(ctx, "torch.nn.functional.pad", x, (left, left, top, top), **kwargs)
            height, width = height + 2 * top, width + 2 * left
        if (height, width) == (h, w):
            return x
        if mode == "area" and not ((height % h == 0 and width % w == 0) or (h % height == 0 and w % width == 0)):
            _error(ctx, "FWT202", f"interpolation='area' from {height}x{width} to {h}x{w} is not an integer "
                   "scale factor (TF and torch area resizes differ there)")
        kwargs = {"size": (h, w), "mode": "nearest-exact" if mode == "nearest" else mode}
        if mode in ("bilinear", "bicubic"):
            kwargs["align_corners"] = False
            if antialias:
                kwargs["antialias"] = True
        return fn(ctx, "torch.nn.functional.interpolate", x, **kwargs)
    return Emission(None, apply)


@shape_fn("resizing")
def resizing_shape(args, shapes):
    s = shapes[0]
    if len(s) != 4:
        raise ShapeError("Resizing expects a batch of images")
    return [(s[0], args["height"], args["width"], s[3])]

