"""Keras layers passed to a layer class of the file: `BasicBlock(16, 32, downsample=keras.Sequential([...]))`.

The pattern (ResNet's projection shortcut): the class keeps the argument (`self.downsample = downsample`)
and calls it on its own input (`identity = self.downsample(x)`), usually behind `if self.downsample is
not None`. In torch the argument is a module built at the call site:

    self.layer2 = BasicBlock(16, 32, stride=2, downsample=nn.Sequential(nn.Conv2d(16, 32, 1, ...), ...))

sized with the input the instance is called with (the tensor the class passes on), in the layout the
class gets its input in. What is checked, else FWT103:
  * in the class: the kept argument is called with one input of call() as it came in (not changed,
    not converted), and its output is taken to have that input's layout and rank;
  * at every instantiation: such an argument is a keras.Sequential or a Keras layer with a rule given
    by keyword (translated here), or None / left out with a default of None -- never another object
    that torch would call with a tensor in another axis order;
  * the translated argument keeps the layout and rank of its input.
"""
from __future__ import annotations

from dataclasses import replace

import libcst as cst

from ..cst_walk import find_all
from ..findings import TranslationError
from ..ir import TensorMeta
from ..names import dotted
from ..positions import line_of

ARG_INPUT = "_fwt_layer_arg_input"


# ---- the class that receives a layer ----------------------------------------------------------------

def kept_params(init: cst.FunctionDef | None, statements: list) -> dict:
    """`self.downsample = downsample` in __init__: {"self.downsample": "downsample"}."""
    if init is None:
        return {}
    params = {p.name.value for p in list(init.params.params[1:]) + list(init.params.kwonly_params)}
    out = {}
    for stmt in statements:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1):
            continue
        target, value = stmt.body[0].targets[0].target, stmt.body[0].value
        if isinstance(target, cst.Attribute) and dotted(target.value) == "self" and \
                isinstance(value, cst.Name) and value.value in params:
            out[f"self.{target.attr.value}"] = value.value
    return out


def call_layer_param(ft, node: cst.Call):
    """`self.downsample(x)` of a kept constructor argument: (expression, meta), or None if not one."""
    param = ft.layer_params.get(dotted(node.func) or "")
    if param is None:
        return None
    line = line_of(node)
    args = [a for a in node.args if not (a.keyword and a.keyword.value == "training")]
    if len(args) != 1 or args[0].keyword is not None or args[0].star or not isinstance(args[0].value, cst.Name):
        raise TranslationError("FWT103", f"{dotted(node.func)}: a layer passed to the constructor is called "
                               "with other than one input of call()", line)
    name = args[0].value.value
    meta, given = ft.env.get(name), ft.input_metas.get(name)
    if meta is None or given is None or name in ft.rebound or meta.origin != name or meta.rank is None \
            or meta.shape != given.shape:
        raise TranslationError("FWT103", f"{dotted(node.func)}({name}): a layer passed to the constructor is "
                               "translated only when called with an input of call() as it came in", line)
    if meta.layout != given.layout:      # converted before: wrong unless a later pass takes it so
        ft.layer_param_problems.append((f"{dotted(node.func)}({name}): the input is converted before it",
                                        line))
    ft.called_params.add(param)
    ft.sites += 1
    return node, TensorMeta((meta.shape[0],) + (None,) * (meta.rank - 1), meta.layout, meta.dtype)


def rebound_names(body: list) -> set[str]:
    """Names assigned anywhere in call() (=, +=, for, with ... as, :=)."""
    found: set[str] = set()
    for stmt in body:      # a field walk (libcst's visitor rebuilds every node it passes)
        for node in find_all(stmt, _BINDERS):
            found.update(_names_in(node.name if type(node) is cst.AsName else node.target))
    return found


_BINDERS = (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.AsName, cst.NamedExpr)


def _names_in(node) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for el in node.elements for n in _names_in(el.value)]
    if isinstance(node, cst.StarredElement):
        return _names_in(node.value)
    return []


# ---- the instantiation ------------------------------------------------------------------------------

def layer_arguments(ft, attr: str, ctor: cst.Call, table, line: int) -> dict:
    """The Keras layers given to a class of the file by keyword -> LayerSequence (sized at the call)."""
    out = {}
    for arg in ctor.args:
        value = arg.value
        refs = _framework_refs(value, table)
        if not refs:
            continue
        if arg.keyword is None or not isinstance(value, cst.Call):
            raise TranslationError("FWT103", f"self.{attr}: Keras objects ({', '.join(sorted(refs))}) passed "
                                   "positionally or not as a layer made there are not translated", line)
        name = arg.keyword.value
        path = table.resolve(value.func)
        if path == "keras.Sequential":
            seq = ft.new_sequence(f"{attr}.{name}", value, f"__arg__:{attr}.{name}")
        elif ft.rule_for(value.func) is not None:
            from .torch_sequence import LayerSequence
            layer = ft.new_layer(value, *ft.rule_for(value.func), attr=f"{attr}.{name}.0")
            seq = LayerSequence(f"{attr}.{name}", [layer], line=line)
            ft.sequences[f"__arg__:{attr}.{name}"] = seq
            ft.layers.append(seq)
        else:
            raise TranslationError("FWT103", f"self.{attr}: argument '{name}' ({', '.join(sorted(refs))}) is "
                                   "not a Keras layer with a rule or a keras.Sequential", line)
        out[name] = seq
    return out


def check_instantiation(ft, ref, cls: cst.ClassDef, called: set) -> None:
    """Every constructor argument the class calls as a layer is one translated here, or None."""
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    if init is None or not called:
        return
    params = [p for p in init.params.params[1:]]
    positional = [a for a in ref.ctor.args if a.keyword is None]
    given = {p.name.value: a.value for p, a in zip(params, positional)}
    given.update({a.keyword.value: a.value for a in ref.ctor.args if a.keyword is not None})
    defaults = {p.name.value: p.default for p in list(init.params.params[1:]) + list(init.params.kwonly_params)}
    for param in sorted(called):
        if param in ref.layer_args:
            continue
        value = given.get(param, defaults.get(param))
        if isinstance(value, cst.Name) and value.value == "None":
            continue
        raise TranslationError("FWT103", f"self.{ref.attr}: {ref.class_name} calls its argument '{param}' as a "
                               "layer; only a Keras layer or keras.Sequential written there (or None), in "
                               "__init__ as `self.x = Class(..., name=...)`, is translated", ref.line)


def apply_layer_arguments(ft, ref, metas: list) -> None:
    """Size the translated arguments with the instance's input (the tensor the class passes on)."""
    from .torch_sequence import apply_sequence
    for name, seq in ref.layer_args.items():
        if not metas or metas[0] is None or metas[0].rank is None:
            raise TranslationError("FWT302", f"self.{ref.attr}: the input of argument '{name}' is unknown", ref.line)
        meta = replace(metas[0], origin=None)
        first = seq.layers[0].rule
        if first.layout in ("cf", "cl") and meta.rank > 2 and first.layout != meta.layout:
            raise TranslationError("FWT103", f"self.{ref.attr}: argument '{name}' needs its input in another "
                                   "layout than the class gets it in", ref.line)
        ft.env[ARG_INPUT] = meta
        try:
            _, out = apply_sequence(ft, seq, cst.Call(cst.Name(ARG_INPUT), [cst.Arg(cst.Name(ARG_INPUT))]))
        finally:
            ft.env.pop(ARG_INPUT, None)
        if out is None or out.rank != meta.rank or (meta.rank > 2 and out.layout != meta.layout):
            raise TranslationError("FWT103", f"self.{ref.attr}: argument '{name}' changes the layout or rank of "
                                   "its input", ref.line)


def ctor_with_layer_args(ft, ref, ctor: cst.Call) -> cst.Call:
    """The constructor with each Keras argument replaced by its torch module."""
    if not getattr(ref, "layer_args", None):
        return ctor
    from .torch_sequence import sequential_ctor
    args = []
    for arg in ctor.args:
        seq = ref.layer_args.get(arg.keyword.value) if arg.keyword is not None else None
        if seq is not None:
            module = sequential_ctor(ft, seq)
            if len(seq.modules) == 1 and isinstance(arg.value, cst.Call) and \
                    ft.table.resolve(arg.value.func) != "keras.Sequential":
                module = module.args[0].value           # a single layer stays a single module
                seq.layers[0].attr = seq.attr
            arg = arg.with_changes(value=module)
        args.append(arg)
    return ctor.with_changes(args=args)


def _framework_refs(node, table) -> set:
    from ..frontends.keras_classes import _framework_refs as refs
    return refs(node, table)
