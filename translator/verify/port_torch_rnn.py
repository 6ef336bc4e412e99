"""Port a torch nn.LSTM / nn.GRU / nn.RNN into the Keras layers it was translated to (torch -> Keras).

translator/backends/keras_hatches_rnn.py gives layer i of the torch module its own Keras layer, the
attribute `<attr>` (i = 0) or `<attr>_l{i}` of the Keras parent (item i of the list `<attr>` when
num_layers was given symbolically), wrapped in keras.layers.Bidirectional
when the torch module is bidirectional. Layer i, direction d of torch holds `weight_ih_l{i}`,
`weight_hh_l{i}`, `bias_ih_l{i}`, `bias_hh_l{i}` (d = 1: with the suffix `_reverse`); each
(layer, direction) is ported by the Keras layer's own rule (lstm / gru / simple_rnn, whose `weights:`
name the layer-0 tensors) after renaming its tensors to the layer-0 names.
"""
from __future__ import annotations

from .port import PortError

RNN_CLASSES = ("LSTM", "GRU", "RNN")


def is_rnn(module) -> bool:
    cls = type(module)
    return cls.__module__.startswith("torch.nn") and cls.__name__ in RNN_CLASSES


def port_rnn(porter, tm, keras_parent, attr: str | None, path: str, keras_layer=None) -> None:
    """Port torch RNN `tm` (at `path`) into the Keras layers `keras_parent.<attr>[_l{i}]`; without a
    parent (`keras_layer` given) only a one-layer module can be ported."""
    from ..backends.keras_hatches_rnn import rnn_layer_attr
    proj = getattr(tm, "proj_size", 0)        # a generated LSTMProjCell (port_torch_lstm_proj.py)
    state = {k: v.detach().cpu().numpy() for k, v in tm.state_dict().items()}
    used = set()
    listed = getattr(keras_parent, attr, None) if keras_parent is not None else None
    if listed is not None and not hasattr(listed, "weights") and isinstance(listed, (list, tuple)) or \
            type(listed).__name__ in ("ListWrapper", "TrackedList"):
        if len(listed) != tm.num_layers:          # num_layers given symbolically: a list of Keras layers
            raise PortError(f"torch '{path}': {tm.num_layers} layers vs {len(listed)} Keras layers")
    else:
        listed = None
    for i in range(tm.num_layers):
        if listed is not None:
            layer = listed[i]
        elif keras_parent is not None:
            name = rnn_layer_attr(attr, i)
            layer = getattr(keras_parent, name, None)
            if layer is None:
                raise PortError(f"Keras {type(keras_parent).__name__} has no attribute '{name}' for layer {i} "
                                f"of torch '{path}'")
        elif i == 0:
            layer = keras_layer
        else:
            raise PortError(f"torch '{path}': {tm.num_layers} layers, but one Keras layer")
        bidirectional = type(layer).__name__ == "Bidirectional"
        if bidirectional != bool(tm.bidirectional):
            raise PortError(f"torch '{path}' bidirectional={tm.bidirectional} vs Keras {type(layer).__name__}")
        directions = [(layer.forward_layer, ""), (layer.backward_layer, "_reverse")] if bidirectional else [(layer, "")]
        for keras_rnn, suffix in directions:
            tail = f"_l{i}{suffix}"
            sub = {k[: -len(tail)] + "_l0": v for k, v in state.items() if k.endswith(tail)}
            used |= {k for k in state if k.endswith(tail)}
            if proj:
                from .port_torch_lstm_proj import port_proj_direction
                port_proj_direction(porter, tm, keras_rnn, sub, f"{path}[l{i}{suffix}]")
                continue
            porter.leaf(tm, keras_rnn, f"{path}[l{i}{suffix}]", state=sub)
    left = set(state) - used
    if left:
        raise PortError(f"torch '{path}' ({type(tm).__name__}): tensors not ported: {sorted(left)}")
