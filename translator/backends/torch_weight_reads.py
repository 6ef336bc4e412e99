"""Reading a layer's weight in `call`: `self.encoder.embeddings`, `self.fc.kernel` -> the torch parameter.

Tied weights (`keras.ops.matmul(h, keras.ops.transpose(self.encoder.embeddings))`, torch's
`F.linear(h, self.encoder.weight)`) read a weight of a translated layer. The layer's rule names the
torch parameter of each Keras weight (rules/*.yaml `weights:`); the read is exact when the torch
parameter holds the same numbers in Keras order (`copy`) or transposed (`transpose`, 2-D: `.T`).
Anything else (a conv kernel's OIHW permutation, a fused recurrent kernel, a layer emitted by a hatch
whose torch module is not the rule's class) is FWT103.
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..ir import Layer, TensorMeta
from ..names import dotted
from ..positions import line_of

# Keras weight name -> its rank, for the weights that can be read exactly (see the module docstring).
_RANKS = {"embeddings": 2, "kernel": 2, "bias": 1, "gamma": 1, "beta": 1,
          "moving_mean": 1, "moving_variance": 1}


def weight_read(ft, node: cst.Attribute):
    """(torch expression, meta) for `<layer>.<keras weight>`, None when `node` is not such a read."""
    owner = dotted(node.value) or ""
    layer = ft.layer_refs.get(owner)
    if not isinstance(layer, Layer) or layer.rule is None:
        return None
    name = node.attr.value
    spec = next((w for w in layer.rule.weights if w.keras == name), None)
    line = line_of(node)
    if spec is None:
        return None
    if layer.rule.emit is not None or layer.rule.torch is None or layer.ref is not None:
        raise TranslationError("FWT103", f"{owner}.{name}: a weight of a layer whose translation is not "
                               "one torch module is read", line)
    rank = _RANKS.get(name)
    if spec.transform not in ("copy", "transpose") or rank is None or (spec.transform == "transpose"
                                                                     and rank != 2):
        raise TranslationError("FWT103", f"{owner}.{name}: the torch parameter '{spec.torch}' holds it in "
                               f"another arrangement ({spec.transform}); reading it is not translated", line)
    expr: cst.BaseExpression = cst.Attribute(value=ft.self_ref(layer.attr), attr=cst.Name(spec.torch))
    if spec.transform == "transpose":
        expr = cst.Attribute(value=expr, attr=cst.Name("T"))
    return expr, TensorMeta((None,) * rank, layout="cl")

