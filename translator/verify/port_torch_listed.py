"""Port a torch leaf module translated to several Keras layers held in a list or dict (torch -> Keras).

    grouped nn.ConvTranspose{n}d            a list, one transposed convolution per group
                                            (translator/verify/port_torch_groups.py)
    nn.MultiheadAttention with a float mask  {"query", "key", "value", "output"} EinsumDense layers
                                            (translator/backends/keras_hatches_mha_additive.py): the packed
                                            in_proj split per projection, as for keras.layers.MultiHeadAttention
"""
from __future__ import annotations

from .port import PortError
from .port_torch_groups import is_grouped_transpose, port_grouped_transpose

ATTENTION_KEYS = {"query": "_query_dense", "key": "_key_dense", "value": "_value_dense", "output": "_output_dense"}


def port_listed(porter, tm, km, path: str) -> bool:
    """Port `tm` into the list / dict `km`; False when this is not such a translation."""
    if is_grouped_transpose(tm, km):
        port_grouped_transpose(porter, tm, km, path)
        return True
    if type(tm).__name__ == "MultiheadAttention" and hasattr(km, "keys") and set(km.keys()) == set(ATTENTION_KEYS):
        port_attention_dict(porter, tm, km, path)
        return True
    return False


def port_attention_dict(porter, tm, km, path: str) -> None:
    import numpy as np
    from ..rules.transforms_inverse_attention import multihead_attention_weights
    for key in ATTENTION_KEYS:
        porter.pairs.append((f"{path}[{key}]", tm, km[key]))
    if porter.dry:
        return
    state = {k: v.detach().cpu().numpy() for k, v in tm.state_dict().items()}
    try:
        parts = multihead_attention_weights(state, tm.num_heads)
    except ValueError as exc:
        raise PortError(f"torch '{path}': {exc}") from None
    for key, attr in ATTENTION_KEYS.items():
        layer = km[key]
        if layer.bias is not None and "bias" not in parts[attr]:
            raise PortError(f"Keras '{layer.name}' has a bias that torch '{path}' has not")
        for name, value in parts[attr].items():
            variable = getattr(layer, name, None)
            if variable is None or tuple(variable.shape) != tuple(value.shape):
                raise PortError(f"shape mismatch porting torch '{path}' -> Keras '{layer.name}/{name}': "
                                f"{value.shape} vs {None if variable is None else tuple(variable.shape)}")
            variable.assign(np.ascontiguousarray(value).astype("float32"))
            porter.done.append((f"{path}[{key}]", f"{layer.name}/{name}"))
