"""Weight pairing for a Sequential of a list built in __init__ (frontends/keras_seq_lists.py).

Which layers such a list holds depends on the constructor's arguments (`if expand_ratio != 1:` adds
three), so the translation cannot list them: its mapping holds one `list_sequence` entry at the torch
path of the nn.Sequential. Here, with both built models at hand, the entry becomes the entries of the
instance: the k-th item of the Keras Sequential (found by the same attribute path in the Keras model)
is the k-th child of the nn.Sequential, because the translation writes one torch item per Keras item.
Within an item, the Keras layers with weights and the torch modules of their rules are paired in order
(a nested Sequential; a layer whose translation is an nn.Sequential of the module and its activation).
An instance of a Keras class of the file becomes a `custom` entry followed by that class's own entries
(the translation keeps them, as dicts, in the entry's `classes`), under the item's path. Every entry
made here names its Keras layer, so the pairing never depends on creation order. Anything that does
not line up is a PortError.
"""
from __future__ import annotations

import copy
from ..ir import LayerMapping

RULE_ID = "list_sequence"


def expand_list_sequences(info, keras_model, torch_module, by_class, error):
    if not any(m.rule_id == RULE_ID for m in info.layers):
        return info
    out = []
    for m in info.layers:
        out += _expand(m, keras_model, torch_module, by_class, error) if m.rule_id == RULE_ID else [m]
    info = copy.copy(info)
    info.layers = out
    return info


def _expand(entry, keras_model, torch_module, by_class, error) -> list:
    path = entry.torch_path
    keras_seq = _navigate(keras_model, path, error)
    torch_seq = torch_module.get_submodule(path)
    k_items, t_items = list(keras_seq.layers), list(torch_seq.children())
    if len(k_items) != len(t_items):
        raise error(f"'{path}': the Keras Sequential holds {len(k_items)} layers, the torch one {len(t_items)}")
    classes = entry.extra.get("classes", {})
    out = []
    for i, (k, t) in enumerate(zip(k_items, t_items)):
        item = f"{path}.{i}"
        cls = type(k).__name__
        if cls in classes:
            out.append(LayerMapping(cls, k.name, item, "custom", entry.line, {"class": cls}))
            for sub in classes[cls]:
                sub = LayerMapping(**{**sub, "torch_path": f"{item}.{sub['torch_path']}"})
                out += _expand(sub, keras_model, torch_module, by_class, error) if sub.rule_id == RULE_ID \
                    else [sub]
            continue
        out += _leaves(k, t, item, by_class, entry.line, error)
    return out


def _weighted(layer, by_class) -> list:
    from .port import _keras_layers
    own = by_class.get(type(layer).__name__)
    inner = [layer] if own is not None and own.weights or not hasattr(layer, "_flatten_layers") \
        else list(_keras_layers(layer))         # a layer with a weight rule ports its sublayers itself
    out = []
    for sub in inner:
        rule = by_class.get(type(sub).__name__)
        if rule is not None and rule.weights and sub.weights:
            out.append((sub, rule))
    return out


def _leaves(k, t, item: str, by_class, line: int, error) -> list:
    from .port import _torch_matches
    modules = list(t.named_modules())
    out, at = [], 0
    for layer, rule in _weighted(k, by_class):
        while at < len(modules) and not _module_matches(rule, modules[at][1], layer, by_class, _torch_matches):
            at += 1
        if at == len(modules):
            raise error(f"'{item}': no torch module for Keras layer '{layer.name}' ({type(layer).__name__})")
        name = modules[at][0]
        out.append(LayerMapping(type(layer).__name__, layer.name, f"{item}.{name}" if name else item, rule.id,
                                line, {}))
        at += 1
        while at < len(modules) and name and modules[at][0].startswith(name + ".") \
                or at < len(modules) and not name and rule.torch is None:
            at += 1           # the modules inside a matched container are its own, not the next layer's
    taken = [m.torch_path for m in out]
    for name, module in modules:
        full = f"{item}.{name}" if name else item
        if any(True for _ in module.parameters(recurse=False)) and \
                not any(full == p or full.startswith(p + ".") for p in taken):
            raise error(f"torch module '{full}' has weights but no Keras layer of '{item}' pairs with it")
    return out


def _module_matches(rule, module, layer, by_class, torch_matches) -> bool:
    """The torch module of `rule`: its class, or for a rule whose translation has no one class (torch:
    null: SeparableConv2D -> nn.Sequential(depthwise, pointwise), TimeDistributed(Dense) -> the Linear)
    the module holding exactly the tensors the rule ports for `layer` (`0.weight`, `1.weight`, ...)."""
    if rule.torch is None:
        from .port import weight_items
        needed = {name for _, _, name in weight_items(layer, rule, by_class)}
        params = {n for n, _ in module.named_parameters()}
        return bool(needed) and needed <= params | {n for n, _ in module.named_buffers()} and params <= needed
    return torch_matches(rule, f"{type(module).__module__}.{type(module).__name__}")


def _navigate(keras_model, path: str, error):
    obj = keras_model
    for part in path.split("."):
        try:
            if part.isdigit():
                holder = obj.layers if type(obj).__name__ == "Sequential" else obj
                obj = holder[int(part)]
            else:
                obj = getattr(obj, part)
        except (AttributeError, IndexError, TypeError):
            raise error(f"'{path}': no Keras layer at this path of the model") from None
    if not hasattr(obj, "layers"):
        raise error(f"'{path}': the Keras layer there is not a Sequential")
    return obj
