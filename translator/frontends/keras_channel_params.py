"""A layer class whose input channels are a constructor parameter: `DoubleConv(in_channels, out_channels)`.

Keras builds a layer from its first input, so a class like

    class DoubleConv(layers.Layer):
        def __init__(self, in_channels, out_channels):
            self.conv = layers.Conv2D(out_channels, 3, padding="same")

never says how many channels its first convolution takes; torch must. When every construction of the
class in the file passes, for one parameter, exactly the channel count (the last Keras axis) of the
tensor that instance is then called on, the translation writes that parameter:
`nn.Conv2d(in_channels, out_channels, 3, padding=1)`, and the class needs no `input_shape=`.

The proof is over the call sites the first pass saw (their sizes may be symbolic: expressions in the
parent's constructor parameters, compared with `same_value`), and it is checked again at every call
of the final pass (`check_call`): a call whose channels are not the parameter is FWT302. When no
parameter fits, the class keeps the general plan (`input_shape=` from the call site).
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all
from ..findings import TranslationError
from .keras_init_lists import matches


def _init(cls: cst.ClassDef):
    return next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)


def channel_param(cls: cst.ClassDef, sites: list) -> str | None:
    """The __init__ parameter equal to the input's channel count at every call site, or None.
    `sites`: [(input shapes, constructor arguments bound to parameters)] of every call seen."""
    init = _init(cls)
    if init is None or not sites or any(isinstance(s, cst.FunctionDef) and s.name.value == "build"
                                        for s in cls.body.body):
        return None
    params = [p.name.value for p in list(init.params.params[1:]) + list(init.params.kwonly_params)]
    assigned = {n.target.value for n in find_all(init.body, (cst.AssignTarget, cst.AugAssign))
                if isinstance(n.target, cst.Name)}
    for name in params:
        if name in assigned:
            continue
        if all(len(shapes) == 1 and shapes[0] is not None and len(shapes[0]) >= 2
               and matches(bound.get(name), shapes[0][-1], defaults)[0] for shapes, bound, defaults in sites):
            return name
    return None


def plan(owner, name: str, rank: int):
    """("channels", rank, parameter) when the class translates with its input channels written as the
    parameter and no other input size, else None."""
    from ..backends.torch_code import Imports
    from .keras_classes import SubclassTranslator
    cls = owner.keras_classes[name]
    param = channel_param(cls, owner.call_bindings.get(name, []))
    if param is None:
        return None
    try:
        from ..outputs_memo import record_translation     # the next pass takes it (outputs_memo)
        done = record_translation(owner, name, (rank, param), SubclassTranslator(owner, cls, imports=Imports()),
                                  symbolic_rank=rank, layout="native", channel_param=param)
    except TranslationError:
        return None
    init = _init(done.cls)
    if init is not None and "input_shape" in {p.name.value for p in init.params.kwonly_params}:
        return None
    return ("channels", rank, param)


def observe_call(ft, ref, metas: list, line: int) -> None:
    """A call of a layer class of the file: recorded for the plan; checked when the class's channels
    are a parameter (FWT302 when this instance's argument is not its input's channels)."""
    from ..keras_to_torch import bind_ctor
    bound = bind_ctor(ft.class_defs[ref.class_name], ref.shape_ctor or ref.ctor, ft.scope)
    shapes = [m.shape if m is not None else None for m in metas]
    ft.call_bindings.setdefault(ref.class_name, []).append((shapes, bound, dict(ft.defaults)))
    plan = ft.class_channels.get(ref.class_name)
    if plan is None:
        return
    param = plan[1]
    channels = shapes[0][-1] if len(shapes) == 1 and shapes[0] else None
    ok, pins = matches(bound.get(param), channels, ft.defaults)
    if not ok:
        raise TranslationError("FWT302", f"{ref.class_name}: translated with its input channels given by "
                               f"'{param}', but this instance gets {param}={bound.get(param)!r} and is called on "
                               f"{channels!r} channels", line)
    for name, value in sorted(pins.items()):
        ft.pinned.pop(name, None)          # noted again in each pass of the translation
        ft.notes = [n for n in ft.notes if f"parameter '{name}' fixed" not in n[1]]
        ft.pin(name, value, f"{ref.class_name}({param}=...) on the model's input", line)
