"""nn.MultiheadAttention -> keras.layers.MultiHeadAttention (the torch -> Keras direction).

    self.attn = nn.MultiheadAttention(E, H, dropout=p, batch_first=True)
    out, _ = self.attn(q, k, v, key_padding_mask=pad)
->
    self.attn = layers.MultiHeadAttention(H, E // H, dropout=p)
    out = self.attn(q, v, key=k, attention_mask=keras.ops.logical_not(pad)[:, None, :])

Both scale the query by 1/sqrt(head_dim) (Keras' key_dim = E // H); the packed `in_proj_weight`
(3E, E) is split into the query/key/value EinsumDense kernels (E, H, E // H) and `out_proj` becomes
the output kernel (H, E // H, E) at port time (translator/verify/port_torch.py with the transforms of
translator/rules/transforms_inverse_attention.py). kdim/vdim other than E work the same way (Keras
infers the key and value sizes from its inputs).

Masks: torch's boolean `key_padding_mask` (N, S) and `attn_mask` (L, S) mean "may NOT attend";
Keras' `attention_mask` means "may attend": both are inverted and combined. A float (additive) mask
has no Keras counterpart: an nn.MultiheadAttention call with one gets the attention written out
(keras_hatches_mha_additive.py); the transformer layers report it (FWT202). Except one known to hold
only 0 and -inf
(nn.Transformer.generate_square_subsequent_mask, torch.full(-inf).triu(1): keras_ops_masks.py), which
is the boolean mask `m < 0`; a mask is taken as boolean when the translation knows its dtype
(a comparison, `.bool()`, `dtype=torch.bool`). nn.TransformerEncoder / nn.TransformerDecoder(Layer):
keras_hatches_transformer.py.

Results: torch returns (output, weights); the weights are averaged over the heads unless
`average_attn_weights=False`. `out, _ = ...` or `...[0]` calls the Keras layer for the output only;
`out, w = ...` asks Keras for the scores (N, H, L, S) and averages them in a statement after.
batch_first=False (sequence-major) transposes the inputs and the output.
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, Sym
from ..positions import line_of
from .keras_code import Meta, call, code, node_of, tensor
from .keras_forward_ops import BOOL, OpCall, module_call, paren, subscript
from .keras_hatches_mha_additive import FloatMask, apply_additive
from .keras_mha_pair import MhaPair
from .keras_layers import Applied, LeafContext, check_rest, keras_hatch, layer_step

CALL_PARAMS = ["query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
               "is_causal"]


def _node(ctx: LeafContext, name: str):
    v = ctx.args.value(name)
    ctx.consumed.add(name)
    if v is not UNKNOWN and not isinstance(v, Sym):
        return node_of(v), v
    n = ctx.args.node(name)
    return (n if n is not None else node_of(v)), None


@keras_hatch("multi_head_attention")
def multi_head_attention(ctx: LeafContext) -> Applied:
    (heads_node, heads), (dim_node, dim) = _node(ctx, "num_heads"), _node(ctx, "embed_dim")
    for name in ("add_bias_kv", "add_zero_attn"):
        if ctx.const(name) is not False:
            ctx.fail("FWT202", f"{name}=True has no keras.layers.MultiHeadAttention equivalent")
    if not isinstance(ctx.const("batch_first", "batch_first"), bool):
        ctx.fail("FWT202", "batch_first must be True or False")
    ctx.consumed |= {"kdim", "vdim"}          # Keras infers key and value sizes from its inputs
    if isinstance(dim, int) and isinstance(heads, int):
        if dim % heads:
            ctx.fail("FWT202", f"embed_dim={dim} is not divisible by num_heads={heads}")
        key_dim = node_of(dim // heads)
    else:
        key_dim = cst.BinaryOperation(paren(dim_node), cst.FloorDivide(), paren(heads_node))
    kwargs = []
    drop_node, drop = _node(ctx, "dropout")
    if drop != 0.0:
        kwargs.append(("dropout", drop_node))
    if ctx.value("bias") is not True:
        kwargs.append(("use_bias", _node(ctx, "bias")[0]))
    check_rest(ctx)
    return Applied([layer_step(ctx, "MultiHeadAttention", [heads_node, key_dim], kwargs)],
                   ctx.meta.with_(origin=None, nonneg=False) if ctx.meta.is_tensor else ctx.meta,
                   "MultiHeadAttention")


class _AttentionResult(MhaPair):
    """The (output, weights) pair of one nn.MultiheadAttention call (a `lazy` Meta's info)."""

    def __init__(self, ft, func, args, kwargs, out_meta, need, average, batch_first, line):
        self.ft, self.func, self.args, self.kwargs = ft, func, args, kwargs
        self.out_meta, self.need, self.average, self.batch_first, self.line = \
            out_meta, need, average, batch_first, line

    def call(self, scores: bool) -> cst.Call:
        kwargs = list(self.kwargs) + ([("return_attention_scores", node_of(True))] if scores else [])
        return call(self.func, self.args, kwargs)

    def output(self, node):
        if self.batch_first:
            return node
        return call(self.ft.refs.ops("transpose"), [node, node_of((1, 0, 2))])

    def item(self, ft, index, line):
        if index == 0:
            return self.output(self.call(False)), self.out_meta
        if index == 1:
            self.no_weights()
            return self.averaged(subscript(self.call(True), 1)), self.weights_meta()
        raise TranslationError("FWT103", "nn.MultiheadAttention returns two values", line)

    def assign(self, ft, target, line):
        if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != 2:
            raise TranslationError("FWT202", "keep the (output, weights) result of nn.MultiheadAttention "
                                             "unpacked (`out, w = self.attn(...)`)", line)
        out_t, w_t = target.elements[0].value, target.elements[1].value
        if ft.unused(w_t):
            ft.bind(out_t, self.out_meta, line)
            return cst.Assign([cst.AssignTarget(out_t)], self.output(self.call(False)))
        self.no_weights()
        if not isinstance(out_t, cst.Name) or not isinstance(w_t, cst.Name):
            raise TranslationError("FWT202", "unpack the result of nn.MultiheadAttention into names", line)
        ft.bind(out_t, self.out_meta, line)
        ft.bind(w_t, self.weights_meta(), line)
        out = [cst.Assign([cst.AssignTarget(target)], self.call(True))]
        if self.average:
            out.append(cst.Assign([cst.AssignTarget(w_t)], self.averaged(w_t)))
        if not self.batch_first:
            out.append(cst.Assign([cst.AssignTarget(out_t)], self.output(out_t)))
        return out if len(out) > 1 else out[0]


def _mask(c: OpCall, node, what):
    from .keras_ops_masks import NEG_INF_MASK, neg_inf_as_boolean
    n, m = c.same(*c.tensor(node, what))
    if m.info == NEG_INF_MASK:        # nn.Transformer.generate_square_subsequent_mask: 0 / -inf
        return neg_inf_as_boolean(n), m.with_(info=BOOL)
    if m.info != BOOL:           # nn.MultiheadAttention catches it (keras_hatches_mha_additive.py)
        raise FloatMask("FWT202", f"{c.what}: {what} whose dtype is not known to be bool: a float (additive) mask "
                                  "has no keras.layers.MultiHeadAttention equivalent (a mask of 0 and -inf: pass "
                                  "`mask.bool()` or nn.Transformer.generate_square_subsequent_mask(...), which "
                                  "translate)", c.line)
    return n, m


def refuse_causal_hint(c, b: dict, flag: str, mask: str, default) -> None:
    """torch's `is_causal`-style flags only hint at the mask given beside them: not translated."""
    if c.const(b.get(flag), flag, default):
        c.fail("FWT202", f"{flag}=True (a hint for {mask}) is not translated: pass the mask only")


def sequence_input(c, node, name: str):
    """The (batch, sequence, features) tensor a transformer layer is applied to."""
    x, m = c.same(*c.tensor(node, name))
    if m.rank not in (None, 3):
        c.fail("FWT202", f"applied to a rank-{m.rank} tensor ((batch, sequence, features) expected)")
    return x, m

@module_call("multi_head_attention")
def apply_multi_head_attention(ft, attr: str, spec, node: cst.Call):
    c = OpCall(ft, f"self.{attr}", node)
    b = c.bind(CALL_PARAMS)
    batch_first = spec.args.value("batch_first")
    need = c.const(b.get("need_weights"), "need_weights", True)
    average = c.const(b.get("average_attn_weights"), "average_attn_weights", True)
    refuse_causal_hint(c, b, "is_causal", "attn_mask", False)
    tensors = []
    for name in ("query", "key", "value"):
        if b.get(name) is None:
            c.fail("FWT201", f"missing {name}")
        tensors.append(c.same(*c.tensor(b[name], name)))
    for n_, m in tensors:
        if m.rank not in (None, 3):
            c.fail("FWT202", f"applied to a rank-{m.rank} tensor ((batch, sequence, features) expected)")
    same_kv = code(b["key"]) == code(b["value"])
    (q, qm), (k, _), (v, _) = tensors
    if not batch_first:
        q, k, v = (call(ft.refs.ops("transpose"), [n, node_of((1, 0, 2))]) for n in (q, k, v))
    kwargs = [] if same_kv else [("key", k)]
    masks = []
    try:
        _mask_metas(c, b)
    except FloatMask:           # the attention written out with the mask added (keras_hatches_mha_additive.py)
        return apply_additive(ft, attr, spec, node, CALL_PARAMS)
    if b.get("key_padding_mask") is not None and not _none(b["key_padding_mask"]):
        pad, _ = _mask(c, b["key_padding_mask"], "key_padding_mask")
        inv = call(ft.refs.ops("logical_not"), [pad])
        masks.append(cst.Subscript(inv, [cst.SubscriptElement(cst.Slice(None, None)),
                                         cst.SubscriptElement(cst.Index(cst.Name("None"))),
                                         cst.SubscriptElement(cst.Slice(None, None))]))
    if b.get("attn_mask") is not None and not _none(b["attn_mask"]):
        am, amm = _mask(c, b["attn_mask"], "attn_mask")
        if amm.rank not in (None, 2):
            c.fail("FWT202", "a 3-D attn_mask (one per head) is not translated")
        masks.append(call(ft.refs.ops("logical_not"), [am]))
    if len(masks) == 2:
        kwargs.append(("attention_mask", call(ft.refs.ops("logical_and"), masks)))
    elif masks:
        kwargs.append(("attention_mask", masks[0]))
    applied = _applied(ft, attr, spec, qm)
    func = cst.Attribute(cst.Name("self"), cst.Name(ft.cls.keras_attr(attr)))
    out_meta = tensor(shape=qm.shape) if qm.shape is not None else tensor(3)
    result = _AttentionResult(ft, func, [q, v], kwargs, out_meta, need, average, batch_first, line_of(node))
    ft.cls.record_leaf(attr, spec, applied)
    return cst.Name("_"), Meta(kind="lazy", info=result)


def _mask_metas(c: OpCall, b: dict) -> None:
    """FloatMask when a mask of the call is not known to be boolean."""
    for name in ("key_padding_mask", "attn_mask"):
        if b.get(name) is not None and not _none(b[name]):
            _mask(c, b[name], name)


def _none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _applied(ft, attr, spec, meta):
    from .keras_forward import leaf
    return leaf(ft.ctx, spec, meta, sequential=False)



# ---- nn.TransformerEncoderLayer ----------------------------------------------------------------------

def _activation(node, value, resolve_fn=None) -> str | None:
    """'relu' / 'gelu' from activation="relu" or activation=F.gelu; None for anything else."""
    if value in ("relu", "gelu"):
        return value
    if node is None:
        return None
    path = resolve_fn(node) if resolve_fn else None
    if path in ("torch.nn.functional.relu", "torch.nn.functional.gelu"):
        return path.rsplit(".", 1)[-1]
    return None


@keras_hatch("transformer_encoder_layer")
def transformer_encoder_layer(ctx: LeafContext) -> Applied:
    if ctx.sequential:
        ctx.fail("FWT202", "inside nn.Sequential: its residual connections need a forward (use it in a "
                           "module's forward)")
    (d_node, d_model), (h_node, heads) = _node(ctx, "d_model"), _node(ctx, "nhead")
    ff_node, _ = _node(ctx, "dim_feedforward")
    drop_node, drop = _node(ctx, "dropout")
    eps_node, _ = _node(ctx, "layer_norm_eps")
    act = ctx.args.value("activation")
    ctx.consumed.add("activation")
    node = ctx.args.node("activation")
    if act not in ("relu", "gelu") and not (node is not None and (cst.Module([]).code_for_node(node).rsplit(".", 1)[-1]
                                                                  in ("relu", "gelu"))):
        ctx.fail("FWT202", "activation must be 'relu', 'gelu', F.relu or F.gelu")
    if not isinstance(ctx.const("batch_first"), bool) or not isinstance(ctx.const("norm_first"), bool):
        ctx.fail("FWT202", "batch_first and norm_first must be True or False")
    if isinstance(d_model, int) and isinstance(heads, int):
        if d_model % heads:
            ctx.fail("FWT202", f"d_model={d_model} is not divisible by nhead={heads}")
        key_dim = node_of(d_model // heads)
    else:
        key_dim = cst.BinaryOperation(paren(d_node), cst.FloorDivide(), paren(h_node))
    bias = ctx.value("bias")
    no_bias = [("use_bias", _node(ctx, "bias")[0])] if bias is not True else []
    attn_kwargs = ([("dropout", drop_node)] if drop != 0.0 else []) + no_bias
    norm_kwargs = [("epsilon", eps_node)] + ([("center", _node(ctx, "bias")[0])] if bias is not True else [])
    check_rest(ctx)
    steps = [layer_step(ctx, "MultiHeadAttention", [h_node, key_dim], attn_kwargs),
             layer_step(ctx, "Dense", [ff_node], no_bias, role="linear1"),
             layer_step(ctx, "Dense", [d_node], no_bias, role="linear2"),
             layer_step(ctx, "LayerNormalization", [], norm_kwargs, role="norm1"),
             layer_step(ctx, "LayerNormalization", [], norm_kwargs, role="norm2")]
    if drop != 0.0:
        steps.append(layer_step(ctx, "Dropout", [drop_node], role="dropout"))
    out = ctx.meta.with_(origin=None, nonneg=False) if ctx.meta.is_tensor else ctx.meta
    return Applied(steps, out, "MultiHeadAttention", {"dropout": drop != 0.0})


class _EncoderResult:
    """One nn.TransformerEncoderLayer call, written as statements when its result is assigned."""

    def __init__(self, ft, attr, src, meta, kwargs, act, norm_first, batch_first, dropout, line):
        self.ft, self.attr, self.src, self.meta, self.kwargs = ft, attr, src, meta, kwargs
        self.act, self.norm_first, self.batch_first, self.dropout, self.line = \
            act, norm_first, batch_first, dropout, line

    def fail(self):
        raise TranslationError("FWT202", "nn.TransformerEncoderLayer: assign its result to a name "
                                         "(`x = self.layer(x)`): the Keras code is two statements", self.line)

    def item(self, ft, index, line):
        self.fail()

    def func(self, role: str = "") -> cst.BaseExpression:
        """The Keras layer of `role` ("": the attention), `self.<attr>_<role>`."""
        name = self.ft.cls.keras_attr(self.attr) + (f"_{role}" if role else "")
        return cst.Attribute(cst.Name("self"), cst.Name(name))

    def layer(self, role: str, arg) -> cst.Call:
        return cst.Call(self.func(role), [cst.Arg(arg)])

    def drop(self, node):
        return self.layer("dropout", node) if self.dropout else node

    def attention(self, q) -> cst.Call:
        return call(self.func(), [q, q], self.kwargs)

    def feed_forward(self, h) -> cst.BaseExpression:
        inner = self.layer("linear1", h)
        act = call(self.ft.refs.ops(self.act), [inner],
                   [("approximate", node_of(False))] if self.act == "gelu" else [])
        return self.drop(self.layer("linear2", self.drop(act)))

    def assign(self, ft, target, line):
        if not isinstance(target, cst.Name):
            self.fail()
        y = target
        out = []
        src = self.src
        if not self.batch_first:
            src = call(ft.refs.ops("transpose"), [src, node_of((1, 0, 2))])
        if not isinstance(src, cst.Name):
            out.append(cst.Assign([cst.AssignTarget(y)], src))
            src = y
        add = cst.Add()
        if self.norm_first:
            from .keras_forward_rnn import fresh
            normed = cst.Name(fresh(ft, "normed"))        # the query, key and value: normalised once
            out.append(cst.Assign([cst.AssignTarget(normed)], self.layer("norm1", src)))
            out.append(cst.Assign([cst.AssignTarget(y)], cst.BinaryOperation(
                src, add, self.drop(self.attention(normed)))))
            out.append(cst.Assign([cst.AssignTarget(y)], cst.BinaryOperation(
                y, add, self.feed_forward(self.layer("norm2", y)))))
        else:
            out.append(cst.Assign([cst.AssignTarget(y)], self.layer(
                "norm1", cst.BinaryOperation(src, add, self.drop(self.attention(src))))))
            out.append(cst.Assign([cst.AssignTarget(y)], self.layer(
                "norm2", cst.BinaryOperation(y, add, self.feed_forward(y)))))
        if not self.batch_first:
            out.append(cst.Assign([cst.AssignTarget(y)], call(ft.refs.ops("transpose"), [y, node_of((1, 0, 2))])))
        ft.bind(y, self.meta, line)
        return out


@module_call("transformer_encoder_layer")
def apply_transformer_encoder_layer(ft, attr: str, spec, node: cst.Call):
    c = OpCall(ft, f"self.{attr}", node)
    b = c.bind(["src", "src_mask", "src_key_padding_mask", "is_causal"])
    refuse_causal_hint(c, b, "is_causal", "src_mask", False)
    x, m = sequence_input(c, b.get("src"), "src")
    from ..frontends.torch_models import resolve
    act = _activation(spec.args.node("activation"), spec.args.value("activation"),
                      lambda n: resolve(n, ft.ctx.owner.table))
    if act is None:
        c.fail("FWT202", "activation must be 'relu', 'gelu', F.relu or F.gelu")
    kwargs = encoder_masks(c, ft, b.get("src_key_padding_mask"), b.get("src_mask"), "src_mask")
    batch_first = spec.args.value("batch_first")
    applied = _applied(ft, attr, spec, m)
    ft.cls.record_leaf(attr, spec, applied)
    out_meta = tensor(shape=m.shape) if m.shape is not None else tensor(3)
    result = _EncoderResult(ft, attr, x, out_meta, kwargs, act, spec.args.value("norm_first"), batch_first,
                            applied.extra.get("dropout", False), line_of(node))
    return cst.Name("_"), Meta(kind="lazy", info=result)


def encoder_masks(c: OpCall, ft, pad_node, mask_node, mask_name: str,
                  pad_name: str = "src_key_padding_mask") -> list:
    """The `attention_mask=` keyword of the Keras attention from torch's boolean key padding mask (N, S)
    and attention mask (L, S), both "may NOT attend" (inverted and combined)."""
    masks = []
    if pad_node is not None and not _none(pad_node):
        pad, _ = _mask(c, pad_node, pad_name)
        inv = call(ft.refs.ops("logical_not"), [pad])
        masks.append(cst.Subscript(inv, [cst.SubscriptElement(cst.Slice(None, None)),
                                         cst.SubscriptElement(cst.Index(cst.Name("None"))),
                                         cst.SubscriptElement(cst.Slice(None, None))]))
    if mask_node is not None and not _none(mask_node):
        am, amm = _mask(c, mask_node, mask_name)
        if amm.rank not in (None, 2):
            c.fail("FWT202", f"a 3-D {mask_name} (one per head) is not translated")
        masks.append(call(ft.refs.ops("logical_not"), [am]))
    kwargs = []
    if len(masks) == 2:
        kwargs.append(("attention_mask", call(ft.refs.ops("logical_and"), masks)))
    elif masks:
        kwargs.append(("attention_mask", masks[0]))
    return kwargs
