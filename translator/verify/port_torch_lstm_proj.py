"""Port one layer and direction of an nn.LSTM(proj_size > 0) into its keras.layers.RNN(LSTMProjCell(...))
(translator/backends/keras_hatches_lstm_proj.py): kernel = W_ih.T, recurrent_kernel = W_hh.T,
bias = b_ih + b_hh, projection = W_hr.T."""
from __future__ import annotations

from .port import PortError


def port_proj_direction(porter, tm, keras_rnn, state: dict, path: str) -> None:
    """`state`: the layer-0 names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_hr_l0)."""
    import numpy as np
    cell = getattr(keras_rnn, "cell", None)
    if type(cell).__name__ != "LSTMProjCell":
        raise PortError(f"torch '{path}' has proj_size; Keras {type(keras_rnn).__name__} has no LSTMProjCell")
    porter.pairs.append((path, tm, keras_rnn))
    if porter.dry:
        return
    values = {"kernel": state["weight_ih_l0"].T, "recurrent_kernel": state["weight_hh_l0"].T,
              "projection": state["weight_hr_l0"].T}
    if "bias_ih_l0" in state:
        values["bias"] = state["bias_ih_l0"] + state["bias_hh_l0"]
    if (cell.bias is None) != ("bias" not in values):
        raise PortError(f"torch '{path}' and Keras '{keras_rnn.name}' disagree on biases")
    for name, value in values.items():
        variable = getattr(cell, name)
        if tuple(variable.shape) != value.shape:
            raise PortError(f"shape mismatch porting torch '{path}' -> Keras '{keras_rnn.name}/{name}': "
                            f"{value.shape} vs {tuple(variable.shape)}")
        variable.assign(np.ascontiguousarray(value).astype("float32"))
        porter.done.append((f"{path}.{name}", f"{keras_rnn.name}/{name}"))
