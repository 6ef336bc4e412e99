"""torch -> Keras op hatches: torch.nn.functional (dropout, interpolate, scaled_dot_product_attention,
mish, glu, one_hot). See keras_forward_ops.py.
"""
from __future__ import annotations

import math

import libcst as cst

from .keras_code import call, node_of, tensor
from .keras_forward_base import _const
from .keras_forward_ops import BOOL, OpCall, _is_none, is_self_training, paren, shape_dim, torch_op


@torch_op("torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
          "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
          "torch.nn.functional.feature_alpha_dropout", "torch.dropout")
def dropout(c: OpCall):
    b = c.bind(["input", "p", "training", "inplace"])
    x, m = c.tensor(b["input"])
    p = _const(b.get("p")) if b.get("p") is not None else 0.5
    training = b.get("training")
    follows_mode = is_self_training(training)
    if not (p == 0 or follows_mode or training is not None and _const(training) is False):
        c.fail("FWT202", "F.dropout drops in eval mode too unless training=self.training (or False) is given")
    if p != 0 and follows_mode:
        c.note("FWT203", "identity at inference (Keras code does not drop in training either)")
    return x, m.with_(origin=None)


@torch_op("torch.nn.functional.interpolate", "torch.nn.functional.upsample")
def interpolate(c: OpCall):
    b = c.bind(["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"])
    x, m = c.tensor(b["input"])
    mode = c.const(b.get("mode"), "mode", "nearest")
    align = c.const(b.get("align_corners"), "align_corners", None)
    if c.const(b.get("antialias"), "antialias", False):
        c.fail("FWT202", "antialias=True is not translated")
    if mode not in ("nearest", "bilinear", "linear"):
        c.fail("FWT202", f"mode={mode!r}: only 'nearest' and 'bilinear' (align_corners=False) translate")
    if align:
        c.fail("FWT202", "align_corners=True has no keras.ops.image.resize equivalent")
    rank = m.rank
    if rank is None or m.layout != "cf":
        from .keras_forward_base import _PoolSpec
        n = 2 if mode == "bilinear" else 1 if mode == "linear" else None
        if rank is None and n is None:
            size = _const(b.get("size")) if b.get("size") is not None else _const(b.get("scale_factor"))
            n = len(size) if isinstance(size, (tuple, list)) else None
        if n is None and rank is None:
            c.fail("FWT302", "the rank of the input is not known")
        spec = _PoolSpec(n or rank - 2)
        spec.torch_path = f"torch.nn.Upsample{n or rank - 2}d"
        x, m = c.ft.conform(x, m, spec, c.line)
        rank = m.rank
    n = rank - 2
    spatial = m.spatial or (None,) * n
    size = c.const(b.get("size"), "size", None)
    scale = c.const(b.get("scale_factor"), "scale_factor", None)
    if (size is None) == (scale is None):
        c.fail("FWT202", "give exactly one of size and scale_factor")
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        factors = tuple(o // i if isinstance(i, int) and o % i == 0 else None for o, i in zip(out, spatial))
    else:
        sc = tuple(scale) if isinstance(scale, (tuple, list)) else (scale,) * n
        if c.const(b.get("recompute_scale_factor"), "recompute_scale_factor", None) is False:
            c.fail("FWT202", "recompute_scale_factor=False is not translated")
        factors = tuple(int(s) if float(s) == int(s) and s >= 1 else None for s in sc)
        out = tuple(i * f if isinstance(i, int) and f is not None else
                    (math.floor(i * s) if isinstance(i, int) else None) for i, f, s in zip(spatial, factors, sc))
        if any(f is None for f in factors) and any(isinstance(i, int) and i * s != math.floor(i * s)
                                                   for i, s in zip(spatial, sc)):
            c.fail("FWT202", "a scale factor that does not give a whole output size")
    meta = tensor(shape=(None, m.channels) + tuple(out), layout="cf", nonneg=m.nonneg)
    if mode == "nearest":
        if any(f is None for f in factors):
            c.fail("FWT202", "mode='nearest' translates for whole upscaling factors only (torch's nearest "
                             "differs from TF's half-pixel nearest otherwise)")
        expr = x
        for axis, f in enumerate(factors, start=1):
            if f != 1:
                expr = call(c.ops("repeat"), [expr, node_of(f)], [("axis", node_of(axis))])
        return expr, meta
    if n != 2:
        c.fail("FWT202", f"mode={mode!r} on a rank-{rank} tensor is not translated")
    if not all(isinstance(o, int) for o in out):
        c.fail("FWT302", "bilinear resize needs the output size statically (pass --input-shape)")
    return call(c.ops("image.resize"), [x, node_of(tuple(out))], [("interpolation", node_of("bilinear"))]), meta


@torch_op("torch.nn.functional.scaled_dot_product_attention")
def sdpa(c: OpCall):
    b = c.bind(["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"])
    q, qm = c.same(*c.tensor(b["query"], "query"))
    k, km = c.same(*c.tensor(b.get("key"), "key"))
    v, vm = c.same(*c.tensor(b.get("value"), "value"))
    p = c.const(b.get("dropout_p"), "dropout_p", 0.0)
    if p:
        c.fail("FWT202", "dropout_p > 0 drops in eval mode too (write `p if self.training else 0.0`)")
    if c.const(b.get("enable_gqa"), "enable_gqa", False):
        c.fail("FWT202", "enable_gqa=True is not translated")
    causal = c.const(b.get("is_causal"), "is_causal", False)
    scale = b.get("scale")
    if _is_none(scale):
        d = qm.shape[-1] if qm.shape is not None else None
        if isinstance(d, int):
            scale_node = cst.BinaryOperation(node_of(d), cst.Power(), cst.UnaryOperation(cst.Minus(), cst.Float("0.5")))
        else:
            scale_node = cst.BinaryOperation(
                call(c.ops("cast"), [shape_dim(c.refs, q, -1), node_of("float32")]), cst.Power(),
                cst.UnaryOperation(cst.Minus(), cst.Float("0.5")))
    else:
        scale_node = paren(c.value(scale)[0])
    scores = cst.BinaryOperation(call(c.ops("matmul"), [q, call(c.ops("swapaxes"), [k, node_of(-2), node_of(-1)])]),
                                 cst.Multiply(), scale_node)
    neg_inf = cst.parse_expression('float("-inf")')
    mask = b.get("attn_mask")
    if causal:
        if not _is_none(mask):
            c.fail("FWT202", "attn_mask together with is_causal=True")
        lq, lk = shape_dim(c.refs, q, -2), shape_dim(c.refs, k, -2)
        tri = call(c.ops("tril"), [call(c.ops("ones"), [cst.Tuple([cst.Element(lq), cst.Element(lk)])],
                                        [("dtype", node_of("bool"))])])
        scores = call(c.ops("where"), [tri, scores, neg_inf])
    elif not _is_none(mask):
        mn, mm = c.tensor(mask, "attn_mask")
        mn, mm = c.same(mn, mm)
        if mm.info == BOOL:        # True: may attend (as Keras' attention masks)
            scores = call(c.ops("where"), [mn, scores, neg_inf])
        else:                      # torch: a float mask is added to the scores, a bool one selects
            from .keras_ops_masks import additive_or_boolean
            scores = additive_or_boolean(c, scores, mn, mm, neg_inf)
    weights = call(c.ops("softmax"), [scores], [("axis", node_of(-1))])
    shape = None
    if qm.shape is not None and vm.shape is not None and len(qm.shape) == len(vm.shape):
        shape = qm.shape[:-1] + vm.shape[-1:]
    return call(c.ops("matmul"), [weights, v]), tensor(shape=shape) if shape is not None else tensor(qm.rank)


# ---- operators and expressions ------------------------------------------------------------------------

@torch_op("torch.nn.functional.mish")
def mish(c: OpCall):
    b = c.bind(["input", "inplace"])
    x, m = c.tensor(b["input"])
    return paren(cst.BinaryOperation(paren(x), cst.Multiply(), call(c.ops("tanh"), [call(c.ops("softplus"), [x])]))), \
        m.with_(origin=None, nonneg=False, info=None)


@torch_op("torch.nn.functional.glu")
def glu(c: OpCall):
    b = c.bind(["input", "dim"])
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim", -1)
    shape = None
    if m.shape is not None and m.rank is not None:
        d = dim % m.rank
        shape = tuple(s // 2 if i == d and isinstance(s, int) else s for i, s in enumerate(m.shape))
    out = m.with_(shape=shape, origin=None, nonneg=False) if shape else m.with_(origin=None, nonneg=False)
    axis = c.axis(dim, m)
    return call(c.ops("glu"), [x], [("axis", node_of(axis))] if axis != -1 else []), out


@torch_op("torch.nn.functional.one_hot")
def one_hot(c: OpCall):
    b = c.bind(["input", "num_classes"])
    x, m = c.same(*c.tensor(b["input"]))
    n = c.const(b.get("num_classes"), "num_classes", -1)
    if not isinstance(n, int) or n < 1:
        c.fail("FWT202", "num_classes must be given (torch infers it from the data)")
    shape = m.shape + (n,) if m.shape is not None else None
    out = tensor(shape=shape, integer=True, nonneg=True) if shape is not None else tensor(None, integer=True)
    return call(c.ops("cast"), [call(c.ops("one_hot"), [x, node_of(n)]), node_of("int64")]), out
