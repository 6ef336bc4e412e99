"""torch attention masks whose dtype the translation does not know (torch -> Keras).

torch's `F.scaled_dot_product_attention(attn_mask=m)` adds a float mask to the attention scores and
selects with a boolean one (True: may attend). Where the translation knows `m` is boolean (a comparison,
`.bool()`, `dtype=torch.bool`) it writes `keras.ops.where(m, scores, -inf)`; otherwise the dtype is
only known when the model runs, and the Keras code decides then, as torch does, adding the float mask or
the boolean one as 0 / -inf (the same values: s + 0 = s, s + -inf = -inf):

    scores + (keras.ops.where(m, 0.0, float("-inf"))
              if keras.backend.standardize_dtype(m.dtype) == "bool" else m)

(the dtype of a Keras tensor is static under tracing: a Python test, not a graph op).

Keras' MultiHeadAttention (nn.MultiheadAttention, the transformer layers) takes boolean masks only. A
float mask known to hold only 0 and -inf (Meta.info NEG_INF_MASK: nn.Transformer.
generate_square_subsequent_mask, torch.full(..., float("-inf")) and its triu / tril) is that boolean
mask in disguise: `m < 0` is torch's "may NOT attend" (exact: -inf drops a key as the boolean mask
does). Any other float mask there is reported (FWT202, keras_hatches_attention.py).
"""
from __future__ import annotations

import libcst as cst

from .keras_code import call, node_of, tensor
from .keras_forward_base import _const
from .keras_forward_ops import OpCall, _is_none, torch_op


def additive_or_boolean(c, scores, mask, meta, neg_inf) -> cst.BaseExpression:
    """`scores` with the torch mask `mask` (not known to be boolean) applied."""
    if meta.info == NEG_INF_MASK:        # known to be float
        return cst.BinaryOperation(scores, cst.Add(), mask)
    dtype = call(c.refs.keras("backend.standardize_dtype"), [cst.Attribute(mask, cst.Name("dtype"))])
    test = cst.Comparison(dtype, [cst.ComparisonTarget(cst.Equal(), node_of("bool"))])
    bias = cst.IfExp(test=test, body=call(c.ops("where"), [mask, node_of(0.0), neg_inf]), orelse=mask,
                     lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.BinaryOperation(scores, cst.Add(), bias)


# ---- float masks of only 0 and -inf: boolean masks in disguise -------------------------------------------

NEG_INF_MASK = "neg_inf_mask"      # Meta.info of a float tensor known to hold only 0.0 and -inf


def _float32(c, node) -> bool:
    from ..frontends.torch_models import resolve
    return node is None or _is_none(node) or resolve(node, c.ft.ctx.owner.table) == "torch.float32"


@torch_op("torch.nn.Transformer.generate_square_subsequent_mask",
          "torch.nn.modules.transformer.Transformer.generate_square_subsequent_mask",
          "torch.nn.modules.transformer._generate_square_subsequent_mask")
def square_subsequent_mask(c: OpCall):
    """nn.Transformer.generate_square_subsequent_mask(sz): 0 on and below the diagonal, -inf above."""
    b = c.bind(["sz", "device", "dtype"])
    if not _float32(c, b.get("dtype")):
        c.fail("FWT202", "dtype other than torch.float32 is not translated")
    sz, _ = c.value(b.get("sz"))
    size = _const(sz)
    full = call(c.ops("full"), [cst.Tuple([cst.Element(sz), cst.Element(sz)]),
                                cst.parse_expression('float("-inf")')])
    shape = (size, size) if isinstance(size, int) else (None, None)
    return call(c.ops("triu"), [full, node_of(1)]), tensor(shape=shape, info=NEG_INF_MASK)


def neg_inf_as_boolean(node) -> cst.BaseExpression:
    """The torch boolean mask (True: may NOT attend) that a 0 / -inf additive mask stands for: `m < 0`.
    Exact for attention: -inf drops a key exactly as the boolean mask does (a row of only -inf gives
    NaN in torch and is not such a mask's case for a causal mask)."""
    return cst.Comparison(node, [cst.ComparisonTarget(cst.LessThan(), cst.Integer("0"))])


def is_neg_inf(node) -> bool:
    """float("-inf"), -float("inf"), -math.inf, -torch.inf, -np.inf (as written)."""
    if node is None:
        return False
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = node.expression
        if isinstance(inner, cst.Attribute) and inner.attr.value == "inf":
            return True
        return _float_of(inner) == "inf"
    return _float_of(node) == "-inf"


def _float_of(node) -> str | None:
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "float" and \
            len(node.args) == 1 and isinstance(node.args[0].value, cst.SimpleString):
        return node.args[0].value.evaluated_value.strip().lower()
    return None
