"""nn.TransformerEncoder -> Keras lists of layers, the stack unrolled in `call` (torch -> Keras).

    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
    ...
    y = self.enc(x, src_key_padding_mask=pad)
->
    self.enc = [layers.MultiHeadAttention(2, 4, dropout=0.1) for _ in range(2)]
    self.enc_linear1 = [layers.Dense(16) for _ in range(2)]
    self.enc_linear2 = [layers.Dense(8) for _ in range(2)]
    self.enc_norm1 = [layers.LayerNormalization(epsilon=1e-05) for _ in range(2)]
    self.enc_norm2 = [layers.LayerNormalization(epsilon=1e-05) for _ in range(2)]
    self.enc_dropout = layers.Dropout(0.1)
    self.enc_norm = layers.LayerNormalization(epsilon=1e-05)
    ...
    attention_mask = keras.ops.logical_not(pad)[:, None, :]
    y = self.enc_norm1[0](x + self.enc_dropout(self.enc[0](x, x, attention_mask=attention_mask)))
    y = self.enc_norm2[0](y + self.enc_dropout(self.enc_linear2[0](...)))
    y = self.enc_norm1[1](...)                    # layer 1, the same two statements
    ...
    y = self.enc_norm(y)

torch builds the stack from `num_layers` deep copies of `encoder_layer` (separate weights, state_dict keys
`layers.{i}.…`); each copy is one element of the Keras lists, written by the single layer's hatch
(keras_hatches_attention.py), so the masks, norm_first, batch_first and activations are those of the
layer. The local that held the prototype layer is dropped from `__init__` (it is only copied). Weights
port element by element (translator/verify/port_torch_transformer.py).

nn.TransformerDecoderLayer is written out the same way: the encoder layer's Keras layers plus
`attr`_cross (the cross-attention over `memory`) and `attr`_norm3; nn.TransformerDecoder stacks it as
above. Per layer (post-norm; norm_first=True normalises before each block instead):

    y = self.dec_norm1(x + self.dec_dropout(self.dec(x, x, attention_mask=...)))        # self-attention
    y = self.dec_norm2(y + self.dec_dropout(self.dec_cross(y, memory, attention_mask=...)))
    y = self.dec_norm3(y + self.dec_dropout(self.dec_linear2(...)))                     # feed-forward

A constant num_layers is unrolled; one given by a constructor parameter (`nn.TransformerEncoder(layer, n)`
in a block built with `Block(..., n=6)`) builds the lists with `range(n)` and runs them in a loop
`for i in range(len(self.enc)):`. `enable_nested_tensor` changes no value torch
computes, except in its inference fast path with a `src_key_padding_mask`: torch then returns 0 at the
padded positions, the general path (and Keras) the attention over the valid keys (FWT402 note).
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..ir import Sym
from ..positions import line_of
from .keras_code import Meta, call, code, node_of, tensor
from .keras_forward_ops import OpCall, module_call
from .keras_hatches_attention import (_activation, _EncoderResult, _none, encoder_masks, refuse_causal_hint,
                                      sequence_input, transformer_encoder_layer)
from .keras_layers import Applied, LeafContext, Step, check_rest, keras_hatch, layer_norm

STACKED_ROLES = ("", "cross", "linear1", "linear2", "norm1", "norm2", "norm3")   # one Keras layer per copy


def _list_of(ctor: cst.BaseExpression, n) -> cst.ListComp:
    """[ctor for _ in range(n)] (n an int, or the node of a constructor parameter)"""
    n = n if isinstance(n, cst.BaseExpression) else node_of(n)
    return cst.ListComp(ctor, cst.CompFor(target=cst.Name("_"), iter=call(cst.Name("range"), [n])))


def _copies(ft, attr, n, target, src, statements) -> list:
    """The statements of every copy: `statements(src, index node)`; unrolled for a constant n, else a
    loop over the Keras lists (`for i in range(len(self.enc)):`)."""
    from .keras_forward_rnn import fresh
    out = []
    if isinstance(n, int):
        for i in range(n):
            out += statements(src, node_of(i))
            src = target
        return out
    if code(src) != target.value:
        out.append(cst.Assign([cst.AssignTarget(target)], src))
    i = cst.Name(fresh(ft, "i"))
    lists = cst.Attribute(cst.Name("self"), cst.Name(ft.cls.keras_attr(attr)))
    body = [cst.SimpleStatementLine([s]) for s in statements(target, i)]
    return out + [cst.For(target=i, iter=call(cst.Name("range"), [call(cst.Name("len"), [lists])]),
                          body=cst.IndentedBlock(body))]


def _stack(ctx: LeafContext, one_layer, arg: str) -> Applied:
    """num_layers copies of the layer `ctx.options["layer"]` (its hatch `one_layer`) as Keras lists."""
    layer_spec, norm_spec = ctx.options.get("layer"), ctx.options.get("norm")
    if layer_spec is None:
        ctx.fail("FWT202", "translated where it is called in forward (`y = self.enc(x)`); this one is never "
                           "called, or called inside nn.Sequential")
    n = ctx.value("num_layers")
    if isinstance(n, Sym) and ctx.args.node("num_layers") is not None:      # a constructor parameter
        n = ctx.args.node("num_layers")
    elif not isinstance(n, int) or isinstance(n, bool) or n < 1:
        ctx.fail("FWT202", f"num_layers={code(ctx.args.node('num_layers')) if ctx.args.node('num_layers') else n}"
                           ": a positive integer, or a parameter of the module's constructor, is needed")
    ctx.consumed |= {arg, "norm", "enable_nested_tensor", "mask_check"}
    check_rest(ctx)
    inner = LeafContext(layer_spec.rule, layer_spec.torch_path, layer_spec.args, ctx.meta, ctx.refs, ctx.notes,
                        layer_spec.line)
    one = one_layer(inner)
    steps = [Step("layer", _list_of(s.ctor, n), s.role) if s.role in STACKED_ROLES else s for s in one.steps]
    if norm_spec is not None:
        norm = LeafContext(norm_spec.rule, norm_spec.torch_path, norm_spec.args, ctx.meta, ctx.refs, ctx.notes,
                           norm_spec.line)
        steps += [Step("layer", s.ctor, "norm") for s in layer_norm(norm).steps]
    return Applied(steps, one.out, ctx.short, {**one.extra, "num_layers": n})


@keras_hatch("transformer_encoder")
def transformer_encoder(ctx: LeafContext) -> Applied:
    return _stack(ctx, transformer_encoder_layer, "encoder_layer")


@keras_hatch("transformer_decoder_layer")
def transformer_decoder_layer(ctx: LeafContext) -> Applied:
    """The encoder layer's Keras layers, plus the cross-attention (`cross`) and a third norm."""
    one = transformer_encoder_layer(ctx)
    by_role = {s.role: s for s in one.steps}
    steps = [by_role[""], Step("layer", by_role[""].ctor, "cross")] + [s for s in one.steps if s.role] + \
        [Step("layer", by_role["norm2"].ctor, "norm3")]
    return Applied(steps, one.out, one.keras_class, one.extra)


@keras_hatch("transformer_decoder")
def transformer_decoder(ctx: LeafContext) -> Applied:
    return _stack(ctx, transformer_decoder_layer, "decoder_layer")


class _Copy(_EncoderResult):
    """Copy `index` of the stack: the elements `index` of the Keras lists (the dropout layer is shared)."""

    def __init__(self, *args, index: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index

    def func(self, role: str = "") -> cst.BaseExpression:
        base = super().func(role)
        if role not in STACKED_ROLES:
            return base
        index = self.index if isinstance(self.index, cst.BaseExpression) else node_of(self.index)
        return cst.Subscript(base, [cst.SubscriptElement(cst.Index(index))])


class _StackResult:
    """One nn.TransformerEncoder call, written as statements when its result is assigned."""

    def __init__(self, ft, attr, src, meta, kwargs, act, norm_first, batch_first, dropout, n, norm, line):
        self.ft, self.attr, self.src, self.meta, self.kwargs = ft, attr, src, meta, kwargs
        self.act, self.norm_first, self.batch_first, self.dropout = act, norm_first, batch_first, dropout
        self.n, self.norm, self.line = n, norm, line

    def fail(self):
        raise TranslationError("FWT202", "nn.TransformerEncoder: assign its result to a name (`x = self.enc(x)`): "
                                         "the Keras code is several statements", self.line)

    def item(self, ft, index, line):
        self.fail()

    def assign(self, ft, target, line):
        from .keras_forward_rnn import fresh
        if not isinstance(target, cst.Name):
            self.fail()
        transpose = ft.refs.ops("transpose")
        out, kwargs, src = [], list(self.kwargs), self.src
        if kwargs and self.n != 1:       # computed once (and before `target` is rebound)
            name = cst.Name(fresh(ft, "attention_mask"))
            out.append(cst.Assign([cst.AssignTarget(name)], kwargs[0][1]))
            kwargs = [("attention_mask", name)]
        if not self.batch_first:
            src = call(transpose, [src, node_of((1, 0, 2))])
        out += _copies(ft, self.attr, self.n, target, src, lambda src, i: _Copy(
            ft, self.attr, src, self.meta, kwargs, self.act, self.norm_first, True, self.dropout, self.line,
            index=i).assign(ft, target, line))
        keras_attr = ft.cls.keras_attr(self.attr)
        if self.norm:
            out.append(cst.Assign([cst.AssignTarget(target)], cst.Call(
                cst.Attribute(cst.Name("self"), cst.Name(f"{keras_attr}_norm")), [cst.Arg(target)])))
        if not self.batch_first:
            out.append(cst.Assign([cst.AssignTarget(target)], call(transpose, [target, node_of((1, 0, 2))])))
        ft.bind(target, self.meta, line)
        return out


# ---- the modules the stack is built from (a local of __init__, or written inline) --------------------

def _assignments(func: cst.FunctionDef, name: str) -> list:
    """(statement line, value) of every `name = value` in `func`, and the number of reads of `name`."""
    found, reads = [], [0]

    class V(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, n):
            for small in n.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1 and \
                        isinstance(small.targets[0].target, cst.Name) and small.targets[0].target.value == name:
                    found.append((n, small.value))

        def visit_AssignTarget(self, n):
            return False

        def visit_Arg(self, n):             # `encoder_layer=encoder_layer`: the keyword is no read
            n.value.visit(self)
            return False

        def visit_Attribute(self, n):       # `self.encoder_layer`: neither
            n.value.visit(self)
            return False

        def visit_Name(self, n):
            if n.value == name:
                reads[0] += 1
    func.visit(V())
    return found, reads[0]


def _module_arg(ft, spec, arg: str, rule_ids: tuple, line: int):
    """The ModSpec of the module argument `arg` of the torch constructor (None when None / not given)."""
    node = spec.args.node(arg)
    if node is None or _none(node):
        return None
    tr = ft.cls
    what = f"nn.{spec.short}({arg}=...)"
    if isinstance(node, cst.Call):
        from ..frontends.scopes import function_scope
        params = {p.name.value for p in list(tr.init.params.params)[1:] + list(tr.init.params.kwonly_params)}
        sub = tr.driver.specs.spec(node, function_scope(tr.init, tr.driver.scope), params)
    elif isinstance(node, cst.Name):
        found, reads = _assignments(tr.init, node.value)
        if len(found) != 1 or reads != 1:
            raise TranslationError("FWT202", f"{what}: '{node.value}' must be assigned once in __init__ and used "
                                             "only here (the stack copies it)", line)
        stmt, value = found[0]
        sub = next((s for s in tr.init_modules.locals if s.node is value), None)
        if sub is None:
            raise TranslationError("FWT202", f"{what}: '{node.value}' is not a module built in __init__", line)
        tr.absorbed_stmts = getattr(tr, "absorbed_stmts", set()) | {id(stmt)}   # dropped from __init__
        from .keras_forward_lists import record_site
        record_site(tr.driver, value, cst.Name("None"))             # no Keras object of its own
    else:
        raise TranslationError("FWT202", f"{what}: {code(node)[:40]} is not translated (build the module in "
                                         "the call or in a local of __init__)", line)
    if sub.kind != "leaf" or getattr(sub.rule, "id", None) not in rule_ids:
        wanted = {"encoder_layer": "TransformerEncoderLayer", "decoder_layer": "TransformerDecoderLayer"}
        raise TranslationError("FWT202", f"{what}: {code(node)[:40]} must be an nn.{wanted.get(arg, 'LayerNorm')}",
                               line)
    return sub


@module_call("transformer_encoder")
def apply_transformer_encoder(ft, attr: str, spec, node: cst.Call):
    c = OpCall(ft, f"self.{attr}", node)
    b = c.bind(["src", "mask", "src_key_padding_mask", "is_causal"])
    refuse_causal_hint(c, b, "is_causal", "mask", None)
    x, m = sequence_input(c, b.get("src"), "src")
    layer = _module_arg(ft, spec, "encoder_layer", ("transformer_encoder_layer",), spec.line)
    if layer is None:
        c.fail("FWT202", "encoder_layer must be an nn.TransformerEncoderLayer")
    norm = _module_arg(ft, spec, "norm", ("layer_normalization",), spec.line)
    from ..frontends.torch_models import resolve
    act = _activation(layer.args.node("activation"), layer.args.value("activation"),
                      lambda n: resolve(n, ft.ctx.owner.table))
    if act is None:
        c.fail("FWT202", "the layer's activation must be 'relu', 'gelu', F.relu or F.gelu")
    pad, mask = b.get("src_key_padding_mask"), b.get("mask")
    kwargs = encoder_masks(c, ft, pad, mask, "mask")
    if pad is not None and not _none(pad) and (mask is None or _none(mask)) and _nested_fast_path(spec, layer):
        c.note("FWT402", "with enable_nested_tensor=True (the default), torch's inference fast path (eval mode, "
                         "no grad, padding at the end) returns 0 at the padded positions; the Keras code returns "
                         "what torch's general path computes there (other positions agree); pass "
                         "enable_nested_tensor=False to make torch agree everywhere")
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, m, ft.ctx.refs, ft.ctx.notes, spec.line,
                     options={"layer": layer, "norm": norm})
    applied = transformer_encoder(lc)
    ft.cls.record_leaf(attr, spec, applied)
    out_meta = tensor(shape=m.shape) if m.shape is not None else tensor(3)
    result = _StackResult(ft, attr, x, out_meta, kwargs, act, layer.args.value("norm_first"),
                          layer.args.value("batch_first"), applied.extra.get("dropout", False),
                          applied.extra["num_layers"], norm is not None, line_of(node))
    return cst.Name("_"), Meta(kind="lazy", info=result)


def _nested_fast_path(spec, layer) -> bool:
    """torch may take its nested-tensor path (TransformerEncoder.__init__'s conditions, where known)."""
    if spec.args.value("enable_nested_tensor") is False:
        return False
    a = layer.args
    heads = a.value("nhead")
    return not (a.value("batch_first") is False or a.value("norm_first") is True or a.value("bias") is False
                or isinstance(heads, int) and heads % 2 == 1)


# ---- nn.TransformerDecoderLayer / nn.TransformerDecoder ------------------------------------------------

def _uses(node, name: str) -> bool:
    found = []

    class V(cst.CSTVisitor):
        def visit_Name(self, n):
            if n.value == name:
                found.append(n)
    node.visit(V())
    return bool(found)


class _DecoderCopy(_Copy):
    """One decoder layer (copy `index` of a stack, or the layer itself with index None)."""

    def __init__(self, ft, attr, memory, self_kwargs, cross_kwargs, act, norm_first, dropout, line, index):
        _EncoderResult.__init__(self, ft, attr, None, None, self_kwargs, act, norm_first, True, dropout, line)
        self.memory, self.cross_kwargs, self.index = memory, cross_kwargs, index

    def func(self, role: str = "") -> cst.BaseExpression:
        return _EncoderResult.func(self, role) if self.index is None else super().func(role)

    def cross(self, q) -> cst.Call:
        return call(self.func("cross"), [q, self.memory], self.cross_kwargs)

    def statements(self, y, src) -> list:
        add = cst.Add()

        def assign(value):
            return cst.Assign([cst.AssignTarget(y)], value)
        if self.norm_first:
            from .keras_forward_rnn import fresh
            normed = cst.Name(fresh(self.ft, "normed"))        # the query, key and value: normalised once
            return [cst.Assign([cst.AssignTarget(normed)], self.layer("norm1", src)),
                    assign(cst.BinaryOperation(src, add, self.drop(self.attention(normed)))),
                    assign(cst.BinaryOperation(y, add, self.drop(self.cross(self.layer("norm2", y))))),
                    assign(cst.BinaryOperation(y, add, self.feed_forward(self.layer("norm3", y))))]
        return [assign(self.layer("norm1", cst.BinaryOperation(src, add, self.drop(self.attention(src))))),
                assign(self.layer("norm2", cst.BinaryOperation(y, add, self.drop(self.cross(y))))),
                assign(self.layer("norm3", cst.BinaryOperation(y, add, self.feed_forward(y))))]


class _DecoderResult:
    """One nn.TransformerDecoderLayer / nn.TransformerDecoder call, written as statements when assigned."""

    def __init__(self, ft, attr, what, tgt, memory, meta, self_kwargs, cross_kwargs, act, norm_first,
                 batch_first, dropout, n, norm, line):
        self.ft, self.attr, self.what, self.tgt, self.memory, self.meta = ft, attr, what, tgt, memory, meta
        self.self_kwargs, self.cross_kwargs, self.act, self.norm_first = self_kwargs, cross_kwargs, act, norm_first
        self.batch_first, self.dropout, self.n, self.norm, self.line = batch_first, dropout, n, norm, line

    def fail(self):
        raise TranslationError("FWT202", f"nn.{self.what}: assign its result to a name (`y = self.dec(x, memory)`): "
                                         "the Keras code is several statements", self.line)

    def item(self, ft, index, line):
        self.fail()

    def assign(self, ft, target, line):
        from .keras_forward_rnn import fresh
        if not isinstance(target, cst.Name):
            self.fail()
        transpose = ft.refs.ops("transpose")
        out = []

        def hoist(base, value, always):
            """`value` computed once into a fresh name, before `target` is rebound."""
            if not always and not _uses(value, target.value):
                return value
            name = cst.Name(fresh(ft, base))
            out.append(cst.Assign([cst.AssignTarget(name)], value))
            return name
        memory = self.memory if self.batch_first else call(transpose, [self.memory, node_of((1, 0, 2))])
        stacked = self.n is not None
        memory = hoist("memory", memory, not isinstance(memory, cst.Name) and stacked)
        self_kwargs = [(k, hoist("attention_mask", v, stacked)) for k, v in self.self_kwargs]
        cross_kwargs = [(k, hoist("cross_mask", v, stacked)) for k, v in self.cross_kwargs]
        src = self.tgt if self.batch_first else call(transpose, [self.tgt, node_of((1, 0, 2))])
        if not isinstance(src, cst.Name):
            out.append(cst.Assign([cst.AssignTarget(target)], src))
            src = target
        def statements(src, index):
            return _DecoderCopy(ft, self.attr, memory, self_kwargs, cross_kwargs, self.act, self.norm_first,
                                self.dropout, self.line, index).statements(target, src)
        out += _copies(ft, self.attr, self.n, target, src, statements) if stacked else statements(src, None)
        if self.norm:
            out.append(cst.Assign([cst.AssignTarget(target)], cst.Call(
                cst.Attribute(cst.Name("self"), cst.Name(f"{ft.cls.keras_attr(self.attr)}_norm")),
                [cst.Arg(target)])))
        if not self.batch_first:
            out.append(cst.Assign([cst.AssignTarget(target)], call(transpose, [target, node_of((1, 0, 2))])))
        ft.bind(target, self.meta, line)
        return out


DECODER_CALL = ["tgt", "memory", "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
                "tgt_is_causal", "memory_is_causal"]


@module_call("transformer_decoder_layer", "transformer_decoder")
def apply_transformer_decoder(ft, attr: str, spec, node: cst.Call):
    c = OpCall(ft, f"self.{attr}", node)
    b = c.bind(DECODER_CALL)
    for name in ("tgt_is_causal", "memory_is_causal"):
        refuse_causal_hint(c, b, name, "the mask", None)
    x, m = c.same(*c.tensor(b.get("tgt"), "tgt"))
    mem, mm = c.same(*c.tensor(b.get("memory"), "memory"))
    for what, meta in (("tgt", m), ("memory", mm)):
        if meta.rank not in (None, 3):
            c.fail("FWT202", f"{what} is a rank-{meta.rank} tensor ((batch, sequence, features) expected)")
    stacked = spec.rule.id == "transformer_decoder"
    if stacked:
        layer = _module_arg(ft, spec, "decoder_layer", ("transformer_decoder_layer",), spec.line)
        if layer is None:
            c.fail("FWT202", "decoder_layer must be an nn.TransformerDecoderLayer")
        norm = _module_arg(ft, spec, "norm", ("layer_normalization",), spec.line)
    else:
        layer, norm = spec, None
    from ..frontends.torch_models import resolve
    act = _activation(layer.args.node("activation"), layer.args.value("activation"),
                      lambda n: resolve(n, ft.ctx.owner.table))
    if act is None:
        c.fail("FWT202", "the layer's activation must be 'relu', 'gelu', F.relu or F.gelu")
    self_kwargs = encoder_masks(c, ft, b.get("tgt_key_padding_mask"), b.get("tgt_mask"), "tgt_mask",
                                "tgt_key_padding_mask")
    cross_kwargs = encoder_masks(c, ft, b.get("memory_key_padding_mask"), b.get("memory_mask"), "memory_mask",
                                 "memory_key_padding_mask")
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, m, ft.ctx.refs, ft.ctx.notes, spec.line,
                     options={"layer": layer, "norm": norm})
    applied = (transformer_decoder if stacked else transformer_decoder_layer)(lc)
    ft.cls.record_leaf(attr, spec, applied)
    out_meta = tensor(shape=m.shape) if m.shape is not None else tensor(3)
    result = _DecoderResult(ft, attr, spec.short, x, mem, out_meta, self_kwargs, cross_kwargs, act,
                            layer.args.value("norm_first"), layer.args.value("batch_first"),
                            applied.extra.get("dropout", False), applied.extra.get("num_layers"), norm is not None,
                            line_of(node))
    return cst.Name("_"), Meta(kind="lazy", info=result)
