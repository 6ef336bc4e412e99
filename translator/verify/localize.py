"""Find the first layer whose output diverges between the Keras model and its translation.

The translation's mapping (ModelInfo.layers) pairs each Keras layer with a torch submodule. Both
models run once more on the verified inputs while recording, for the first call of each mapped
layer, its inputs and outputs:

- torch: forward pre-hooks and forward hooks on the mapped submodules (in execution order);
- Keras: each mapped layer's `call` is wrapped for the run (eager, so Sequential, functional and
  subclassed models alike). A layer with a fused activation (`Conv2D(..., activation="relu")`),
  whose translation applies the activation in `forward`, is also recorded before its activation.

Walking the mapped layers in torch execution order, the first layer whose *input* differs while
the previous layer's output matched points at the code between the two (an activation in
`forward`, a reshape, an op); the first layer whose *output* differs while its input matched is the
diverging layer. Tensors are compared in Keras axis order: a channels-first torch tensor is moved
back, and the input of a Linear after a channels-first Flatten is reordered (C, spatial) ->
(spatial, C). A pair whose shapes cannot be aligned is skipped.
"""
from __future__ import annotations

import re
from collections import defaultdict

from .compare import error_stats
from .port import _keras_layers, _rule_by_class

_AUTO_NAME = re.compile(r"^(.*?)(?:_(\d+))?$")


def _creation_key(layer, index):
    m = _AUTO_NAME.match(layer.name)
    return (int(m.group(2) or 0) if m and m.group(2) else 0, index)


def _expand(entries, torch_module):
    """`blocks.*` (a layer repeated a non-constant number of times) -> blocks.0, blocks.1, ..."""
    from dataclasses import replace
    out = []
    for m in entries:
        if ".*" not in m.torch_path:
            out.append(m)
            continue
        head, _, tail = m.torch_path.partition(".*")
        try:
            count = len(torch_module.get_submodule(head))
        except Exception:  # noqa: BLE001
            continue
        out += [replace(m, torch_path=f"{head}.{i}{tail}") for i in range(count)]
    return out


def pair_mapped_layers(keras_model, torch_module, info, rules) -> list[tuple]:
    """[(LayerMapping, keras layer, torch submodule)] for every mapped layer that both sides have.

    Keras layers pair by `name=` when the source gave one, else the k-th Keras layer of a rule in
    creation order with the k-th mapping entry of that rule (as weight porting pairs them)."""
    by_class = _rule_by_class(rules)
    groups = defaultdict(list)
    for i, layer in enumerate(_keras_layers(keras_model, rules)):
        rule = by_class.get(type(layer).__name__)
        key = rule.id if rule is not None else f"custom:{type(layer).__name__}"
        groups[key].append((i, layer))
    for key in groups:
        groups[key] = [layer for _, layer in sorted(groups[key], key=lambda p: _creation_key(p[1], p[0]))]
    entries = _expand(list(info.layers), torch_module)
    named = {layer.name: layer for group in groups.values() for layer in group}
    used = {id(named[m.keras_name]) for m in entries if m.keras_name and m.keras_name in named}
    queues = {key: [layer for layer in group if id(layer) not in used] for key, group in groups.items()}
    pairs = []
    for m in entries:
        try:
            sub = torch_module.get_submodule(m.torch_path)
        except Exception:  # noqa: BLE001 - a hand-edited translation may have renamed it
            sub = None
        if m.keras_name and m.keras_name in named:
            layer = named[m.keras_name]
        else:
            key = f"custom:{m.keras_class}" if m.rule_id == "custom" else m.rule_id
            queue = queues.get(key) or []
            layer = queue.pop(0) if queue else None
        if layer is not None and sub is not None:
            pairs.append((m, layer, sub))
    return pairs


def fused_activation(layer, rule) -> str | None:
    """The name of a layer's fused activation that the translation applies in `forward`, else None."""
    if rule is None:
        return None
    param = rule.param("activation")
    if param is None or getattr(param, "lower", None) != "activation":
        return None
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) or type(act).__name__ if act is not None else None
    if act is None or name in (None, "linear"):
        return None
    return name


def _to_numpy_list(value) -> list | None:
    import numpy as np
    import tensorflow as tf
    try:
        flat = tf.nest.flatten(value)
        return [np.asarray(v) for v in flat if hasattr(v, "shape")]
    except Exception:  # noqa: BLE001 - symbolic tensors inside a traced function
        return None


def capture_keras(keras_model, keras_in, layers_with_activation, call=None) -> dict:
    """{id(layer): {"inputs", "outputs", "pre"}} for the first call of each given layer.

    `layers_with_activation` is [(layer, activation name or None)]; `call(model)` runs the model
    (default: `model(keras_in, training=False)`)."""
    import keras
    records: dict = {}
    wrapped = []
    for layer, act in layers_with_activation:
        if "call" in vars(layer):
            continue
        original = layer.call

        def wrapper(*args, _orig=original, _layer=layer, _act=act, **kwargs):
            out = _orig(*args, **kwargs)
            if id(_layer) not in records:
                record = {"inputs": _to_numpy_list(args[0]) if args else None,
                          "outputs": _to_numpy_list(out), "pre": None}
                if _act is not None:
                    saved = _layer.activation
                    try:
                        _layer.activation = keras.activations.linear
                        record["pre"] = _to_numpy_list(_orig(*args, **kwargs))
                    except Exception:  # noqa: BLE001
                        record["pre"] = None
                    finally:
                        _layer.activation = saved
                records[id(_layer)] = record
            return out
        layer.call = wrapper
        wrapped.append(layer)
    try:
        if call is not None:
            call(keras_model)
        else:
            keras_model(keras_in, training=False)
    finally:
        for layer in wrapped:
            try:
                del layer.call
            except AttributeError:
                pass
    return records


def capture_torch(torch_module, torch_inputs, paths) -> dict:
    """{path: {"inputs", "outputs", "order"}} for the first call of each mapped submodule."""
    import torch
    records: dict = {}
    handles = []

    def tensors(value):
        out = []
        if isinstance(value, torch.Tensor):
            out.append(value.detach().cpu().numpy())
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += tensors(v)
        elif isinstance(value, dict):
            for v in value.values():
                out += tensors(v)
        return out

    for path in paths:
        try:
            sub = torch_module.get_submodule(path)
        except Exception:  # noqa: BLE001
            continue

        def pre(_mod, args, _path=path):
            if _path not in records:
                records[_path] = {"inputs": tensors(args), "outputs": None, "order": len(records)}

        def post(_mod, _args, output, _path=path):
            record = records.get(_path)
            if record is not None and record["outputs"] is None:
                record["outputs"] = tensors(output)
        handles.append(sub.register_forward_pre_hook(pre))
        handles.append(sub.register_forward_hook(post))
    try:
        with torch.inference_mode():
            torch_module(*torch_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return records


def _candidates(t, k_shape, flatten_from=None):
    """Views of a torch array in Keras axis order that have the Keras shape."""
    import numpy as np
    out = []
    if t.shape == k_shape:
        out.append(t)
    if t.ndim >= 3:
        moved = np.moveaxis(t, 1, -1)
        if moved.shape == k_shape:
            out.append(moved)
    if flatten_from and t.ndim == 2 and len(k_shape) == 2 and t.shape == k_shape:
        channels = flatten_from[-1]
        if isinstance(channels, int) and channels > 0 and t.shape[1] % channels == 0:
            out.append(t.reshape(t.shape[0], channels, -1).transpose(0, 2, 1).reshape(t.shape[0], -1))
    return out


def best_match(keras_arrays, torch_arrays, atol, rtol, flatten_from=None) -> dict | None:
    """The closest alignment of torch arrays onto Keras arrays (pairwise, in order), or None when
    no alignment fits the shapes. With one Keras array and several torch ones (an RNN returning
    (output, state)), any torch array may be the counterpart."""
    if not keras_arrays or not torch_arrays:
        return None
    if len(keras_arrays) == len(torch_arrays):
        pairs = [list(zip(keras_arrays, torch_arrays))]
    elif len(keras_arrays) == 1:
        pairs = [[(keras_arrays[0], t)] for t in torch_arrays]
    else:
        return None
    best = None
    for combo in pairs:
        stats = []
        for k, t in combo:
            views = _candidates(t, k.shape, flatten_from)
            if not views:
                stats = None
                break
            options = [error_stats(k, v, atol, rtol) for v in views]
            stats.append(min(options, key=lambda s: (not s["passed"], s["max_abs"] or 0.0)))
        if stats is None:
            continue
        merged = {"passed": all(s["passed"] for s in stats),
                  "max_abs": max(s["max_abs"] or 0.0 for s in stats),
                  "max_rel": max(s["max_rel"] or 0.0 for s in stats)}
        if best is None or (not merged["passed"], merged["max_abs"]) < (not best["passed"], best["max_abs"]):
            best = merged
    return best


def first_divergence(pairs, keras_records, torch_records, rules, atol, rtol) -> dict:
    """The first diverging point, as a dict for the report (see the module docstring)."""
    by_class = _rule_by_class(rules)
    ordered = sorted((p for p in pairs if p[0].torch_path in torch_records and id(p[1]) in keras_records),
                     key=lambda p: torch_records[p[0].torch_path]["order"])
    checked = []
    prev = None            # (mapping, layer, activation name, matched only before its activation)
    for m, layer, _sub in ordered:
        k, t = keras_records[id(layer)], torch_records[m.torch_path]
        flatten_from = (m.extra or {}).get("flatten_from")
        in_stat = best_match(k["inputs"], t["inputs"], atol, rtol, flatten_from)
        if in_stat is not None and not in_stat["passed"]:
            return _input_divergence(m, layer, in_stat, prev, checked)
        act = fused_activation(layer, by_class.get(type(layer).__name__))
        post = best_match(k["outputs"], t["outputs"], atol, rtol)
        pre = best_match(k["pre"], t["outputs"], atol, rtol) if k.get("pre") else None
        options = [s for s in (post, pre) if s is not None]
        if not options:
            checked.append(_entry(m, layer, "not comparable (shapes differ)", None))
            continue
        stat = min(options, key=lambda s: (not s["passed"], s["max_abs"]))
        if not stat["passed"]:
            where = "its input matched" if in_stat is not None else "its input was not comparable"
            return {"found": True, "kind": "output", **_entry(m, layer, "output differs", stat),
                    "message": f"first diverging layer: '{layer.name}' ({type(layer).__name__}, line {m.line}, "
                               f"torch module '{m.torch_path}'): its output differs (max abs "
                               f"{stat['max_abs']:.3g}) while {where}",
                    "checked": checked}
        pre_only = pre is not None and pre["passed"] and not (post is not None and post["passed"])
        checked.append(_entry(m, layer, "matches" + (" (before its activation)" if pre_only else ""), stat))
        prev = (m, layer, act, pre_only)
    if prev is not None and prev[3]:
        m, layer, act, _ = prev
        return {"found": True, "kind": "activation", **_entry(m, layer, "output after its activation differs", None),
                "message": f"first diverging layer: '{layer.name}' ({type(layer).__name__}, line {m.line}, "
                           f"torch module '{m.torch_path}'): it matches before its activation '{act}' but the "
                           "model's output differs: check the activation applied after it in forward",
                "checked": checked}
    after = (f" after the last mapped layer '{prev[1].name}' (line {prev[0].line})" if prev is not None else "")
    return {"found": False, "kind": None,
            "message": f"no mapped layer diverges: the difference is in code without a mapped module{after} "
                       "(an op or activation in forward)",
            "checked": checked}


def _entry(m, layer, status, stat) -> dict:
    return {"layer": layer.name, "keras_class": type(layer).__name__, "torch_path": m.torch_path,
            "line": m.line, "status": status,
            "max_abs": None if stat is None else stat["max_abs"]}


def _input_divergence(m, layer, stat, prev, checked) -> dict:
    if prev is not None and prev[3]:
        pm, player, act, _ = prev
        return {"found": True, "kind": "activation", **_entry(pm, player, "output after its activation differs", stat),
                "message": f"first diverging layer: '{player.name}' ({type(player).__name__}, line {pm.line}, "
                           f"torch module '{pm.torch_path}'): it matches before its activation '{act}', but "
                           f"the input of the next layer '{layer.name}' (line {m.line}) differs (max abs "
                           f"{stat['max_abs']:.3g}): check the activation applied after it in forward",
                "checked": checked}
    between = (f" between '{prev[1].name}' (line {prev[0].line}) and it" if prev is not None else
               " before it (the model's input handling)")
    return {"found": True, "kind": "input", **_entry(m, layer, "input differs", stat),
            "message": f"first divergence: the input of '{layer.name}' ({type(layer).__name__}, line {m.line}, "
                       f"torch module '{m.torch_path}') differs (max abs {stat['max_abs']:.3g}): the code"
                       f"{between} in forward",
            "checked": checked}


def translated_lines(code: str, torch_path: str) -> dict:
    """Where a mapped module appears in translated code: {"defined": line of `self.<attr> = ...`,
    "called": first line calling `self.<attr>(` or `self.<attr>[`} (1-based; absent when not found).
    For a nested path (`block.conv`) the first component is searched."""
    attr = re.escape(torch_path.split(".")[0])
    defined = re.compile(rf"^\s*self\.{attr}\s*[:=]")
    called = re.compile(rf"self\.{attr}\s*[(\[]")
    out = {}
    for i, line in enumerate(code.splitlines(), 1):
        if "defined" not in out and defined.match(line):
            out["defined"] = i
        elif "called" not in out and called.search(line) and not defined.match(line):
            out["called"] = i
    return out


def localize(keras_model, torch_module, keras_in, torch_inputs, info, rules, atol, rtol,
             translated_code: str | None = None) -> dict:
    """Record both models' intermediate outputs and return the first divergence (a report dict)."""
    pairs = pair_mapped_layers(keras_model, torch_module, info, rules)
    by_class = _rule_by_class(rules)
    layers = [(layer, fused_activation(layer, by_class.get(type(layer).__name__))) for _, layer, _ in pairs]
    keras_records = capture_keras(keras_model, keras_in, layers)
    torch_records = capture_torch(torch_module, torch_inputs, [m.torch_path for m, _, _ in pairs])
    result = first_divergence(pairs, keras_records, torch_records, rules, atol, rtol)
    result["mapped_layers"] = len(pairs)
    if result.get("found") and translated_code is not None:
        result["translated_lines"] = translated_lines(translated_code, result["torch_path"])
    return result
