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

Wrapper layers (Bidirectional, TimeDistributed, RNN(cell)) hold their weights in sublayers, with
colliding names (a Bidirectional has `kernel` twice). Their rules port them with a *sublayer
transform*: a weight entry whose `transform` is registered with `@sublayer_transform(name)`
(translator/rules/transforms_rnn.py) names the attribute holding the sublayer in `keras:` and a
pattern for the torch names in `torch:`; the sublayer's weights are then ported by its own rule:

    - {keras: forward_layer, torch: "{}", transform: sublayer}
    - {keras: backward_layer, torch: "{}_reverse", transform: sublayer}

The layers searched for weights are the outermost ones with a weight rule: the layers inside them
(an LSTM's LSTMCell, a Bidirectional's two LSTMs) are ported through the outer layer's rule.
"""
from __future__ import annotations

import re
from collections import defaultdict

from ..rules import load_rules
from ..rules.transforms import WEIGHT_TRANSFORMS

_AUTO_NAME = re.compile(r"^(.*?)(?:_(\d+))?$")


class PortError(RuntimeError):
    pass


def _keras_layers(model, rules=None):
    """Layers of a Keras model (Keras 3 or tf_keras), nested models and custom layers searched, in
    depth-first order, without the layers inside a layer that has a weight rule (an LSTM owns its
    cell's weights, a Bidirectional those of its two RNNs, an RNN those of its cell even when the
    model also holds that cell in an attribute: the outer layer's rule ports them)."""
    by_class = _rule_by_class(rules or load_rules())
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    inside = set()
    for layer in layers:
        rule = by_class.get(type(layer).__name__)
        if rule is not None and rule.weights:
            inside |= {id(sub) for sub in layer._flatten_layers(include_self=False, recursive=True)}
    return [layer for layer in layers if id(layer) not in inside]


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
    for i, layer in enumerate(_keras_layers(keras_model, rules)):
        cls = type(layer).__name__
        if cls in by_class and by_class[cls].weights and layer.weights:
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
        info = _expand_repeats(info, torch_module)
        from .port_lists import expand_list_sequences      # Sequentials of lists built in __init__
        info = expand_list_sequences(info, keras_model, torch_module, by_class, PortError)
        custom = {m.keras_class for m in info.layers if m.rule_id == CUSTOM.id}
        for i, layer in enumerate(_keras_layers(keras_model)):     # custom layer classes of the file
            if type(layer).__name__ in custom:
                keras_groups.setdefault(f"custom:{type(layer).__name__}", []).append(layer)
        for key in [k for k in keras_groups if k.startswith("custom:")]:
            keras_groups[key] = [l for _, l in sorted(enumerate(keras_groups[key]),
                                                      key=lambda p: _creation_key(p[1], p[0]))]
        entries = [m for m in info.layers if m.rule_id == CUSTOM.id
                   or by_class.get(m.keras_class) and by_class[m.keras_class].weights
                   and _holds_tensors(torch_module.get_submodule(m.torch_path))]
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
                key = f"custom:{m.keras_class}" if m.rule_id == CUSTOM.id else by_class[m.keras_class].id
                queue = queues.get(key) or []
                if not queue:
                    raise PortError(f"no Keras {m.keras_class} layer left for torch module '{m.torch_path}'")
                layer = queue.pop(0)
            rule = CUSTOM if m.rule_id == CUSTOM.id else by_class[m.keras_class]
            pairs.append((layer, torch_module.get_submodule(m.torch_path), rule, m.extra))
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


def _expand_repeats(info, torch_module):
    """`blocks.*` (a layer repeated a non-constant number of times) -> blocks.0, blocks.1, ..."""
    import copy
    from dataclasses import replace
    if not any(".*" in m.torch_path for m in info.layers):
        return info
    layers = []
    for m in info.layers:
        if ".*" not in m.torch_path:
            layers.append(m)
            continue
        head, _, tail = m.torch_path.partition(".*")
        count = len(torch_module.get_submodule(head))
        layers += [replace(m, torch_path=f"{head}.{i}{tail}") for i in range(count)]
    info = copy.copy(info)
    info.layers = layers
    return info


class _CustomRule:
    """Pairs a custom Keras layer class of the file with its translation; its own variables
    (created with add_weight) are copied by attribute name."""
    id = "custom"
    weights: list = []


CUSTOM = _CustomRule()


def _is_variable(value) -> bool:
    return hasattr(value, "numpy") and hasattr(value, "shape") and hasattr(value, "assign") \
        and not hasattr(value, "weights")


def _port_own_variables(layer, module, torch_path, weights_only: bool = False) -> list:
    import numpy as np
    import torch

    done = []
    weights = {id(w) for w in layer.weights} if weights_only else None
    for name, value in vars(layer).items():
        if not _is_variable(value) or (weights is not None and id(value) not in weights):
            continue
        target = getattr(module, name, None)
        if target is None or not hasattr(target, "shape"):
            raise PortError(f"custom layer '{layer.name}': torch module '{torch_path}' has no tensor '{name}'")
        array = np.asarray(value.numpy())
        if tuple(target.shape) != array.shape:
            raise PortError(f"shape mismatch porting {layer.name}.{name} -> {torch_path}.{name}: "
                            f"{array.shape} vs {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(target.dtype))
        done.append((f"{layer.name}/{name}", f"{torch_path}.{name}"))
    return done


def _holds_tensors(module) -> bool:
    """A torch module with parameters or buffers. A wrapper rule (TimeDistributed) maps to a module
    only when the layer it wraps has weights; a weightless one (MaxPooling2D) pairs with nothing, like
    its Keras layer, which has no weights either."""
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


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


def weight_items(layer, rule, by_class) -> list[tuple]:
    """[(Keras weight name, value for torch, torch name)] of one Keras layer, by its rule's weights.

    An entry whose transform is a sublayer transform ports a sublayer (or a list of them) with the
    sublayer's own rule, recursively; its torch names come from the entry's `torch` pattern.
    """
    import numpy as np

    weights = {_weight_name(w): np.asarray(w.numpy() if hasattr(w, "numpy") else w) for w in layer.weights}
    items = []
    for spec in rule.weights:
        transform = WEIGHT_TRANSFORMS[spec.transform]
        port = getattr(transform, "port_sublayer", None)
        if port is not None:
            sub = getattr(layer, spec.keras, None)
            if sub is None:
                if spec.optional:
                    continue
                raise PortError(f"Keras layer '{layer.name}' has no sublayer '{spec.keras}'")
            items += port(sub, spec, lambda inner: weight_items(inner, _sublayer_rule(layer, inner, by_class),
                                                                by_class))
            continue
        if spec.keras not in weights:
            if spec.optional:
                continue
            raise PortError(f"Keras layer '{layer.name}' has no weight '{spec.keras}' "
                            f"(has: {sorted(weights)})")
        items.append((spec.keras, transform(weights[spec.keras]), spec.torch))
    return items


def _sublayer_rule(layer, inner, by_class):
    rule = by_class.get(type(inner).__name__)
    if rule is None:
        raise PortError(f"Keras layer '{layer.name}' holds a {type(inner).__name__} ('{inner.name}'), "
                        "which has no rule")
    return rule


def port_weights(keras_model, torch_module, mapping=None):
    """Copy weights; returns the list of (keras weight path, torch parameter path) ported."""
    import numpy as np
    import torch

    rules = load_rules()
    by_class = _rule_by_class(rules)
    pairs = pair_layers(keras_model, torch_module, mapping, rules)
    names = {id(m): n for n, m in torch_module.named_modules()}
    # the model's own add_weight variables (not its counters: tf_keras keeps _train_counter there)
    done = [(k, t.lstrip(".")) for k, t in _port_own_variables(keras_model, torch_module, "", weights_only=True)]
    for layer, module, rule, extra in pairs:
        if rule is CUSTOM:
            done += _port_own_variables(layer, module, names.get(id(module)))
            continue
        for keras_name, value, torch_name in weight_items(layer, rule, by_class):
            if extra.get("flatten_from") and torch_name == "weight":
                value = _flatten_permute(value, extra["flatten_from"])
            target = _tensor_at(module, torch_name)
            if target is None:
                raise PortError(f"torch module '{names.get(id(module))}' has no '{torch_name}'")
            if isinstance(target, torch.nn.parameter.UninitializedParameter):
                raise PortError(f"torch module '{names.get(id(module))}' is a lazy module whose "
                                f"'{torch_name}' is not initialised yet: run one forward pass first")
            if tuple(target.shape) != tuple(value.shape):
                raise PortError(f"shape mismatch porting {layer.name}.{keras_name} -> "
                                f"{names.get(id(module))}.{torch_name}: {value.shape} vs {tuple(target.shape)}")
            with torch.no_grad():
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(target.dtype))
            done.append((f"{layer.name}/{keras_name}", f"{names.get(id(module))}.{torch_name}"))
    return done
