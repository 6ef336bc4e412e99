"""Port a torch nn.Linear whose weight is tied to an nn.Embedding (torch -> Keras).

translator/backends/keras_tied.py writes the Linear as `x @ embeddings.T + <attr>_bias`: the matrix
is the Keras Embedding's, ported with the embedding; only the bias is the Linear's own. The torch
weights must really be one Parameter (else the Keras model, which has one matrix, would differ).
"""
from __future__ import annotations

from .port import PortError


def port_tied(porter, tm_parent, km_parent, name: str, path: str, extra: dict) -> None:
    import numpy as np
    child = getattr(tm_parent, name)
    src = getattr(tm_parent, extra["tied_to"], None)
    if src is None or child.weight is not src.weight:
        raise PortError(f"torch '{path}'.weight is not the weight of '{extra['tied_to']}': the Keras model ties them")
    bias_name = extra.get("bias")
    has_bias = getattr(child, "bias", None) is not None
    if bool(bias_name) != has_bias:
        raise PortError(f"torch '{path}': bias {'present' if has_bias else 'absent'}, Keras disagrees")
    if has_bias:
        variable = getattr(km_parent, bias_name, None)
        if variable is None:
            raise PortError(f"Keras {type(km_parent).__name__} has no weight '{bias_name}' for torch '{path}.bias'")
        value = child.bias.detach().cpu().numpy()
        if tuple(variable.shape) != value.shape:
            raise PortError(f"shape mismatch porting torch '{path}.bias': {value.shape} vs {tuple(variable.shape)}")
        variable.assign(value.astype(np.dtype(getattr(variable.dtype, "name", variable.dtype))))
        porter.done.append((f"{path}.bias", bias_name))
    porter.done.append((f"{path}.weight", f"(tied to {extra['tied_to']})"))
