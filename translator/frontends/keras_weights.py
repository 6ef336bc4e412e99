"""Weights created in a custom Keras layer's build(): `self.add_weight(...)` -> `nn.Parameter(...)`.

The initial values only matter for training from scratch (weights are ported for inference); each
known initializer maps to its torch counterpart, an unknown one is reported.
"""
from __future__ import annotations

import libcst as cst

from ..backends.torch_code import Imports, call
from ..names import ImportTable, dotted
from ..values import evaluate, to_node

KERAS3_ORDER = ["shape", "initializer", "dtype", "trainable", "autocast", "regularizer", "constraint",
                "aggregation", "name"]
KERAS2_ORDER = ["name", "shape", "dtype", "initializer", "regularizer", "trainable", "constraint"]
ZEROS = {"zeros", "zero", "Zeros"}
ONES = {"ones", "one", "Ones"}


def is_add_weight(node) -> bool:
    return isinstance(node, cst.Call) and dotted(node.func) in ("self.add_weight", "self.add_variable")


def bind(node: cst.Call) -> dict:
    positional = [a.value for a in node.args if a.keyword is None]
    first = evaluate(positional[0], {}) if positional else None
    order = KERAS2_ORDER if isinstance(first, str) else KERAS3_ORDER
    args = dict(zip(order, positional))
    args.update({a.keyword.value: a.value for a in node.args if a.keyword is not None})
    return args


def _initializer(node, table: ImportTable, scope: dict) -> tuple[str, dict]:
    """(kind, keyword args) of an initializer given as a string or keras.initializers.X(...)."""
    if node is None:
        return "glorot_uniform", {}
    value = evaluate(node, scope)
    if isinstance(value, str):
        return value, {}
    if isinstance(node, cst.Call):
        path = table.resolve(node.func) or ""
        kind = path.rsplit(".", 1)[-1]
        kwargs = {a.keyword.value if a.keyword else "value": evaluate(a.value, scope) for a in node.args}
        return kind, kwargs
    return "?", {}


def parameter(node: cst.Call, imports: Imports, table: ImportTable, scope: dict):
    """`nn.Parameter(<initial tensor>)` for an add_weight call; (expression, notes)."""
    args = bind(node)
    notes = []
    shape = args.get("shape")
    if shape is None:
        shape = cst.Tuple([])
    kind, kwargs = _initializer(args.get("initializer"), table, scope)
    empty = call(imports.ref("torch.empty"), [shape])
    kind_lower = kind.lower()
    if kind in ZEROS or kind_lower == "zeros":
        init = call(imports.ref("torch.zeros"), [shape])
    elif kind in ONES or kind_lower == "ones":
        init = call(imports.ref("torch.ones"), [shape])
    elif kind_lower in ("constant",):
        init = call(imports.ref("torch.full"), [shape, to_node(kwargs.get("value", 0.0))])
    elif kind_lower in ("glorot_uniform", "glorotuniform"):
        init = call(imports.ref("torch.nn.init.xavier_uniform_"), [empty])
    elif kind_lower in ("glorot_normal", "glorotnormal"):
        init = call(imports.ref("torch.nn.init.xavier_normal_"), [empty])
    elif kind_lower in ("random_normal", "randomnormal"):
        init = call(imports.ref("torch.nn.init.normal_"), [empty],
                    [("mean", to_node(kwargs.get("mean", 0.0))), ("std", to_node(kwargs.get("stddev", 0.05)))])
    elif kind_lower in ("random_uniform", "randomuniform"):
        init = call(imports.ref("torch.nn.init.uniform_"), [empty],
                    [("a", to_node(kwargs.get("minval", -0.05))), ("b", to_node(kwargs.get("maxval", 0.05)))])
    else:
        init = empty
        notes.append(("FWT203", f"initializer {kind!r} not translated: the parameter starts uninitialised "
                      "(port the weights or initialise it by hand)"))
    for dropped in ("regularizer", "constraint"):
        if dropped in args and evaluate(args[dropped], scope) is not None:
            notes.append(("FWT203", f"add_weight {dropped} dropped: add it to the loss/optimizer if you train"))
    kw = []
    trainable = evaluate(args["trainable"], scope) if "trainable" in args else True
    if trainable is False:
        kw.append(("requires_grad", to_node(False)))
    return call(imports.ref("torch.nn.Parameter"), [init], kw), notes
