"""nn.Parameter attributes of a module (torch -> Keras): Keras weights made with `self.add_weight`.

    self.w = nn.Parameter(nn.init.xavier_uniform_(torch.empty((n, m))))
        -> self.w = self.add_weight(shape=(n, m), initializer="glorot_uniform", name="w")
    self.b = nn.Parameter(torch.zeros(m))        -> self.add_weight(shape=(m,), initializer="zeros", name="b")
    nn.Parameter(..., requires_grad=False)       -> trainable=False

The weight keeps torch's axis order (it is used where torch uses it, in torch axis order: a tensor of
layout "same" in forward), so the port copies it as it is (translator/verify/port_torch.py: a module's own
tensors go to the Keras variable of the same name). Initial values that Keras cannot draw from the same
distribution are reported (FWT201), never approximated: the weights are what training starts from.
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..frontends.torch_models import resolve
from .keras_code import call, code, node_of, tensor

PARAMETER_PATHS = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}

_FILLS = {"torch.zeros": "zeros", "torch.ones": "ones", "torch.empty": None,
          "torch.randn": ("RandomNormal", {"mean": 0.0, "stddev": 1.0}),
          "torch.rand": ("RandomUniform", {"minval": 0.0, "maxval": 1.0})}
_INITS = {"torch.nn.init.zeros_", "torch.nn.init.ones_", "torch.nn.init.constant_", "torch.nn.init.xavier_uniform_",
          "torch.nn.init.normal_", "torch.nn.init.uniform_"}


def _const(node):
    from .keras_forward_base import _const as c
    from ..ir import UNKNOWN
    v = c(node)
    return None if v is UNKNOWN else v


def _args(node: cst.Call, names: list[str], what: str, line: int) -> dict:
    out = {}
    for i, a in enumerate(node.args):
        if a.star:
            raise TranslationError("FWT201", f"{what}(*...) is not translated", line)
        key = a.keyword.value if a.keyword is not None else (names[i] if i < len(names) else None)
        if key is None or key not in names:
            raise TranslationError("FWT201", f"{what}: argument {code(a)[:40]} is not translated", line)
        out[key] = a.value
    return out


def _initializer(refs, path: str, args: dict, line: int):
    """A Keras initializer for nn.init.<path>(t, ...), or the error."""
    short = path.rsplit(".", 1)[-1]
    if short in ("zeros_", "ones_"):
        return node_of(short[:-1])
    if short == "constant_":
        return call(refs.keras("initializers.Constant"), [args["val"]])
    if short == "xavier_uniform_":      # symmetric in the two fans: torch's (fan_out, fan_in) = Keras' (in, out)
        gain = args.get("gain")
        if gain is not None and _const(gain) != 1 and _const(gain) != 1.0:
            raise TranslationError("FWT201", "nn.init.xavier_uniform_(gain != 1) has no Keras initializer", line)
        return node_of("glorot_uniform")
    if short == "normal_":
        kw = [("mean", args.get("mean", node_of(0.0))), ("stddev", args.get("std", node_of(1.0)))]
        return call(refs.keras("initializers.RandomNormal"), [], kw)
    if short == "uniform_":
        kw = [("minval", args.get("a", node_of(0.0))), ("maxval", args.get("b", node_of(1.0)))]
        return call(refs.keras("initializers.RandomUniform"), [], kw)
    raise TranslationError("FWT201", f"{path} has no Keras initializer drawing from the same distribution", line)


_INIT_SIGS = {"zeros_": ["tensor"], "ones_": ["tensor"], "constant_": ["tensor", "val"],
              "xavier_uniform_": ["tensor", "gain", "generator"], "normal_": ["tensor", "mean", "std", "generator"],
              "uniform_": ["tensor", "a", "b", "generator"]}


def _fill(table, refs, node, line):
    """(shape node, shape meta tuple, initializer node) of torch.zeros/ones/empty/randn/rand(sizes)."""
    if not isinstance(node, cst.Call):
        raise TranslationError("FWT201", f"nn.Parameter({code(node)[:50]}): only a tensor made by torch.zeros / "
                                         "ones / empty / randn / rand (optionally filled by nn.init) translates", line)
    path = resolve(node.func, table)
    if path not in _FILLS:
        raise TranslationError("FWT201", f"nn.Parameter({path or code(node.func)}(...)) is not translated", line)
    sizes = []
    for a in node.args:
        if a.keyword is not None:
            if a.keyword.value == "requires_grad":
                continue
            if a.keyword.value == "size":
                sizes.append(a.value)
                continue
            raise TranslationError("FWT201", f"{path}({a.keyword.value}=...) in nn.Parameter is not translated", line)
        if a.star:
            raise TranslationError("FWT201", f"{path}(*sizes) in nn.Parameter is not translated", line)
        sizes.append(a.value)
    if len(sizes) == 1 and isinstance(sizes[0], (cst.Tuple, cst.List)):
        sizes = [e.value for e in sizes[0].elements]
    if not sizes:
        raise TranslationError("FWT201", f"{path}() without sizes in nn.Parameter", line)
    shape_node = cst.Tuple([cst.Element(s, comma=cst.Comma() if len(sizes) == 1 else cst.MaybeSentinel.DEFAULT)
                            for s in sizes])
    dims = tuple(v if isinstance(v, int) else None for v in (_const(s) for s in sizes))
    fill = _FILLS[path]
    if isinstance(fill, tuple):
        init = call(refs.keras(f"initializers.{fill[0]}"), [], [(k, node_of(v)) for k, v in fill[1].items()])
    else:
        init = node_of(fill) if fill else None
    return shape_node, dims, init


def weight_ctor(ctx, attr: str, keras_attr: str, spec):
    """(`self.add_weight(...)`, meta of the weight in forward) of `nn.Parameter(...)`."""
    node, line = spec.node, spec.line
    table = ctx.owner.table
    b = _args(node, ["data", "requires_grad"], "nn.Parameter", line)
    if "data" not in b:
        raise TranslationError("FWT201", "nn.Parameter() without data is not translated", line)
    data = b["data"]
    init = None
    if isinstance(data, cst.Call) and resolve(data.func, table) in _INITS:
        path = resolve(data.func, table)
        args = _args(data, _INIT_SIGS[path.rsplit(".", 1)[-1]], path, line)
        if "generator" in args:
            raise TranslationError("FWT201", f"{path}(generator=...) is not translated", line)
        init = _initializer(ctx.refs, path, args, line)
        data = args["tensor"]
    shape_node, dims, fill = _fill(table, ctx.refs, data, line)
    if init is None:
        if fill is None:
            raise TranslationError("FWT201", "nn.Parameter(torch.empty(...)) holds uninitialised memory: give it "
                                             "initial values (e.g. nn.init.zeros_)", line)
        init = fill
    kwargs = [("shape", shape_node), ("initializer", init)]
    rg = b.get("requires_grad")
    if rg is not None:
        v = _const(rg)
        if v not in (True, False):
            raise TranslationError("FWT202", "nn.Parameter(requires_grad=...): a constant expected", line)
        if v is False:
            kwargs.append(("trainable", cst.Name("False")))
    kwargs.append(("name", node_of(keras_attr)))
    ctor = call(cst.Attribute(cst.Name("self"), cst.Name("add_weight")), [], kwargs)
    return ctor, tensor(shape=dims)


def record_weight(cls_tr, ctx, attr: str, spec) -> None:
    ctor, _ = weight_ctor(ctx, attr, cls_tr.keras_attr(attr), spec)
    cls_tr.record(attr, ("weight",), ctor, [])


def read_weight(ft, attr: str, node: cst.Attribute):
    """`self.w` in forward: the Keras weight, in torch axis order."""
    spec = ft.cls.modules[attr]
    _, meta = weight_ctor(ft.ctx, attr, ft.cls.keras_attr(attr), spec)
    return node.with_changes(attr=cst.Name(ft.cls.keras_attr(attr))), meta
