"""nn.MultiheadAttention called with a float (additive) mask -> the attention written out (torch -> Keras).

keras.layers.MultiHeadAttention takes boolean masks only; torch adds a float `attn_mask` /
`key_padding_mask` to the attention scores. A call whose mask is not known to be boolean (or a 0 / -inf
mask, keras_ops_masks.py) gets the layers keras.layers.MultiHeadAttention holds, written out:

    self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
    out, w = self.attn(x, x, x, attn_mask=bias)
->
    self.attn = {"query": layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de"),
                 "key": ..., "value": ...,
                 "output": layers.EinsumDense("abcd,cde->abe", output_shape=(None, 8), bias_axes="e")}
    w = keras.ops.softmax(keras.ops.einsum("aecd,abcd->acbe", self.attn["key"](x),
                                           self.attn["query"](x) * 4 ** -0.5) + bias, axis=-1)
    out = self.attn["output"](keras.ops.einsum("acbe,aecd->abcd", w, self.attn["value"](x)))
    w = keras.ops.mean(w, axis=1)

the same einsum equations and scaling as Keras' MultiHeadAttention, with torch's masks added to the
scores: a float mask as it is, a boolean one as -inf where True (torch: may NOT attend); a mask whose
dtype is only known at run time is decided then (`keras.backend.standardize_dtype(m.dtype) == "bool"`).
Weights port as for the Keras layer (the packed in_proj split per projection:
translator/verify/port_torch_listed.py). Dropout on the attention weights is a Dropout layer
(`attr`_dropout), as torch's.
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..positions import line_of
from .keras_code import Meta, call, code, node_of, tensor
from .keras_forward_ops import BOOL, OpCall
from .keras_layers import Applied, LeafContext, Step, layer_step
from .keras_mha_pair import MhaPair

NEG_INF = 'float("-inf")'


class FloatMask(TranslationError):
    """A mask of nn.MultiheadAttention not known to be boolean (the written-out attention takes it)."""


def _equation_layer(ctx, equation: str, shape, bias_axes: str, use_bias) -> cst.Call:
    kwargs = [("output_shape", cst.Tuple([cst.Element(node_of(None))] + [cst.Element(n) for n in shape]))]
    if use_bias is not False:
        kwargs.append(("bias_axes", node_of(bias_axes)))
    return call(ctx.refs.layer("EinsumDense"), [node_of(equation)], kwargs)


def additive_layers(ctx: LeafContext) -> Applied:
    """The projections of keras.layers.MultiHeadAttention as a dict of EinsumDense layers (the checks and
    arguments of the Keras-layer translation, keras_hatches_attention.multi_head_attention)."""
    from .keras_hatches_attention import multi_head_attention
    one = multi_head_attention(ctx)
    ctor = one.steps[0].ctor
    heads, key_dim = ctor.args[0].value, ctor.args[1].value
    kwargs = {a.keyword.value: a.value for a in ctor.args[2:]}
    use_bias = False if "use_bias" in kwargs else True
    dim = ctx.node("embed_dim")
    proj = _equation_layer(ctx, "abc,cde->abde", (heads, key_dim), "de", use_bias)
    out = _equation_layer(ctx, "abcd,cde->abe", (dim,), "e", use_bias)
    layers = _dict_lines([("query", proj), ("key", proj), ("value", proj), ("output", out)])
    steps = [Step("layer", layers, "")]
    if "dropout" in kwargs:
        steps.append(layer_step(ctx, "Dropout", [kwargs["dropout"]], role="dropout"))
    return Applied(steps, one.out, "EinsumDense", {"key_dim": key_dim, "dropout": "dropout" in kwargs})


def _dict_lines(pairs) -> cst.Dict:
    """{key: value, ...} with one item per line."""
    def newline(extra: str):
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), indent=True,
                                           last_line=cst.SimpleWhitespace(extra))
    items = [cst.DictElement(node_of(k), v, comma=cst.Comma(whitespace_after=newline("    " if i < len(pairs) - 1
                                                                                         else "")))
             for i, (k, v) in enumerate(pairs)]
    return cst.Dict(items, lbrace=cst.LeftCurlyBrace(whitespace_after=newline("    ")))


def mask_bias(c: OpCall, node, what: str) -> tuple:
    """(additive term, rank) of a torch mask: float as it is, boolean True -> -inf."""
    from .keras_ops_masks import NEG_INF_MASK
    n, m = c.same(*c.tensor(node, what))
    neg_inf = cst.parse_expression(NEG_INF)
    as_float = call(c.ops("where"), [n, neg_inf, node_of(0.0)])
    if m.info == BOOL:
        return as_float, m.rank
    if m.info == NEG_INF_MASK:
        return n, m.rank
    dtype = call(c.refs.keras("backend.standardize_dtype"), [cst.Attribute(n, cst.Name("dtype"))])
    test = cst.Comparison(dtype, [cst.ComparisonTarget(cst.Equal(), node_of("bool"))])
    return cst.IfExp(test=test, body=as_float, orelse=n, lpar=[cst.LeftParen()], rpar=[cst.RightParen()]), m.rank


class _AdditiveResult(MhaPair):
    """The (output, weights) pair of one written-out attention call (a `lazy` Meta's info)."""

    def __init__(self, ft, attr, q, k, v, bias, scale, out_meta, need, average, batch_first, dropout, line):
        self.ft, self.attr, self.q, self.k, self.v, self.bias, self.scale = ft, attr, q, k, v, bias, scale
        self.out_meta, self.need, self.average, self.batch_first = out_meta, need, average, batch_first
        self.dropout, self.line = dropout, line

    def _layer(self, role: str) -> cst.BaseExpression:
        base = cst.Attribute(cst.Name("self"), cst.Name(self.ft.cls.keras_attr(self.attr)))
        if role == "dropout":
            return base.with_changes(attr=cst.Name(f"{base.attr.value}_dropout"))
        return cst.Subscript(base, [cst.SubscriptElement(cst.Index(node_of(role)))])

    def _proj(self, role: str, x) -> cst.Call:
        return cst.Call(self._layer(role), [cst.Arg(x)])

    def weights(self) -> cst.Call:
        """softmax(scores + mask) per head: (N, H, L, S)."""
        ops = self.ft.refs.ops
        q = cst.BinaryOperation(self._proj("query", self.q), cst.Multiply(), self.scale)
        scores = call(ops("einsum"), [node_of("aecd,abcd->acbe"), self._proj("key", self.k), q])
        if self.bias is not None:
            scores = cst.BinaryOperation(scores, cst.Add(), self.bias)
        return call(ops("softmax"), [scores], [("axis", node_of(-1))])

    def output(self, w) -> cst.BaseExpression:
        if self.dropout:
            w = cst.Call(self._layer("dropout"), [cst.Arg(w)])
        mixed = call(self.ft.refs.ops("einsum"), [node_of("acbe,aecd->abcd"), w, self._proj("value", self.v)])
        out = self._proj("output", mixed)
        if self.batch_first:
            return out
        return call(self.ft.refs.ops("transpose"), [out, node_of((1, 0, 2))])

    def item(self, ft, index, line):
        if index == 0:
            return self.output(self.weights()), self.out_meta
        if index == 1:
            self.no_weights()
            return self.averaged(self.weights()), self.weights_meta()
        raise TranslationError("FWT103", "nn.MultiheadAttention returns two values", line)

    def assign(self, ft, target, line):
        if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != 2:
            raise TranslationError("FWT202", "keep the (output, weights) result of nn.MultiheadAttention "
                                             "unpacked (`out, w = self.attn(...)`)", line)
        out_t, w_t = target.elements[0].value, target.elements[1].value
        if ft.unused(w_t):
            ft.bind(out_t, self.out_meta, line)
            return cst.Assign([cst.AssignTarget(out_t)], self.output(self.weights()))
        self.no_weights()
        if not isinstance(out_t, cst.Name) or not isinstance(w_t, cst.Name):
            raise TranslationError("FWT202", "unpack the result of nn.MultiheadAttention into names", line)
        if out_t.value == w_t.value or any(code(n) == w_t.value for n in (self.q, self.k, self.v)):
            raise TranslationError("FWT202", "the attention weights' name is one of the call's inputs", line)
        ft.bind(out_t, self.out_meta, line)
        ft.bind(w_t, self.weights_meta(), line)
        out = [cst.Assign([cst.AssignTarget(w_t)], self.weights()),
               cst.Assign([cst.AssignTarget(out_t)], self.output(w_t))]
        if self.average:
            out.append(cst.Assign([cst.AssignTarget(w_t)], self.averaged(w_t)))
        return out


def apply_additive(ft, attr: str, spec, node: cst.Call, params: list):
    """(expression, lazy meta) of `self.attr(q, k, v, ..., attn_mask=float mask)`."""
    from .keras_hatches_attention import _none
    c = OpCall(ft, f"self.{attr}", node)
    b = c.bind(params)
    batch_first = spec.args.value("batch_first")
    need = c.const(b.get("need_weights"), "need_weights", True)
    average = c.const(b.get("average_attn_weights"), "average_attn_weights", True)
    tensors = [c.same(*c.tensor(b[name], name)) for name in ("query", "key", "value")]
    (q, qm), (k, _), (v, _) = tensors
    if not batch_first:
        q, k, v = (call(ft.refs.ops("transpose"), [n, node_of((1, 0, 2))]) for n in (q, k, v))
    terms = []
    if b.get("key_padding_mask") is not None and not _none(b["key_padding_mask"]):
        pad, rank = mask_bias(c, b["key_padding_mask"], "key_padding_mask")
        terms.append(cst.Subscript(pad, [cst.SubscriptElement(cst.Slice(None, None)),
                                         cst.SubscriptElement(cst.Index(cst.Name("None"))),
                                         cst.SubscriptElement(cst.Index(cst.Name("None"))),
                                         cst.SubscriptElement(cst.Slice(None, None))]))
    if b.get("attn_mask") is not None and not _none(b["attn_mask"]):
        am, rank = mask_bias(c, b["attn_mask"], "attn_mask")
        if rank not in (None, 2):
            c.fail("FWT202", "a 3-D attn_mask (one per head) is not translated")
        terms.append(am)
    bias = terms[0] if len(terms) == 1 else cst.BinaryOperation(terms[0], cst.Add(), terms[1])
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, qm, ft.ctx.refs, ft.ctx.notes, spec.line)
    applied = additive_layers(lc)
    ft.cls.record_leaf(attr, spec, applied)
    key_dim = applied.extra["key_dim"]
    scale = cst.BinaryOperation(_paren(key_dim), cst.Power(), cst.UnaryOperation(cst.Minus(), cst.Float("0.5")))
    out_meta = tensor(shape=qm.shape) if qm.shape is not None else tensor(3)
    result = _AdditiveResult(ft, attr, q, k, v, bias, scale, out_meta, need, average, batch_first,
                             applied.extra["dropout"], line_of(node))
    return cst.Name("_"), Meta(kind="lazy", info=result)


def _paren(node):
    if isinstance(node, (cst.Integer, cst.Name, cst.Attribute)):
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
