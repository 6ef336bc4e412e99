"""Build a Keras model and its translation from source, port weights, run both, compare outputs.

Executes user code: used by tests and `verify` only, never by the translation path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..api import Result, translate_source
from .port import port_weights


@dataclass
class Comparison:
    max_abs: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    result: Result | None = None

    @property
    def max_rel(self) -> float:
        return max(a / max(s, 1e-12) for a, s in zip(self.max_abs, self.scale))

    def ok(self, atol: float = 1e-5) -> bool:
        """Max abs error within atol relative to the output scale (max(1, max |keras output|))."""
        return all(a <= atol * max(1.0, s) for a, s in zip(self.max_abs, self.scale))


def exec_source(code: str, name: str) -> dict:
    namespace: dict = {"__name__": name}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def random_input(shape, dtype="float32", low=0, high=10, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    if dtype.startswith("int"):
        return rng.integers(low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def randomize_weights(keras_model, seed=0):
    """Give the weights that Keras initialises to constants random values, in place.

    Biases (zeros), BatchNormalization gamma/beta (ones/zeros) and moving statistics
    (zeros/ones) would let a wrong port pass; kernels keep their (already random) values.
    Works on Keras 3 and tf_keras models. Variances stay positive.
    """
    import numpy as np
    rng = np.random.default_rng(seed)
    for layer in keras_model._flatten_layers(include_self=False, recursive=True):
        weights = layer.weights
        if not weights:
            continue
        values = []
        for variable in weights:
            value = np.asarray(variable.numpy())
            name = (getattr(variable, "path", None) or variable.name).split("/")[-1].split(":")[0]
            if name in ("moving_variance", "gamma"):
                value = rng.uniform(0.5, 1.5, value.shape)
            elif name in ("moving_mean", "beta") or "bias" in name:
                value = rng.normal(0.0, 0.2, value.shape)
            values.append(value.astype(np.asarray(variable.numpy()).dtype))
        layer.set_weights(values)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def compare_source(keras_code: str, entry: str, inputs: list, model_name: str | None = None,
                   layout: str = "native", input_shape=None, result: Result | None = None,
                   prepare=None) -> Comparison:
    """Translate `keras_code`, build `entry` in both, port weights, run both on `inputs` (numpy).

    `prepare(keras_model)`, when given, runs on the Keras model (called once on `inputs`, so that
    every weight exists) before the reference outputs are computed and anything is ported
    (e.g. `randomize_weights`, so that zero biases and fresh BatchNorm statistics prove nothing).
    """
    import numpy as np
    import torch

    result = result or translate_source(keras_code, layout=layout, input_shape=input_shape)
    errors = [f for f in result.findings if f.severity == "error"]
    if result.error or errors:
        raise AssertionError("translation reported errors:\n" + "\n".join(f.format() for f in result.findings)
                             + "\n" + result.code)
    keras_ns = exec_source(keras_code, "keras_original")
    keras_model = eval(entry, keras_ns)
    keras_in = inputs if len(inputs) > 1 else inputs[0]
    if prepare is not None:
        # A subclassed model may create its sublayers' weights only at its first call
        # (Keras 3 `Model.build()` does not always build them): call it once first.
        keras_model(keras_in, training=False)
        prepare(keras_model)
    keras_out = [np.asarray(o) for o in _as_list(keras_model(keras_in, training=False))]
    torch_ns = exec_source(result.code, "torch_translation")
    torch_model = eval(entry, torch_ns)
    name = model_name or _entry_name(entry)
    info = result.model(name) if name else (result.models[0] if len(result.models) == 1 else None)
    torch_model.eval()
    torch_inputs = []
    for arr, spec in zip(inputs, info.inputs if info else [None] * len(inputs)):
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if spec is not None and spec.permute:
            t = t.permute(*spec.permute).contiguous()
        torch_inputs.append(t)
    if info is not None and info.packed:     # forward(self, inputs) takes the list, as Keras call() did
        torch_inputs = [torch_inputs]
    if _has_lazy_parameters(torch_model):
        # Lazy modules (emitted where a size was not inferable) get their shapes from a dry run.
        with torch.no_grad():
            torch_model(*torch_inputs)
    port_weights(keras_model, torch_model, info)
    with torch.inference_mode():
        torch_out = _as_list(torch_model(*torch_inputs))
    comparison = Comparison(result=result)
    for i, (k, t) in enumerate(zip(keras_out, torch_out)):
        spec = info.outputs[i] if info and i < len(info.outputs) else None
        t = t.detach()
        if spec is not None and spec.permute:
            inverse = np.argsort(spec.permute)
            t = t.permute(*[int(p) for p in inverse])
        t = t.numpy()
        if k.shape != t.shape:
            raise AssertionError(f"output {i}: Keras shape {k.shape} vs torch shape {t.shape}")
        comparison.max_abs.append(float(np.max(np.abs(k - t))) if k.size else 0.0)
        comparison.scale.append(float(np.max(np.abs(k))) if k.size else 0.0)
    if len(keras_out) != len(torch_out):
        raise AssertionError(f"{len(keras_out)} Keras outputs vs {len(torch_out)} torch outputs")
    return comparison


def _has_lazy_parameters(module) -> bool:
    from torch.nn.parameter import UninitializedParameter
    return any(isinstance(p, UninitializedParameter) for p in module.parameters())


def _entry_name(entry: str) -> str | None:
    head = entry.split("(")[0].strip()
    return head if head.isidentifier() else None


def error_stats(reference, candidate, atol: float = 1e-5, rtol: float = 1e-4) -> dict:
    """How far `candidate` is from `reference` (numpy arrays of one shape), as `verify` reports it.

    scale   = max |reference| (the output scale);  S = max(1, scale)
    max_abs = max |candidate - reference|
    max_rel = max_abs / max(scale, tiny)      (the error relative to the output scale)
    passed  = every element has |candidate - reference| <= atol * S + rtol * |reference|
    (numpy's allclose with the absolute tolerance taken relative to the output scale), and no NaN
    appears on one side only.
    """
    import numpy as np
    ref = np.asarray(reference)
    out = np.asarray(candidate)
    if ref.shape != out.shape:
        return {"max_abs": None, "max_rel": None, "scale": None, "passed": False,
                "note": f"shapes differ: {tuple(ref.shape)} vs {tuple(out.shape)}"}
    if ref.size == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "scale": 0.0, "passed": True}
    ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
    nan_ref, nan_out = np.isnan(ref64), np.isnan(out64)
    if (nan_ref != nan_out).any():
        return {"max_abs": float("nan"), "max_rel": float("nan"), "scale": None, "passed": False,
                "note": "NaN on one side only"}
    both = ~nan_ref
    with np.errstate(invalid="ignore"):
        diff = np.where(out64 == ref64, 0.0, np.abs(out64 - ref64))[both]   # equal infinities: 0
    mag = np.abs(ref64)[both]
    finite = mag[np.isfinite(mag)]
    scale = float(finite.max()) if finite.size else 0.0
    max_abs = float(diff.max()) if diff.size else 0.0
    allowed = atol * max(1.0, scale) + rtol * mag
    passed = bool((diff <= allowed).all())        # a NaN difference (inf - inf) fails
    return {"max_abs": max_abs, "max_rel": max_abs / max(scale, 1e-30), "scale": scale, "passed": passed}
