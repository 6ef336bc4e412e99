"""Port the weights of a built Keras model into the torch module built from its translation.

Pairing strategy (deterministic, documented in the README):
1. With a mapping (the ModelInfo of the translation, or a Result holding one model), each mapped
   torch submodule is paired with a Keras layer: by the layer name when the source gave `name=`,
   otherwise the k-th Keras layer of that class in creation order with the k-th mapped module of
   that class. Keras creation order is read from Keras' unique auto-names (dense, dense_1, ...).
2. Without a mapping, torch modules of each rule's torch class are taken in registration order.
   Facts only the translation knows (a Dense after a channels-first Flatten) need the mapping.
Each weight goes through the rule's named transform; shapes are checked; any layer left unpaired
is an error (PortError), never a silent skip.
"""
from __future__ import annotations

import re
from collections import defaultdict

from ..rules import load_rules
from ..rules.transforms import WEIGHT_TRANSFORMS

_AUTO_NAME = re.compile(r"^(.*?)(?:_(\d+))?$")


class PortError(RuntimeError):
    pass


def _keras_layers(model):
    """Leaf layers of a Keras model (Keras 3 or tf_keras), nested models flattened."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers]


def _weight_name(variable) -> str:
    name = getattr(variable, "path", None) or variable.name
    return name.split("/")[-1].split(":")[0]


def _creation_key(layer, index):
    m = _AUTO_NAME.match(layer.name)
    return (int(m.group(2) or 0) if m else 0, index)


def _rule_by_class(rules):
    by_class = {}
    for path, rule in rules.layers.items():
        by_class.setdefault(path.rsplit(".", 1)[-1], rule)
    return by_class


def _mapping_of(mapping):
    if mapping is None:
        return None
    if hasattr(mapping, "models"):
        if len(mapping.models) != 1:
            raise PortError(f"the translation holds {len(mapping.models)} models; pass result.model(name)")
        return mapping.models[0]
    return mapping


def _keras_by_class(keras_model, rules):
    """Keras layers with weights grouped by rule id (so that aliases such as Convolution2D, whose
    layers are Conv2D objects, share one group), each group in creation order."""
    by_class = _rule_by_class(rules)
    grouped = defaultdict(list)
    for i, layer in enumerate(_keras_layers(keras_model)):
        cls = type(layer).__name__
        if cls in by_class and by_class[cls].weights:
            grouped[by_class[cls].id].append((i, layer))
    for key in grouped:
        grouped[key].sort(key=lambda pair: _creation_key(pair[1], pair[0]))
    return {key: [layer for _, layer in pairs] for key, pairs in grouped.items()}


def pair_layers(keras_model, torch_module, mapping=None, rules=None):
    """[(keras_layer, torch_submodule, rule, extra)] in a deterministic order."""
    rules = rules or load_rules()
    by_class = _rule_by_class(rules)
    keras_groups = _keras_by_class(keras_model, rules)
    info = _mapping_of(mapping)
    pairs = []
    if info is not None:
        entries = [m for m in info.layers if by_class.get(m.keras_class) and by_class[m.keras_class].weights]
        named = {layer.name: layer for group in keras_groups.values() for layer in group}
        used = set()
        for m in entries:
            if m.keras_name and m.keras_name in named:
                used.add(id(named[m.keras_name]))
        queues = {key: [l for l in group if id(l) not in used] for key, group in keras_groups.items()}
        for m in entries:
            if m.keras_name and m.keras_name in named:
                layer = named[m.keras_name]
            else:
                queue = queues.get(by_class[m.keras_class].id) or []
                if not queue:
                    raise PortError(f"no Keras {m.keras_class} layer left for torch module '{m.torch_path}'")
                layer = queue.pop(0)
            pairs.append((layer, torch_module.get_submodule(m.torch_path), by_class[m.keras_class], m.extra))
        left = [l.name for q in queues.values() for l in q]
        if left:
            raise PortError(f"Keras layers with weights not mapped to torch modules: {left}")
        return pairs
    _refuse_ambiguous_flatten(keras_model)
    torch_groups = defaultdict(list)
    for name, module in torch_module.named_modules():
        torch_groups[f"{type(module).__module__}.{type(module).__name__}"].append(module)
    by_id = {rule.id: rule for rule in by_class.values()}
    for key, group in keras_groups.items():
        rule = by_id[key]
        cls = type(group[0]).__name__
        candidates = [m for path, mods in torch_groups.items() for m in mods
                      if _torch_matches(rule, path)]
        if len(candidates) != len(group):
            raise PortError(f"{len(group)} Keras {cls} layer(s) but {len(candidates)} torch module(s) "
                            f"for rule '{rule.id}'; pass the translation's mapping")
        pairs += [(k, t, rule, {}) for k, t in zip(group, candidates)]
    return pairs


def _refuse_ambiguous_flatten(keras_model) -> None:
    """Without the mapping, a Dense after a Flatten of an image cannot be ported right: refuse."""
    for layer in _keras_layers(keras_model):
        if type(layer).__name__ != "Flatten":
            continue
        try:
            rank = len(layer.input.shape)
        except Exception:      # subclassed models have no static graph
            rank = None
        if rank is None or rank > 2:
            raise PortError(f"Keras layer '{layer.name}' flattens a multi-dimensional tensor: the column "
                            "order of the next Dense depends on the translation's layout; pass "
                            "mapping=result.model(name) to port_weights")


def _torch_matches(rule, module_path: str) -> bool:
    short = module_path.replace("torch.nn.modules.", "torch.nn.").split(".")
    name = "torch.nn." + short[-1]
    if rule.torch == name:
        return True
    return rule.id == "batch_normalization" and short[-1] in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")


def _flatten_permute(array, flat_from):
    """Linear weight (out, prod(S)) with columns in Keras order S=(spatial..., C) -> torch (C, spatial...).

    Only the channel count matters: moving C in front of the spatial axes is a transpose of the
    columns seen as (prod(spatial), C), so unknown spatial sizes (None) are fine.
    """
    import numpy as np
    channels = flat_from[-1]
    if not isinstance(channels, int) or channels <= 0 or array.shape[1] % channels:
        raise PortError(f"cannot reorder the columns of a Linear after a channels-first Flatten: "
                        f"flattened shape {tuple(flat_from)} vs weight shape {array.shape}")
    out = array.shape[0]
    w = array.reshape(out, -1, channels)
    w = np.swapaxes(w, 1, 2)
    return w.reshape(out, -1)


def _tensor_at(module, path: str):
    """A parameter or buffer by a dotted path inside a module (`weight`, `0.weight`, `pointwise.bias`)."""
    owner = module
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    return getattr(owner, name, None)


def port_weights(keras_model, torch_module, mapping=None):
    """Copy weights; returns the list of (keras weight path, torch parameter path) ported."""
    import numpy as np
    import torch

    rules = load_rules()
    pairs = pair_layers(keras_model, torch_module, mapping, rules)
    names = {id(m): n for n, m in torch_module.named_modules()}
    done = []
    for layer, module, rule, extra in pairs:
        weights = {_weight_name(w): np.asarray(w.numpy() if hasattr(w, "numpy") else w) for w in layer.weights}
        for spec in rule.weights:
            if spec.keras not in weights:
                if spec.optional:
                    continue
                raise PortError(f"Keras layer '{layer.name}' has no weight '{spec.keras}' "
                                f"(has: {sorted(weights)})")
            value = WEIGHT_TRANSFORMS[spec.transform](weights[spec.keras])
            if extra.get("flatten_from") and spec.torch == "weight":
                value = _flatten_permute(value, extra["flatten_from"])
            target = _tensor_at(module, spec.torch)
            if target is None:
                raise PortError(f"torch module '{names.get(id(module))}' has no '{spec.torch}'")
            if isinstance(target, torch.nn.parameter.UninitializedParameter):
                raise PortError(f"torch module '{names.get(id(module))}' is a lazy module whose "
                                f"'{spec.torch}' is not initialised yet: run one forward pass first")
            if tuple(target.shape) != tuple(value.shape):
                raise PortError(f"shape mismatch porting {layer.name}.{spec.keras} -> "
                                f"{names.get(id(module))}.{spec.torch}: {value.shape} vs {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(target.dtype))
            done.append((f"{layer.name}/{spec.keras}", f"{names.get(id(module))}.{spec.torch}"))
    return done
