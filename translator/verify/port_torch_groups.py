"""Port a grouped nn.ConvTranspose{n}d into its Keras list of per-group transposed convolutions.

The translation (translator/backends/keras_hatches_conv_groups.py) gives group j the Keras layer at index
j: input channels [j*in/g, (j+1)*in/g) of the torch weight (in, out/g, *k) and outputs
[j*out/g, (j+1)*out/g) of the bias (out,). Each slice ports as an ungrouped ConvTranspose would
(`_Porter.leaf` with the slice as its state).
"""
from __future__ import annotations

from .port import PortError


def is_grouped_transpose(tm, km) -> bool:
    return isinstance(km, (list, tuple)) and type(tm).__name__.startswith("ConvTranspose") and \
        getattr(tm, "groups", 1) > 1


def port_grouped_transpose(porter, tm, km, path: str) -> None:
    g = tm.groups
    if len(km) != g:
        raise PortError(f"torch '{path}' has groups={g}; Keras holds a list of {len(km)} layers")
    weight = tm.weight.detach().cpu().numpy()
    bias = tm.bias.detach().cpu().numpy() if tm.bias is not None else None
    cin, cout = weight.shape[0] // g, weight.shape[1]
    for j, layer in enumerate(km):
        state = {"weight": weight[j * cin:(j + 1) * cin]}
        if bias is not None:
            state["bias"] = bias[j * cout:(j + 1) * cout]
        porter.leaf(tm, layer, f"{path}[group {j}]", state=state)
