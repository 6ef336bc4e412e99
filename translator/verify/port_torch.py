"""Port a torch module's weights into the Keras model built from its translation (torch -> Keras).

    from translator.verify.port_torch import port_weights_to_keras
    result = translate_source(torch_code, to="keras")
    keras_model(keras_input)                      # build the Keras model (creates its variables)
    port_weights_to_keras(torch_module, keras_model, result.model("Net"))

Pairing walks both module trees in parallel (no guessing by creation order):
  - a submodule `self.<name>` of a translated class is the Keras attribute of the same name
    (`translator.torch_to_keras.keras_attr`: a name Keras reserves, `layers`, gets a trailing `_`);
  - an nn.Sequential is a keras.Sequential: their children *with weights* pair in order (the Keras
    side may hold extra weightless layers: ZeroPadding2D, Permute, Flatten);
  - a torch module with a rule is a leaf: its tensors go through the rule's `weights:` entries in
    reverse, each with the INVERSE of its named transform (`WEIGHT_TRANSFORMS[INVERSES[name]]`);
    torch tensors that one Keras weight was split into (LSTM bias_ih + bias_hh) are gathered by
    translator/rules/transforms_inverse.py. The rule is the one of the Keras layer's class
    (a Conv2d with groups == in_channels became a DepthwiseConv2D).
  - a Keras leaf wrapped in a keras.Sequential (a helper that pads then convolves) is that
    Sequential's only layer with weights.
The mapping (ModelInfo of the translation) adds facts only the translation knows, by torch path:
a Dense after a flatten of a channels-last image gets its kernel rows permuted from torch's
(C, H, W) order to Keras' (H, W, C) (`flatten_channels`). Every torch tensor must be used (except
BatchNorm's num_batches_tracked) and every Keras weight set, or PortError.

`port_weights_any(a, b, mapping)` takes the two models in either order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..rules import load_rules
from ..rules.transforms import INVERSES, WEIGHT_TRANSFORMS
from ..rules.transforms_inverse import gather_inverse
from .port import PortError, _rule_by_class, _weight_name
from .port_torch_rnn import is_rnn, port_rnn
from .port_torch_tied import port_tied

SKIP_TENSORS = {"num_batches_tracked"}


def _keras_attr(name: str) -> str:
    from ..torch_to_keras import keras_attr
    return keras_attr(name)


def _has_tensors(module) -> bool:
    return any(True for _ in module.parameters()) or any(
        True for n, _ in module.named_buffers() if n.rsplit(".", 1)[-1] not in SKIP_TENSORS)


def _keras_weighted(layer) -> bool:
    return bool(getattr(layer, "weights", None))


def _is_keras_sequential(layer) -> bool:
    return type(layer).__name__ == "Sequential" and hasattr(layer, "layers")


def _torch_rule(module, rules, _cache={}):
    """The rule of a torch leaf module (by its class), or None for containers / classes of the file."""
    from ..frontends.torch_models import TorchIndex
    index = _cache.get(id(rules))
    if index is None:
        index = _cache[id(rules)] = TorchIndex.build(rules)
    cls = type(module)
    path = f"torch.nn.{cls.__name__}"
    if cls.__module__.startswith("torch.nn") and path in index.classes:
        return index.classes[path]
    return None


@dataclass
class _Porter:
    rules: object
    extras: dict
    done: list = field(default_factory=list)
    by_keras_class: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)     # (torch path, torch leaf, Keras layer)
    dry: bool = False                             # pair only (localisation), assign nothing

    def walk(self, tm, km, path: str) -> None:
        import torch
        rule = _torch_rule(tm, self.rules)
        if rule is not None and is_rnn(tm):     # reached without its Keras parent: one layer only
            port_rnn(self, tm, None, None, path, keras_layer=km)
            return
        if rule is not None and isinstance(km, (list, tuple, dict)):    # several Keras layers (per group, ...)
            from .port_torch_listed import port_listed
            if port_listed(self, tm, km, path):
                return
        if rule is not None:
            self.leaf(tm, km, path)
            return
        if isinstance(tm, torch.nn.Sequential):
            if not _is_keras_sequential(km):
                raise PortError(f"torch '{path or '<root>'}' is an nn.Sequential, Keras has {type(km).__name__}")
            t_children = [(n, c) for n, c in tm.named_children() if _has_tensors(c)]
            k_children = [layer for layer in km.layers if _keras_weighted(layer)]
            if len(t_children) != len(k_children):
                raise PortError(f"'{path or '<root>'}': {len(t_children)} torch modules with weights vs "
                                f"{len(k_children)} Keras layers with weights")
            for (name, child), layer in zip(t_children, k_children):
                self.walk(child, layer, f"{path}.{name}" if path else name)
            return
        if isinstance(tm, (torch.nn.ModuleList, torch.nn.ModuleDict)):
            self.container(tm, km, path)
            return
        for name, child in tm.named_children():
            if not _has_tensors(child):
                continue
            child_path = f"{path}.{name}" if path else name
            if self.extras.get(child_path, {}).get("tied_to"):          # a Linear sharing an Embedding's matrix
                port_tied(self, tm, km, name, child_path, self.extras[child_path])
                continue
            if type(child).__name__ == "TransformerEncoderLayer":      # one Keras layer per torch sublayer
                self.encoder_layer(child, km, _keras_attr(name), child_path)
                continue
            if type(child).__name__ in ("TransformerEncoder", "TransformerDecoder", "TransformerDecoderLayer"):
                from .port_torch_transformer import port_transformer      # Keras lists / layers per sublayer
                port_transformer(self, child, km, _keras_attr(name), child_path)
                continue
            if is_rnn(child) and _torch_rule(child, self.rules) is not None:    # one Keras layer per torch layer
                port_rnn(self, child, km, _keras_attr(name), f"{path}.{name}" if path else name)
                continue
            sub = getattr(km, _keras_attr(name), None)
            if sub is None:
                raise PortError(f"Keras {type(km).__name__} has no attribute '{_keras_attr(name)}' for torch "
                                f"submodule '{path + '.' if path else ''}{name}'")
            self.walk(child, sub, f"{path}.{name}" if path else name)
        own = [n for n, _ in tm.named_parameters(recurse=False)] + \
              [n for n, _ in tm.named_buffers(recurse=False) if n not in SKIP_TENSORS]
        own = [n for n in own if not self.own_weight(tm, km, n, path)]
        if own:
            raise PortError(f"'{path or '<root>'}' ({type(tm).__name__}) holds its own tensors {own}: not translated")

    def own_weight(self, tm, km, name: str, path: str) -> bool:
        """An nn.Parameter of a class of the file -> the Keras weight of the same name (`self.add_weight`,
        translator/backends/keras_params.py: kept in torch axis order). False: no such Keras weight."""
        import numpy as np
        param = tm._parameters.get(name)
        variable = getattr(km, _keras_attr(name), None)
        if param is None or variable is None or not (hasattr(variable, "assign") and hasattr(variable, "shape")):
            return False
        value = param.detach().cpu().numpy()
        if tuple(variable.shape) != value.shape:
            raise PortError(f"shape mismatch porting torch '{path + '.' if path else ''}{name}': {value.shape} vs "
                            f"{tuple(variable.shape)}")
        if not self.dry:
            variable.assign(value.astype(np.dtype(getattr(variable.dtype, "name", variable.dtype))))
        self.done.append((f"{path + '.' if path else ''}{name}", _keras_attr(name)))
        return True

    def container(self, tm, km, path: str) -> None:
        """nn.ModuleList -> a Python list of Keras layers (by index); nn.ModuleDict -> a dict (by key)."""
        import torch
        if isinstance(tm, torch.nn.ModuleDict):
            if not hasattr(km, "keys") or set(km.keys()) != set(tm.keys()):
                raise PortError(f"'{path}': ModuleDict keys {sorted(tm.keys())} vs Keras "
                                f"{sorted(km.keys()) if hasattr(km, 'keys') else type(km).__name__}")
            pairs = [(k, tm[k], km[k]) for k in tm.keys()]
        else:
            if not isinstance(km, (list, tuple)) or len(km) != len(tm):
                raise PortError(f"'{path}': a ModuleList of {len(tm)} vs Keras {type(km).__name__}"
                                f"{f' of {len(km)}' if isinstance(km, (list, tuple)) else ''}")
            pairs = [(str(i), child, layer) for i, (child, layer) in enumerate(zip(tm, km))]
        for name, child, layer in pairs:
            if _has_tensors(child):
                self.walk(child, layer, f"{path}.{name}" if path else name)

    def leaf(self, tm, km, path: str, state: dict | None = None) -> None:
        import numpy as np
        if _is_keras_sequential(km):
            weighted = [layer for layer in km.layers if _keras_weighted(layer)]
            if len(weighted) != 1:
                raise PortError(f"torch '{path}' ({type(tm).__name__}) vs a keras.Sequential with "
                                f"{len(weighted)} layers with weights")
            km = weighted[0]
        self.pairs.append((path, tm, km))
        if self.dry:
            return
        if not km.built and not km.weights:
            # a submodule forward never calls: Keras never builds its layer, and its weights change no
            # output; nothing to port into (saving the Keras weights leaves it out)
            self.done.append((path, f"(not ported: {km.name} is never called, so Keras never built it)"))
            return
        if type(tm).__name__ == "MultiheadAttention":
            self.attention(tm, km, path)
            return
        rule = self.by_keras_class.get(type(km).__name__)
        if rule is None:
            raise PortError(f"Keras layer '{km.name}' ({type(km).__name__}) has no rule with weights")
        if state is None:
            state = {k: v.detach().cpu().numpy() for k, v in tm.state_dict().items() if k not in SKIP_TENSORS}
        weights = {_weight_name(w): w for w in km.weights}
        used = set()
        extra = self.extras.get(path, {})
        meta = {"depth_multiplier": getattr(km, "depth_multiplier", None)}
        groups: dict[str, list] = {}
        for spec in rule.weights:
            groups.setdefault(spec.keras, []).append(spec)
        for keras_name, specs in groups.items():
            present = [s for s in specs if s.torch in state]
            if keras_name not in weights:
                if all(s.optional for s in specs) and not present:
                    continue
                if all(s.optional for s in specs):     # Keras 2 / 3 names for the same kernel
                    continue
                raise PortError(f"Keras layer '{km.name}' has no weight '{keras_name}'")
            if not present:
                if all(s.optional for s in specs):
                    continue
                raise PortError(f"torch '{path}' has none of {[s.torch for s in specs]}")
            if len(present) != len(specs):
                raise PortError(f"torch '{path}': only {[s.torch for s in present]} of {[s.torch for s in specs]}")
            if len(specs) == 1:
                inverse = INVERSES.get(specs[0].transform)
                if inverse is None:
                    raise PortError(f"rule '{rule.id}': the transform '{specs[0].transform}' has no inverse")
                meta["keras_shape"] = tuple(weights[keras_name].shape)    # for inverses that reshape
                value = WEIGHT_TRANSFORMS[inverse](state[specs[0].torch], meta)
            else:
                fn = gather_inverse([s.transform for s in specs])
                if fn is None:
                    raise PortError(f"rule '{rule.id}': no gathered inverse for {[s.transform for s in specs]}")
                value = fn([state[s.torch] for s in specs], meta)
            if keras_name == "kernel" and extra.get("flatten_channels"):
                value = _unflatten_rows(value, extra["flatten_channels"])
            variable = weights[keras_name]
            if tuple(variable.shape) != tuple(value.shape):
                raise PortError(f"shape mismatch porting torch '{path}' -> Keras '{km.name}/{keras_name}': "
                                f"{value.shape} vs {tuple(variable.shape)}")
            variable.assign(np.ascontiguousarray(value).astype(np.dtype(getattr(variable.dtype, "name", variable.dtype))))
            used |= {s.torch for s in specs}
            self.done.append((f"{path}.{'+'.join(s.torch for s in specs)}", f"{km.name}/{keras_name}"))
        left = set(state) - used
        if left:
            raise PortError(f"torch '{path}' ({type(tm).__name__}): tensors not ported: {sorted(left)}")


    def attention(self, tm, km, path: str) -> None:
        """nn.MultiheadAttention -> keras.layers.MultiHeadAttention: the packed in_proj split into the
        query/key/value EinsumDense kernels (translator/rules/transforms_inverse_attention.py)."""
        import numpy as np
        from ..rules.transforms_inverse_attention import multihead_attention_weights
        if type(km).__name__ != "MultiHeadAttention":
            raise PortError(f"torch '{path}' (MultiheadAttention) vs Keras {type(km).__name__}")
        state = {k: v.detach().cpu().numpy() for k, v in tm.state_dict().items()}
        try:
            parts = multihead_attention_weights(state, tm.num_heads)
        except ValueError as exc:
            raise PortError(f"torch '{path}': {exc}") from None
        for attr, weights in parts.items():
            dense = getattr(km, attr)
            for name, value in weights.items():
                variable = getattr(dense, name, None)
                if variable is None or tuple(variable.shape) != tuple(value.shape):
                    raise PortError(f"shape mismatch porting torch '{path}' -> Keras '{km.name}/{attr}/{name}': "
                                    f"{value.shape} vs {None if variable is None else tuple(variable.shape)}")
                variable.assign(np.ascontiguousarray(value).astype("float32"))
                self.done.append((f"{path}.{attr}", f"{km.name}/{attr[1:-len('_dense')]}/{name}"))
        for attr in ("_query_dense", "_key_dense", "_value_dense", "_output_dense"):
            if getattr(getattr(km, attr), "bias", None) is not None and "bias" not in parts[attr]:
                raise PortError(f"Keras '{km.name}' has biases that torch '{path}' has not")


    def encoder_layer(self, tm, parent, attr: str, path: str) -> None:
        """nn.TransformerEncoderLayer -> the Keras layers `attr` (attention), `attr`_linear1/2 and
        `attr`_norm1/2 of the parent (translator/backends/keras_hatches_attention.py)."""
        def layer(suffix):
            km = getattr(parent, attr + suffix, None)
            if km is None:
                raise PortError(f"Keras {type(parent).__name__} has no attribute '{attr + suffix}' for torch '{path}'")
            return km
        self.pairs.append((path + ".self_attn", tm.self_attn, layer("")))
        if self.dry:
            return
        self.attention(tm.self_attn, layer(""), path + ".self_attn")
        for name in ("linear1", "linear2", "norm1", "norm2"):
            self.leaf(getattr(tm, name), layer("_" + name), f"{path}.{name}")


def _unflatten_rows(kernel, channels: int):
    """Dense kernel (in, out) with rows in torch's (C, S) order -> Keras' flatten order (S, C)."""
    import numpy as np
    rows, out = kernel.shape
    if rows % channels:
        raise PortError(f"cannot reorder {rows} kernel rows for {channels} channels")
    return np.ascontiguousarray(kernel.reshape(channels, rows // channels, out).transpose(1, 0, 2).reshape(rows, out))


def _extras_of(mapping) -> dict:
    if mapping is None:
        return {}
    if hasattr(mapping, "models"):
        if len(mapping.models) != 1:
            raise PortError(f"the translation holds {len(mapping.models)} models; pass result.model(name)")
        mapping = mapping.models[0]
    return {m.torch_path: m.extra for m in mapping.layers if m.extra}


def port_weights_to_keras(torch_module, keras_model, mapping=None):
    """Copy a torch module's weights into the (built) Keras model translated from its source.

    Returns [(torch tensor path(s), Keras weight path)]. The Keras model must be built (call it once).
    """
    rules = load_rules()
    porter = _Porter(rules, _extras_of(mapping), by_keras_class=_rule_by_class(rules))
    porter.walk(torch_module, keras_model, "")
    return porter.done


def pair_leaves(torch_module, keras_model) -> list:
    """[(torch path, torch leaf module, Keras layer)] for every torch leaf with weights, paired as
    porting pairs them (in torch module order); nothing is assigned."""
    rules = load_rules()
    porter = _Porter(rules, {}, by_keras_class=_rule_by_class(rules), dry=True)
    porter.walk(torch_module, keras_model, "")
    return porter.pairs


def port_weights_any(a, b, mapping=None):
    """port_weights with the two models in either order: torch -> Keras or Keras -> torch."""
    import torch
    if isinstance(a, torch.nn.Module):
        return port_weights_to_keras(a, b, mapping)
    from .port import port_weights
    return port_weights(a, b, mapping)


# ---- comparison (tests and verify) -----------------------------------------------------------------

def randomize_torch(module, seed: int = 0) -> None:
    """Random values for what torch initialises to constants: biases, BatchNorm/LayerNorm affine and
    running statistics (variances positive), so that a wrong port cannot hide behind zeros/ones."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            last = name.rsplit(".", 1)[-1]
            if last == "num_batches_tracked":
                continue
            if last == "running_var":
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif last == "running_mean" or "bias" in last:
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
            elif t.dim() == 1 and last == "weight":          # norm scales
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point() and t.numel() and bool((t == t.reshape(-1)[0]).all()):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)     # any other constant (nn.Parameter(torch.zeros(n)))


@dataclass
class TorchComparison:
    max_abs: list = field(default_factory=list)
    scale: list = field(default_factory=list)
    result: object = None
    ported: list = field(default_factory=list)

    def ok(self, atol: float = 1e-5) -> bool:
        return all(a <= atol * max(1.0, s) for a, s in zip(self.max_abs, self.scale))


def compare_torch_source(torch_code: str, entry: str, inputs: list, model_name: str | None = None,
                         layout: str = "native", input_shape=None, result=None, seed: int = 0) -> TorchComparison:
    """Translate torch source to Keras, build `entry` in both, port torch -> Keras, compare outputs.

    `inputs` are numpy arrays in torch layout (NCHW). The torch model runs in eval() mode, the Keras
    model with training=False.
    """
    import numpy as np
    import torch
    from ..api import translate_source
    from .compare import exec_source

    result = result or translate_source(torch_code, to="keras", layout=layout, input_shape=input_shape)
    errors = [f for f in result.findings if f.severity == "error"]
    if result.error or errors:
        raise AssertionError("translation reported errors:\n" + "\n".join(f.format() for f in result.findings)
                             + "\n" + result.code)
    torch.manual_seed(seed)
    torch_model = eval(entry, exec_source(torch_code, "torch_original"))
    randomize_torch(torch_model, seed)
    torch_model.eval()
    with torch.no_grad():
        t_out = torch_model(*[torch.from_numpy(np.array(a, copy=True)) for a in inputs])   # in-place ops
    t_out = [o.numpy() for o in (t_out if isinstance(t_out, (list, tuple)) else [t_out])]
    keras_model = eval(entry, exec_source(result.code, "keras_translation"))
    name = model_name or entry.split("(")[0].strip()
    info = result.model(name)
    k_inputs = []
    for arr, spec in zip(inputs, info.inputs):
        if spec.permute:
            arr = np.transpose(arr, np.argsort(spec.permute))
        k_inputs.append(np.ascontiguousarray(arr))
    keras_model(*k_inputs, training=False)         # builds every variable (call(self, x, y, ...))
    ported = port_weights_to_keras(torch_model, keras_model, info)
    k_out = keras_model(*k_inputs, training=False)
    k_out = [np.asarray(o) for o in (k_out if isinstance(k_out, (list, tuple)) else [k_out])]
    comparison = TorchComparison(result=result, ported=ported)
    if len(k_out) != len(t_out):
        raise AssertionError(f"{len(t_out)} torch outputs vs {len(k_out)} Keras outputs")
    for i, (t, k) in enumerate(zip(t_out, k_out)):
        spec = info.outputs[i] if i < len(info.outputs) else None
        if spec is not None and spec.permute:
            k = np.transpose(k, spec.permute)
        if k.shape != t.shape:
            raise AssertionError(f"output {i}: torch shape {t.shape} vs Keras shape {k.shape}")
        comparison.max_abs.append(float(np.max(np.abs(k - t))) if t.size else 0.0)
        comparison.scale.append(float(np.max(np.abs(t))) if t.size else 0.0)
    return comparison
