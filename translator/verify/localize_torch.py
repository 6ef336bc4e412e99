"""Find the first layer whose output diverges between a torch original and its Keras translation.

The torch leaves with weights and their Keras layers are paired the way weight porting pairs them
(`port_torch.pair_leaves`: submodule attribute = Keras attribute, nn.Sequential children with
weights in order). Both models run once more on the verified inputs, recording the first call of
each paired layer (torch: forward hooks; Keras: the layer's `call` wrapped, see localize.py).

Walking the pairs in torch execution order: the first pair whose *input* differs (while the
previous one's output matched) points at the code between the two in `forward` (an activation, a
reshape, an op, or the model's input handling); the first pair whose *output* differs while its
input matched is the diverging layer (a wrong hyper-parameter such as a BatchNorm eps, or a wrong
weight port such as a Dense kernel after a flatten, or GRU gates in the wrong order). Tensors are
compared in Keras axis order (channels-first torch tensors moved back; the input of a Linear after
a flatten of a channels-first map reordered (C, spatial) -> (spatial, C)).

The report names the torch module, its class and line in the original file, the Keras layer, and,
for --against, where that attribute is defined and called in the translated file.
"""
from __future__ import annotations

import re

from .localize import best_match, capture_keras, capture_torch, translated_lines


_RNN_PART = re.compile(r"\[l\d+(?:_reverse)?\]$")     # port_torch_rnn's per-layer paths: `gru[l0]`


def _source_line(source: str | None, torch_path: str) -> int | None:
    """Line of `self.<first path component> =` in the original source (a fallback)."""
    if not source:
        return None
    attr = re.escape(torch_path.split(".")[0])
    pattern = re.compile(rf"^\s*self\.{attr}\s*[:=]")
    for i, line in enumerate(source.splitlines(), 1):
        if pattern.match(line):
            return i
    return None


def _describe(entry: dict) -> str:
    line = f", line {entry['line']}" if entry.get("line") else ""
    return (f"torch module '{entry['torch_path']}' ({entry['torch_class']}{line}) -> Keras layer "
            f"'{entry['layer']}' ({entry['keras_class']})")


def localize_torch(keras_model, torch_module, keras_in, torch_inputs, info, rules, atol, rtol,
                   translated_code: str | None = None, original_source: str | None = None) -> dict:
    """Record both models' intermediate outputs and return the first divergence (a report dict)."""
    from .port_torch import pair_leaves
    groups: dict = {}        # torch module path -> (module, [Keras layers]); an RNN's layers share one
    for path, tm, layer in pair_leaves(torch_module, keras_model):
        groups.setdefault(_RNN_PART.sub("", path), (tm, []))[1].append(layer)
    pairs = [(path, tm, layers) for path, (tm, layers) in groups.items()]
    by_path = {m.torch_path: m for m in (info.layers if info is not None else [])}
    arrays = keras_in if isinstance(keras_in, list) else [keras_in]
    keras_records = capture_keras(keras_model, keras_in, [(layer, None) for _, _, ls in pairs for layer in ls],
                                  call=lambda model: model(*arrays, training=False))
    torch_records = capture_torch(torch_module, [t.clone() for t in torch_inputs], [p for p, _, _ in pairs])
    ordered = sorted((p for p in pairs if p[0] in torch_records and all(id(x) in keras_records for x in p[2])),
                     key=lambda p: torch_records[p[0]]["order"])
    checked = []
    prev = None
    for path, tm, layers in ordered:
        layer = layers[0]
        mapping = by_path.get(path)
        line = mapping.line if mapping is not None else _source_line(original_source, path)
        extra = (mapping.extra or {}) if mapping is not None else {}
        flatten = [extra["flatten_channels"]] if extra.get("flatten_channels") else None
        entry = {"layer": layer.name, "keras_class": type(layer).__name__, "torch_path": path,
                 "torch_class": type(tm).__name__, "line": line}
        # several Keras layers for one torch module (a stacked RNN): the first one's input, the last one's output
        k = {"inputs": keras_records[id(layers[0])]["inputs"], "outputs": keras_records[id(layers[-1])]["outputs"]}
        t = torch_records[path]
        in_stat = best_match(k["inputs"], t["inputs"], atol, rtol, flatten)
        if in_stat is not None and not in_stat["passed"]:
            between = (f"between torch module '{prev['torch_path']}' (line {prev['line']}) and it" if prev
                       else "before it (the model's input handling)")
            return {"found": True, "kind": "input", **entry, "status": "input differs",
                    "max_abs": in_stat["max_abs"],
                    "message": f"first divergence: the input of {_describe(entry)} differs (max abs "
                               f"{in_stat['max_abs']:.3g}): the code {between} in forward",
                    "checked": checked, "mapped_layers": len(pairs),
                    **_lines(translated_code, path)}
        out_stat = best_match(k["outputs"], t["outputs"], atol, rtol)
        if out_stat is None:
            checked.append({**entry, "status": "not comparable (shapes differ)", "max_abs": None})
            continue
        if not out_stat["passed"]:
            where = "its input matched" if in_stat is not None else "its input was not comparable"
            return {"found": True, "kind": "output", **entry, "status": "output differs",
                    "max_abs": out_stat["max_abs"],
                    "message": f"first diverging layer: {_describe(entry)}: its output differs (max abs "
                               f"{out_stat['max_abs']:.3g}) while {where}",
                    "checked": checked, "mapped_layers": len(pairs),
                    **_lines(translated_code, path)}
        checked.append({**entry, "status": "matches", "max_abs": out_stat["max_abs"]})
        prev = entry
    after = f" after torch module '{prev['torch_path']}' (line {prev['line']})" if prev else ""
    return {"found": False, "kind": None, "checked": checked, "mapped_layers": len(pairs),
            "message": f"no layer with weights diverges: the difference is in code without weights{after} "
                       "(an op, activation or pooling in forward)"}


def _lines(code: str | None, path: str) -> dict:
    if code is None:
        return {}
    from ..torch_to_keras import keras_attr
    first, _, rest = path.partition(".")
    where = translated_lines(code, keras_attr(first) + (f".{rest}" if rest else ""))
    return {"translated_lines": where} if where else {}
