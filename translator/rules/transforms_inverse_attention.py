"""torch attention weights -> Keras MultiHeadAttention EinsumDense weights (the torch -> Keras direction).

nn.MultiheadAttention(E, H) packs the query/key/value projections in `in_proj_weight` (3E, E) and
`in_proj_bias` (3E,) (or `q_proj_weight`/`k_proj_weight`/`v_proj_weight` when kdim/vdim differ from
E), and the output projection in `out_proj` (a Linear E -> E). keras.layers.MultiHeadAttention(H,
key_dim=E // H) holds one EinsumDense per projection:

    query/key/value kernel (in, H, E // H), bias (H, E // H)   <- Linear weight (E, in).T, bias (E,)
    attention_output kernel (H, E // H, E), bias (E,)         <- out_proj weight (E, E).T

Head h of torch is rows h*hd:(h+1)*hd of the projection (the reshape (N, L, H, hd) of torch's
multi_head_attention_forward), which is what the (.., H, hd) reshapes below keep. One-way transforms
(named here, applied by translator/verify/port_torch.py with meta {"num_heads": H}).
"""
from __future__ import annotations

from .transforms import weight_transform


@weight_transform("linear_to_heads_in")
def linear_to_heads_in(array, meta=None):
    """Linear weight (H*hd, in) -> EinsumDense kernel (in, H, hd)."""
    heads = meta["num_heads"]
    out, inp = array.shape
    return array.T.reshape(inp, heads, out // heads)


@weight_transform("bias_to_heads")
def bias_to_heads(array, meta=None):
    """Linear bias (H*hd,) -> EinsumDense bias (H, hd)."""
    heads = meta["num_heads"]
    return array.reshape(heads, array.shape[0] // heads)


@weight_transform("linear_to_heads_out")
def linear_to_heads_out(array, meta=None):
    """out_proj weight (E, H*hd) -> EinsumDense kernel (H, hd, E)."""
    heads = meta["num_heads"]
    out, inp = array.shape
    return array.T.reshape(heads, inp // heads, out)


def multihead_attention_weights(state: dict, heads: int) -> dict:
    """{Keras sublayer attribute: {weight name: array}} from an nn.MultiheadAttention state_dict."""
    import numpy as np
    if "bias_k" in state or "bias_v" in state:
        raise ValueError("add_bias_kv=True has no Keras equivalent")
    if "in_proj_weight" in state:
        q, k, v = np.split(state["in_proj_weight"], 3)
    else:
        q, k, v = state["q_proj_weight"], state["k_proj_weight"], state["v_proj_weight"]
    biases = np.split(state["in_proj_bias"], 3) if "in_proj_bias" in state else (None, None, None)
    meta = {"num_heads": heads}
    out = {}
    for attr, w, b in (("_query_dense", q, biases[0]), ("_key_dense", k, biases[1]), ("_value_dense", v, biases[2])):
        out[attr] = {"kernel": linear_to_heads_in(w, meta)}
        if b is not None:
            out[attr]["bias"] = bias_to_heads(b, meta)
    out["_output_dense"] = {"kernel": linear_to_heads_out(state["out_proj.weight"], meta)}
    if "out_proj.bias" in state:
        out["_output_dense"]["bias"] = state["out_proj.bias"]
    return out
