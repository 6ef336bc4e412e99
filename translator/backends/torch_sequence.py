"""A Keras Sequential held by a subclassed model (`self.ffn = keras.Sequential([...])`) -> nn.Sequential.

Its layers are applied in turn like any other layers (sizes and layouts flow through them); each must
come out as one torch module call, possibly wrapped in an activation or a flatten, which then become
modules of their own in the nn.Sequential (a zero `F.pad` before the module call -- a strided 'same'
convolution -- an nn.ZeroPad2d before it). Anything else (a layout change inside) is FWT103.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..cst_walk import node_code, preorder, transform
from ..findings import TranslationError
from ..names import dotted
from .torch_code import call

# torch functions in a lowered forward -> the module doing the same inside an nn.Sequential
FUNCTION_MODULES = {
    "F.relu": "torch.nn.ReLU", "torch.sigmoid": "torch.nn.Sigmoid", "torch.tanh": "torch.nn.Tanh",
    "F.gelu": "torch.nn.GELU", "F.silu": "torch.nn.SiLU", "F.elu": "torch.nn.ELU", "F.selu": "torch.nn.SELU",
    "F.softplus": "torch.nn.Softplus", "F.softsign": "torch.nn.Softsign", "F.relu6": "torch.nn.ReLU6",
    "F.leaky_relu": "torch.nn.LeakyReLU", "F.softmax": "torch.nn.Softmax", "torch.flatten": "torch.nn.Flatten",
    "F.log_softmax": "torch.nn.LogSoftmax", "F.mish": "torch.nn.Mish", "F.hardsigmoid": "torch.nn.Hardsigmoid",
    "F.hardswish": "torch.nn.Hardswish",
}
MARKER = "_fwt_sequence_input"


@dataclass
class LayerSequence:
    attr: str
    layers: list
    modules: list = field(default_factory=list)      # (layer or None, module constructor) in order
    line: int = 0


def ref_code(ft, attr: str) -> str:
    """node_code(ft.self_ref(attr)), without building the nodes: `self.a.b`, `self.blocks[0]`."""
    return ft.self_name + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in attr.split("."))


def _unwrap(expr, module_ref: str, imports):
    """The modules an applied layer's expression amounts to: [module call, wrapper modules...]."""
    wrappers = []
    while True:
        text = dotted(expr.func) if isinstance(expr, cst.Call) else None
        func_code = node_code(expr.func) if isinstance(expr, cst.Call) else None
        if func_code == module_ref and len(expr.args) == 1 and dotted(expr.args[0].value) == MARKER:
            return list(reversed(wrappers)), True
        if text == MARKER:
            return None, False
        pad = _zero_pad_module(expr, text, imports)
        if pad is not None:                        # ZeroPadding2D's F.pad(x, (l, r, t, b)): nn.ZeroPad2d
            wrappers.append(pad)
            return list(reversed(wrappers)), False
        if text in FUNCTION_MODULES and expr.args:
            extra = [a for a in expr.args[1:]]
            if text == "torch.flatten":
                extra = []            # nn.Flatten() starts at dim 1, as the lowering does
            args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) if i == len(extra) - 1 else a
                    for i, a in enumerate(extra)]
            wrappers.append(cst.Call(imports.ref(FUNCTION_MODULES[text]), args))
            inner = expr.args[0].value
            if dotted(inner) == MARKER:            # a layer that is only a function (Flatten, ReLU)
                return list(reversed(wrappers)), False
            expr = inner
            continue
        return None, False


def split_pre_pad(expr, module_ref: str, imports):
    """(expression, pad module or None): a module called on `F.pad(<input>, (constant pads))` (a strided
    'same' convolution) -> the call on the input itself and nn.ZeroPadNd((pads)) to put before it."""
    found = []

    def leave_call(original, updated):
        if node_code(updated.func) == module_ref and len(updated.args) == 1 and not found:
            inner = updated.args[0].value
            text = dotted(inner.func) if isinstance(inner, cst.Call) else None
            pad = _zero_pad_module(inner, text, imports) if text else None
            if pad is not None:
                found.append(pad)
                return updated.with_changes(args=[updated.args[0].with_changes(value=inner.args[0].value)])
        return updated

    if not isinstance(expr, cst.Call) or not any(type(n) is cst.Call and dotted(n.func) in _PADS
                                                 for n in preorder(expr)):
        return expr, None           # (no pad call: the walk below would find nothing)
    new = transform(expr, {cst.Call: leave_call})     # a CSTTransformer's leave_Call, by a faster walk
    return (new, found[0]) if found else (expr, None)


_PADS = ("F.pad", "torch.nn.functional.pad")


def _zero_pad_module(expr, text, imports):
    """`F.pad(<input>, (constant pads))` with zeros -> nn.ZeroPad1d/2d/3d((pads)), else None."""
    if text not in _PADS or len(expr.args) != 2 or \
            dotted(expr.args[0].value) != MARKER or expr.args[1].keyword is not None:
        return None
    pads = expr.args[1].value
    if not isinstance(pads, cst.Tuple) or len(pads.elements) not in (2, 4, 6) or \
            not all(isinstance(e.value, cst.Integer) for e in pads.elements):
        return None
    n = len(pads.elements) // 2
    values = {e.value.evaluated_value for e in pads.elements}
    if len(values) == 1:                           # the same pad on every side: nn.ZeroPad2d(1)
        pads = cst.Integer(str(values.pop()))
    return cst.Call(imports.ref(f"torch.nn.ZeroPad{n}d"), [cst.Arg(pads)])


def apply_sequence(ft, seq: LayerSequence, node: cst.Call):
    """`self.ffn(x)`: apply the layers for sizes, check each is a plain module, record the modules."""
    if hasattr(seq, "apply"):          # a list built in __init__ (frontends/keras_seq_lists.py)
        return seq.apply(ft, node)
    args = [a for a in node.args if not (a.keyword and a.keyword.value == "training")]
    if len(args) != 1 or args[0].keyword is not None:
        raise TranslationError("FWT201", f"self.{seq.attr}: a Sequential takes one input", seq.line)
    expr, meta = ft.expr(args[0].value)
    first = seq.layers[0].rule
    if meta is not None and first.layout in ("cf", "cl"):
        expr, meta = ft.convert(expr, meta, first.layout)
    before, ft.pending = ft.pending, []        # the input's own layout change goes before the call
    modules = []
    for layer in seq.layers:
        ft.env[MARKER] = meta
        out, out_meta = ft.apply_layer(layer, [cst.Name(MARKER)], [meta], {}, node)
        if ft.pending:
            raise TranslationError("FWT103", f"self.{seq.attr}: {layer.keras_class} needs a layout change "
                                   "inside the Sequential", layer.line)
        ref = ref_code(ft, layer.attr)
        out, pre = split_pre_pad(out, ref, ft.imports)
        wrappers, has_module = _unwrap(out, ref, ft.imports)
        if wrappers is None:
            raise TranslationError("FWT103", f"self.{seq.attr}: {layer.keras_class} is not a plain torch "
                                   "module call, so it cannot go in an nn.Sequential", layer.line)
        if pre is not None:
            modules.append((None, pre))
        if has_module:
            modules.append((layer, None))
        modules += [(None, w) for w in wrappers]
        meta = out_meta
    ft.env.pop(MARKER, None)
    ft.pending = before + ft.pending
    if not seq.modules:
        seq.modules = modules
    return call(ft.self_ref(seq.attr), [expr]), meta


def sequential_ctor(ft, seq: LayerSequence) -> cst.Call:
    """`nn.Sequential(...)`; the layers' attributes become their indices (for weight porting)."""
    items = []
    for index, (layer, module) in enumerate(seq.modules):
        if layer is not None:
            emission = ft.emissions[id(layer)][0]
            layer.attr = f"{seq.attr}.{index}"
            module = emission.ctor
        items.append(cst.Arg(module))
    if not items:
        raise TranslationError("FWT103", f"self.{seq.attr}: the Sequential is never called", seq.line)
    return cst.Call(ft.imports.ref("torch.nn.Sequential"), items)
