"""nn.ConvTranspose{1,2,3}d(groups=g > 1) -> g Keras transposed convolutions, one per channel group.

Keras' Conv{n}DTranspose has no `groups`. A grouped transposed convolution is g independent ones, group j
mapping input channels [j*in/g, (j+1)*in/g) to output channels [j*out/g, (j+1)*out/g); so

    self.up = nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, groups=2)
    ...
    y = self.up(x)
->
    self.up = [layers.Conv2DTranspose(3, 4, strides=2, padding="same") for _ in range(2)]
    ...
    y = keras.ops.concatenate([conv(part) for conv, part in zip(self.up, keras.ops.split(x, 2, axis=-1))],
                              axis=-1)

Each element is what the ungrouped translation gives for in/g -> out/g channels (keras_hatches_layers.py:
padding, output_padding, cropping after the concatenation). The same multiply-adds as torch, so exact,
and the Keras model trains the same parameters (no block-diagonal kernel whose zeros would learn). The
torch weight (in, out/g, *k) and bias (out,) are split by group at port time
(translator/verify/port_torch_groups.py).

groups, in_channels and out_channels given by constructor parameters build `range(groups)` layers of
`out_channels // groups` filters. A list of layers cannot be an item of a keras.Sequential: inside nn.Sequential (or a list of modules)
the module is reported (FWT202); use it from a forward.
"""
from __future__ import annotations

import libcst as cst

from ..frontends.torch_models import Bound
from ..ir import UNKNOWN, Val
from .keras_code import call, node_of
from .keras_forward_ops import paren
from .keras_layers import Applied, LeafContext, Step, _code


def _list_of(ctor, n) -> cst.ListComp:
    return cst.ListComp(ctor, cst.CompFor(target=cst.Name("_"), iter=call(cst.Name("range"), [n])))


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def grouped_conv_transpose(ctx: LeafContext, ungrouped) -> Applied:
    """`ungrouped(ctx)`: the hatch of one transposed convolution (groups=1)."""
    g, cin, cout = ctx.value("groups"), ctx.value("in_channels"), ctx.value("out_channels")
    if all(_int(v) for v in (g, cin, cout)) and (cin % g or cout % g):
        ctx.fail("FWT202", f"in_channels={cin} and out_channels={cout} must be multiples of groups={g}")
    if ctx.sequential:
        ctx.fail("FWT202", f"groups={_code(ctx.args.node('groups')) or g} inside nn.Sequential or a list of "
                           "modules: Keras has no grouped transposed convolution layer (it becomes one layer per "
                           "group, applied in call: use the module from a forward)")
    g_node = ctx.node("groups")

    def per_group(name, v):         # a constant, or `channels // groups` as written (constructor parameters)
        if _int(v) and _int(g):
            return Val(node_of(v // g), v // g)
        node = ctx.node(name)
        return Val(cst.BinaryOperation(paren(node), cst.FloorDivide(), paren(g_node)), UNKNOWN)
    given = {k: v for k, v in ctx.args.given.items() if k != "groups"}
    given["out_channels"], given["in_channels"] = per_group("out_channels", cout), per_group("in_channels", cin)
    sub = LeafContext(ctx.rule, ctx.torch_path, Bound(given, ctx.args.defaults), ctx.meta, ctx.refs, ctx.notes,
                      ctx.line, ctx.sequential)
    one = ungrouped(sub)
    ctx.consumed |= set(ctx.args.given)
    refs = ctx.refs

    def use(ref, x):
        count = g_node if _int(g) else call(cst.Name("len"), [ref])     # (a parameter of __init__ only)
        parts = call(refs.ops("split"), [x, count], [("axis", node_of(-1))])
        conv, part = cst.Name("conv"), cst.Name("part")
        each = cst.ListComp(cst.Call(conv, [cst.Arg(part)]), cst.CompFor(
            target=cst.Tuple([cst.Element(conv), cst.Element(part)], lpar=[], rpar=[]),
            iter=call(cst.Name("zip"), [ref, parts])))
        return call(refs.ops("concatenate"), [each], [("axis", node_of(-1))])

    steps = [Step("layer", _list_of(s.ctor, g_node), s.role, use=use) if s.kind == "layer" and s.role == ""
             else s for s in one.steps]
    shape = one.out.shape
    channels = cout if _int(cout) else None
    out = one.out.with_(shape=(shape[0], channels) + tuple(shape[2:])) if shape is not None else one.out
    return Applied(steps, out, one.keras_class, one.extra)
