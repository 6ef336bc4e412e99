"""Small builders for Keras code (torch -> Keras): references, tensor metas, layout permutations.

A tensor of the torch program is held in the Keras program in one of two layouts:

    same  the Keras tensor has the torch axis order (vectors, sequences, anything not an image)
    cf    the torch tensor is channels-first (N, C, *spatial); the Keras tensor is channels-last
          (N, *spatial, C) -- what every Keras image layer expects

A 2-D tensor flattened from a `cf` tensor in Keras order carries `flat = (C, S)`: its columns are
(S, C) where torch's are (C, S); a Dense that consumes it gets its kernel rows permuted at port time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from keyword import iskeyword
from typing import Any

import libcst as cst

from ..cst_walk import node_code
from ..ir import Sym
from ..values import to_node

AEQ = dict(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


@dataclass(frozen=True)
class Meta:
    """What the translator knows of one value of the torch program."""
    kind: str = "tensor"           # tensor | tuple | rnn | size | module | other
    rank: int | None = None
    layout: str = "same"           # same | cf
    shape: tuple | None = None     # torch axis order, batch first (None = unknown size)
    flat: tuple | None = None      # (C, S): flattened from a cf tensor in Keras (S, C) column order
    origin: int | None = None      # the model input this is (through elementwise ops only)
    nonneg: bool = False           # known >= 0 (after ReLU): zero padding equals -inf padding for max
    items: tuple = ()              # tuple / rnn: the metas of the items
    integer: bool = False
    info: Any = None               # kind-specific (rnn: the layer record)

    @property
    def is_tensor(self) -> bool:
        return self.kind == "tensor"

    @property
    def channels(self):
        """The torch axis-1 size of a cf tensor, or the last axis of a same tensor."""
        if self.shape is None:
            return None
        return self.shape[1] if self.layout == "cf" else self.shape[-1]

    @property
    def spatial(self) -> tuple | None:
        if self.layout != "cf" or self.shape is None:
            return None
        return tuple(self.shape[2:])

    def with_(self, **kw) -> "Meta":
        return Meta(**{**self.__dict__, **kw})     # dataclasses.replace, without its per-field checks


OTHER = Meta(kind="other")


def tensor(rank=None, layout="same", shape=None, **kw) -> Meta:
    if shape is not None:
        shape = tuple(shape)
        rank = len(shape)
    elif rank is not None:
        shape = (None,) * rank
    return Meta(rank=rank, layout=layout, shape=shape, **kw)


def image(channels, spatial) -> Meta:
    """A cf tensor (N, C, *spatial)."""
    return tensor(shape=(None, channels) + tuple(spatial), layout="cf")


def same_meta(meta: Meta) -> Meta:
    """The meta of a cf tensor converted to the torch axis order in Keras."""
    return meta.with_(layout="same", origin=None)


# ---- references -----------------------------------------------------------------------------------

class KerasRefs:
    """How the translated file spells Keras names, and the imports it needs.

    `layers.Conv2D` (with `from keras import layers`) unless the file uses the name `layers` for
    something else, then `keras.layers.Conv2D`; ops are always `keras.ops.X`.
    """

    def __init__(self, taken: set[str]):
        self.short_layers = "layers" not in taken
        self.needed: set[str] = set()

    def layer(self, name: str) -> cst.BaseExpression:
        self.needed.add("import keras")
        if self.short_layers:
            self.needed.add("from keras import layers")
            return dotted_expr(f"layers.{name}")
        return dotted_expr(f"keras.layers.{name}")

    def keras(self, dotted: str) -> cst.BaseExpression:
        """`keras.Model`, `keras.ops.relu`, `keras.Sequential`."""
        self.needed.add("import keras")
        return dotted_expr(f"keras.{dotted}")

    def ops(self, name: str) -> cst.BaseExpression:
        return self.keras(f"ops.{name}")

    def statements(self) -> list[str]:
        return [s for s in ("import keras", "from keras import layers") if s in self.needed]


def dotted_expr(path: str) -> cst.BaseExpression:
    """cst.parse_expression(path) for a dotted name `a.b.c`, built without the parser (the same code)."""
    parts = path.split(".")
    if not all(p.isidentifier() and not iskeyword(p) for p in parts):
        return cst.parse_expression(path)
    node = cst.Name(parts[0])
    for p in parts[1:]:
        node = cst.Attribute(node, cst.Name(p))
    return node


def call(func: cst.BaseExpression, args=(), kwargs=()) -> cst.Call:
    """func(*args, **kwargs); args are nodes, kwargs (name, node) pairs."""
    out = [cst.Arg(a) for a in args]
    out += [cst.Arg(v, keyword=cst.Name(k), equal=cst.AssignEqual(**AEQ)) for k, v in kwargs]
    return cst.Call(func=func, args=out)


def node_of(value) -> cst.BaseExpression:
    """A constant or a source node as an expression."""
    if isinstance(value, cst.BaseExpression):
        return value
    if isinstance(value, Sym):
        return cst.parse_expression(str(value))
    return to_node(value)


def code(node: cst.CSTNode) -> str:
    return node_code(node)


# ---- layout ---------------------------------------------------------------------------------------

def to_keras_perm(rank: int) -> tuple:
    """Keras axes of a cf tensor in terms of torch axes: (0, 2, ..., r-1, 1)."""
    return (0,) + tuple(range(2, rank)) + (1,)


def to_torch_perm(rank: int) -> tuple:
    """torch axes in terms of the channels-last Keras tensor: (0, r-1, 1, ..., r-2)."""
    return (0, rank - 1) + tuple(range(1, rank - 1))


def keras_axis(torch_axis: int, meta: Meta) -> int:
    """A torch axis of a tensor, as the axis of the Keras tensor that holds it."""
    rank = meta.rank
    if rank is None:
        if meta.layout == "same":
            return torch_axis          # same axis order: the index is the same, whatever the rank
        raise ValueError("rank unknown")
    a = torch_axis % rank
    if meta.layout == "same" or rank <= 2:
        return torch_axis if torch_axis < 0 and a == rank - 1 else a
    if a == 0:
        return 0
    if a == 1:
        return -1
    return a - 1


@dataclass
class Note:
    code: str
    message: str
    line: int = 0


@dataclass
class Notes:
    items: list[Note] = field(default_factory=list)

    def add(self, code: str, message: str, line: int = 0) -> None:
        if not any(n.code == code and n.message == message and n.line == line for n in self.items):
            self.items.append(Note(code, message, line))
