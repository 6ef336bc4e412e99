"""Port nn.TransformerEncoder / nn.TransformerDecoderLayer / nn.TransformerDecoder into the Keras layers
of their translation (torch -> Keras, translator/backends/keras_hatches_transformer.py).

A decoder layer is the Keras layers `attr` (self-attention), `attr`_cross (cross-attention),
`attr`_linear1/2 and `attr`_norm1/2/3 of the parent. A stack keeps copy i of its layer as element i of
those attributes, which are lists, and its final LayerNorm as `attr`_norm; each copy ports as the single
layer does, through a view of the parent that picks element i of every list.
"""
from __future__ import annotations

from .port import PortError

STACKED = ("", "_cross", "_linear1", "_linear2", "_norm1", "_norm2", "_norm3")
SUBLAYERS = {"TransformerEncoderLayer": ("", "_linear1", "_linear2", "_norm1", "_norm2"),
             "TransformerDecoderLayer": ("", "_cross", "_linear1", "_linear2", "_norm1", "_norm2", "_norm3")}


class _Element:
    """`getattr(view, name)` = `getattr(parent, name)[index]` for the stacked lists."""

    def __init__(self, parent, attr: str, index: int):
        self._parent, self._attr, self._index = parent, attr, index

    def __getattr__(self, name):
        if not name.startswith(self._attr) or name[len(self._attr):] not in STACKED:
            raise AttributeError(name)
        return getattr(self._parent, name, [None] * (self._index + 1))[self._index]


def port_transformer(porter, tm, parent, attr: str, path: str) -> None:
    kind = type(tm).__name__
    if kind == "TransformerDecoderLayer":
        decoder_layer(porter, tm, parent, attr, path)
        return
    n = len(tm.layers)
    suffixes = SUBLAYERS[type(tm.layers[0]).__name__]
    for suffix in suffixes:
        got = getattr(parent, attr + suffix, None)
        if not isinstance(got, (list, tuple)) or len(got) != n:
            raise PortError(f"torch '{path}' stacks {n} layers; Keras {type(parent).__name__}."
                            f"{attr + suffix} is {type(got).__name__}"
                            f"{f' of {len(got)}' if isinstance(got, (list, tuple)) else ''}")
    for i, layer in enumerate(tm.layers):
        view = _Element(parent, attr, i)
        if kind == "TransformerEncoder":
            porter.encoder_layer(layer, view, attr, f"{path}.layers.{i}")
        else:
            decoder_layer(porter, layer, view, attr, f"{path}.layers.{i}")
    if tm.norm is not None:
        km = getattr(parent, attr + "_norm", None)
        if km is None:
            raise PortError(f"Keras {type(parent).__name__} has no attribute '{attr}_norm' for torch '{path}.norm'")
        porter.leaf(tm.norm, km, f"{path}.norm")


def decoder_layer(porter, tm, parent, attr: str, path: str) -> None:
    def layer(suffix):
        km = getattr(parent, attr + suffix, None)
        if km is None:
            raise PortError(f"Keras {type(parent).__name__} has no attribute '{attr + suffix}' for torch '{path}'")
        return km
    porter.pairs.append((path + ".self_attn", tm.self_attn, layer("")))
    porter.pairs.append((path + ".multihead_attn", tm.multihead_attn, layer("_cross")))
    if porter.dry:
        return
    porter.attention(tm.self_attn, layer(""), path + ".self_attn")
    porter.attention(tm.multihead_attn, layer("_cross"), path + ".multihead_attn")
    for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
        porter.leaf(getattr(tm, name), layer("_" + name), f"{path}.{name}")
