"""The model IR shared by frontends, passes and backends."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import libcst as cst


class Sym(str):
    """A symbolic integer: a Python expression in the target code (e.g. a builder parameter)."""


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
Dim = "int | Sym | None"


def _fold(a, b, op: str):
    if a is None or b is None:
        return None
    if isinstance(a, int) and not isinstance(a, Sym) and isinstance(b, int) and not isinstance(b, Sym):
        return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else None}[op]
    if op == "*" and (a == 1 or b == 1):
        return b if a == 1 else a
    if op in "+-" and b == 0:
        return a
    if op == "+" and a == 0:
        return b
    if op == "//" and b == 1:
        return a
    return Sym(f"{_paren(a, op, False)} {op} {_paren(b, op, True)}")


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "//": 2}


@lru_cache(maxsize=4096)
def _top_operator(text: str) -> str | None:
    """The operator at the top of an expression, by its precedence (None for an atom). Memoised: a
    pure function of the text, asked again for every dimension computed from the same symbol."""
    try:
        node = cst.parse_expression(text)
    except Exception:
        return "?"
    if isinstance(node, cst.BinaryOperation) and not node.lpar:
        return {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.FloorDivide: "//"}.get(type(node.operator), "?")
    return None


def _paren(x, op: str, right: bool) -> str:
    """Parenthesise an operand only where precedence needs it: `a * 2 + b`, `a - (b + c)`."""
    s = str(x)
    if s.isidentifier() or s.lstrip("-").isdigit():
        return s
    inner = _top_operator(s)
    if inner is None:
        return s
    if inner == "?":
        return f"({s})"
    if _PRECEDENCE[inner] > _PRECEDENCE[op] or (_PRECEDENCE[inner] == _PRECEDENCE[op] and not right):
        return s
    return f"({s})"


def dim_add(a, b):
    return _fold(a, b, "+")


def dim_sub(a, b):
    return _fold(a, b, "-")


def dim_mul(a, b):
    return _fold(a, b, "*")


def dim_floordiv(a, b):
    return _fold(a, b, "//")


def dim_prod(dims):
    out = 1
    for d in dims:
        out = dim_mul(out, d)
    return out


def is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, (bool, Sym))


@dataclass
class Val:
    """An argument as written in the source: its node, and its value when it can be known."""
    node: cst.BaseExpression | None
    const: Any = UNKNOWN

    @property
    def known(self) -> bool:
        return self.const is not UNKNOWN


@dataclass
class TensorMeta:
    """What the translator knows of one tensor.

    shape: Keras order, batch first (None = unknown dimension); None when the rank is unknown.
    layout: 'cl' the torch tensor has the Keras axis order; 'cf' it is channels-first
            (torch axes = (0, r-1, 1, ..., r-2) of the Keras axes).
    flat_from: set on the output of a Flatten of a channels-first tensor: the Keras shape
            (spatial..., C) that was flattened in torch (C, spatial...) order.
    """
    shape: tuple | None
    layout: str = "cl"
    dtype: str = "float32"
    flat_from: tuple | None = None
    origin: str | None = None       # the model input this tensor is (for the interface layout)
    last: Any = None                # the last (feature) dimension when the rank is unknown

    @property
    def last_dim(self):
        return self.shape[-1] if self.shape else self.last

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


@dataclass
class Layer:
    """One layer object in the source (called once, or several times when shared)."""
    attr: str                       # attribute name in the target module
    rule: Any                       # LayerRule
    keras_path: str                 # canonical keras path, e.g. keras.layers.Dense
    args: dict[str, Val]            # bound by Keras parameter name
    line: int
    node: cst.Call | None = None
    name: str | None = None         # name= given in the source
    in_metas: list[TensorMeta] | None = None     # at the first call
    out_metas: list[TensorMeta] | None = None
    calls: int = 0
    extra: dict = field(default_factory=dict)    # facts for weight porting (e.g. flatten_from)
    comments: tuple = ((), None)                 # (full-line comments above, trailing comment)
    ref: Any = None                              # how forward refers to it, when not self.<attr>

    @property
    def keras_class(self) -> str:
        return self.keras_path.rsplit(".", 1)[-1]


@dataclass
class LayerMapping:
    """How one Keras layer maps onto one torch submodule (for weight porting)."""
    keras_class: str
    keras_name: str | None
    torch_path: str
    rule_id: str
    line: int
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class InterfaceTensor:
    name: str
    keras_shape: tuple | None
    permute: tuple | None      # torch_tensor = keras_tensor.permute(*permute); None = unchanged

    def to_dict(self) -> dict:
        return {"name": self.name, "keras_shape": self.keras_shape, "permute": self.permute}


@dataclass
class ModelInfo:
    """One translated model definition."""
    name: str                 # public name kept in the file (function, variable or class)
    torch_class: str
    form: str                 # sequential | functional | subclassed
    line: int
    layers: list[LayerMapping] = field(default_factory=list)
    inputs: list[InterfaceTensor] = field(default_factory=list)
    outputs: list[InterfaceTensor] = field(default_factory=list)
    packed: bool = False      # forward takes its inputs as one list, `model([x, y])` (keras_packed_inputs)

    def to_dict(self) -> dict:
        out = {"name": self.name, "torch_class": self.torch_class, "form": self.form,
               "line": self.line, "layers": [m.to_dict() for m in self.layers],
               "inputs": [t.to_dict() for t in self.inputs],
               "outputs": [t.to_dict() for t in self.outputs]}
        if self.packed:
            out["packed"] = True
        return out


@dataclass
class ModuleResult:
    """What one direction's driver produced for a module."""
    module: cst.Module
    findings: list = field(default_factory=list)
    models: list[ModelInfo] = field(default_factory=list)
    sites: int = 0
    failed_sites: int = 0
