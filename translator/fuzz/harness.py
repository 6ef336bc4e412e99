"""Run one generated model: build it in Keras, translate it (both layouts), port weights, compare.

Like the numerical tests (tests/test_layers_numeric.py): every Keras weight gets a random value
(BatchNormalization moving statistics and gammas included, so wrong transforms cannot hide behind
zeros and ones), Keras runs with training=False, torch in eval(), and each output must satisfy

    max |keras - torch| <= 1e-5 * max(1, max |keras|)

Outcomes, worst first:
    generator   Keras rejected the model, or its output shapes differ from the generator's
                prediction: a bug in the generator (never skipped)
    mismatch    a translation that claimed success is wrong: values or shapes differ, or the torch
                code fails to run, or weights cannot be ported
    error       the translation refused the model (error findings; the model is left as it was)
    ok
Executes generated code: used by the fuzzer and tests only, never by the translation path.
"""
from __future__ import annotations

import os
import traceback
import warnings
from dataclasses import dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ATOL = 1e-5
LAYOUTS = ("native", "keep")
OUTCOMES = ("generator", "mismatch", "error", "ok")


@dataclass
class LayoutOutcome:
    layout: str
    status: str                          # ok / mismatch / error
    max_rel: float | None = None         # max |keras - torch| / max(1, max |keras|) over outputs
    message: str = ""
    codes: list[str] = field(default_factory=list)   # error finding codes
    torch_code: str = ""


@dataclass
class Outcome:
    status: str
    layouts: list[LayoutOutcome] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def max_rel(self) -> float | None:
        values = [lo.max_rel for lo in self.layouts if lo.max_rel is not None]
        return max(values) if values else None

    @property
    def codes(self) -> list[str]:
        return sorted({c for lo in self.layouts for c in lo.codes})

    def describe(self) -> str:
        parts = [f"{self.status}"]
        for lo in self.layouts:
            err = f" {lo.max_rel:.1e}" if lo.max_rel is not None else ""
            codes = f" {','.join(lo.codes)}" if lo.codes else ""
            parts.append(f"{lo.layout}:{lo.status}{err}{codes}")
        return " ".join(parts)

    def details(self) -> str:
        out = [self.message] if self.message else []
        for lo in self.layouts:
            if lo.status != "ok":
                out.append(f"[{lo.layout}] {lo.message}")
        return "\n".join(out)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def randomize_weights(model, seed: int = 0) -> None:
    """Every weight random (the numeric tests use this too): moving variances in [0.5, 2],
    gammas of either sign away from 0, moving means N(0, 1), the rest N(0, 1.5/sqrt(fan_in))."""
    import numpy as np
    from ..verify.port import _weight_name
    rng = np.random.default_rng(seed + 1000)
    for var in model.weights:
        name = _weight_name(var)
        shape = tuple(int(d) for d in var.shape)
        if name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        elif name == "moving_mean":
            value = rng.normal(0.0, 1.0, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
            value = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape) * 1.5
        var.assign(value.astype(np.dtype(getattr(var.dtype, "name", var.dtype))))


def make_inputs(spec, batch: int = 2, seed: int = 0) -> list:
    import numpy as np
    rng = np.random.default_rng(seed)
    arrays = []
    for inp in spec.inputs:
        shape = (batch,) + tuple(inp.shape)
        if inp.dtype.startswith("int"):
            arrays.append(rng.integers(0, inp.high, size=shape).astype(inp.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(inp.dtype))
    return arrays


def _exec(code: str, name: str) -> dict:
    namespace: dict = {"__name__": name}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def _ported_names(keras_model) -> tuple[set, list]:
    """Names of the Keras weights port_weights must port, and weights of layers without a rule."""
    from ..rules import load_rules
    from ..verify.port import _keras_layers, _rule_by_class, _weight_name
    by_class = _rule_by_class(load_rules())
    ruled = [layer for layer in _keras_layers(keras_model)
             if type(layer).__name__ in by_class and by_class[type(layer).__name__].weights]
    owned = {id(w) for layer in ruled for w in layer.weights}
    orphans = [getattr(w, "path", w.name) for w in keras_model.weights if id(w) not in owned]
    return {f"{layer.name}/{_weight_name(w)}" for layer in ruled for w in layer.weights}, orphans


def _compare(keras_out, torch_out) -> tuple[float, str]:
    """(max relative error, problem or ''); non-finite values must agree exactly."""
    import numpy as np
    if len(keras_out) != len(torch_out):
        return float("inf"), f"{len(keras_out)} Keras outputs vs {len(torch_out)} torch outputs"
    worst = 0.0
    for i, (k, t) in enumerate(zip(keras_out, torch_out)):
        if k.shape != t.shape:
            return float("inf"), f"output {i}: Keras shape {k.shape} vs torch shape {t.shape}"
        if not k.size:
            continue
        finite = np.isfinite(k)
        if not np.array_equal(finite, np.isfinite(t)) or not np.array_equal(k[~finite], t[~finite]):
            return float("inf"), f"output {i}: non-finite values differ"
        if not finite.any():
            continue
        diff = float(np.max(np.abs(k[finite] - t[finite])))
        scale = max(1.0, float(np.max(np.abs(k[finite]))))
        worst = max(worst, diff / scale)
    return worst, ""


def _model_info(result, name):
    """The translated model `name`; a file with one model gives it whatever its name (the name a
    builder function's model gets is checked by tests/test_fuzz_regressions.py, not here)."""
    try:
        return result.model(name)
    except KeyError:
        if len(result.models) == 1:
            return result.models[0]
        raise


def _run_torch(result, spec, keras_model, inputs):
    import numpy as np
    import torch
    from torch.nn.parameter import UninitializedParameter

    from ..verify.port import port_weights
    info = _model_info(result, spec.model_name)
    ns = _exec(result.code, "torch_translation")
    module = eval(spec.entry, ns)
    module.eval()
    listed = info.packed      # call(self, inputs) taking a list: forward too, one permutation per item
    if not listed and len(inputs) != len(info.inputs or inputs):
        raise AssertionError(f"{len(inputs)} inputs; the translation's interface has {len(info.inputs)}")
    torch_inputs = []
    for arr, ispec in zip(inputs, info.inputs or [None] * len(inputs)):
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if ispec is not None and ispec.permute:
            t = t.permute(*ispec.permute).contiguous()
        torch_inputs.append(t)
    if listed:
        torch_inputs = [torch_inputs]
    if any(isinstance(p, UninitializedParameter) for p in module.parameters()):
        with torch.no_grad():
            module(*torch_inputs)
    done = port_weights(keras_model, module, info)
    expected, _ = _ported_names(keras_model)
    missing = expected - {k for k, _ in done}
    if missing:
        raise AssertionError(f"Keras weights not ported: {sorted(missing)}")
    with torch.inference_mode():
        outs = _as_list(module(*torch_inputs))
    res = []
    for i, t in enumerate(outs):
        ospec = info.outputs[i] if i < len(info.outputs) else None
        if ospec is not None and ospec.permute:
            t = t.permute(*[int(p) for p in np.argsort(ospec.permute)])
        res.append(t.detach().numpy())
    return res


def run_spec(spec, layouts=LAYOUTS, seed: int = 0, atol: float = ATOL) -> Outcome:
    """Build, translate, port and compare one ModelSpec."""
    import time

    import numpy as np

    from ..api import translate_source

    start = time.perf_counter()
    import keras
    keras.backend.clear_session()
    inputs = make_inputs(spec, seed=seed)
    call_in = inputs if len(inputs) > 1 else inputs[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras_model = eval(spec.entry, _exec(spec.source, "keras_original"))
            subclassed = not hasattr(keras_model, "outputs")    # built by its first call
            symbolic = keras_model(call_in, training=False) if subclassed else keras_model.outputs
            got = [tuple(int(d) for d in t.shape[1:]) for t in _as_list(symbolic)]
            if spec.outputs is not None and got != [tuple(s) for s in spec.outputs]:
                raise AssertionError(f"Keras output shapes {got} vs predicted {spec.outputs}")
            _, orphans = _ported_names(keras_model)
            if orphans:
                raise AssertionError(f"weights of layers without a rule: {orphans}")
            randomize_weights(keras_model, seed)
            keras_out = [np.asarray(o) for o in _as_list(keras_model(call_in, training=False))]
    except Exception as exc:   # noqa: BLE001 - any rejection is a generator bug, reported
        return Outcome("generator", message=f"Keras rejected the model: {type(exc).__name__}: {exc}\n"
                       + traceback.format_exc(limit=-3), seconds=time.perf_counter() - start)
    outcome = Outcome("ok")
    for layout in layouts:
        try:
            shapes = [tuple(i.shape) for i in spec.inputs] if subclassed else None
            result = translate_source(spec.source, layout=layout,
                                      input_shape=shapes[0] if shapes and len(shapes) == 1 else shapes)
        except Exception as exc:   # noqa: BLE001 - the translator must not crash: a mismatch
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", message=f"translator crashed: "
                                                 f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            continue
        errors = [f for f in result.findings if f.severity == "error"]
        if result.error or errors or not result.models:
            findings = "\n".join(f.format() for f in result.findings) or "no model translated"
            codes = sorted({f.code for f in errors}) or ["none"]
            outcome.layouts.append(LayoutOutcome(layout, "error", message=findings, codes=codes,
                                                 torch_code=result.code))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch_out = _run_torch(result, spec, keras_model, inputs)
        except Exception as exc:   # noqa: BLE001 - translated code that does not run is wrong
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", message=f"{type(exc).__name__}: {exc}",
                                                 torch_code=result.code))
            continue
        max_rel, problem = _compare(keras_out, torch_out)
        if problem or not max_rel <= atol:
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", None if problem else max_rel,
                                                 problem or f"max relative error {max_rel:.3g} > {atol}",
                                                 torch_code=result.code))
        else:
            outcome.layouts.append(LayoutOutcome(layout, "ok", max_rel, torch_code=result.code))
    statuses = {lo.status for lo in outcome.layouts}
    outcome.status = "mismatch" if "mismatch" in statuses else "error" if "error" in statuses else "ok"
    outcome.seconds = time.perf_counter() - start
    return outcome


def init_worker():
    """Worker process set-up: one thread each for TF and torch (the models are tiny)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore")
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except Exception:   # noqa: BLE001 - threading can only be set before TF starts
        pass
    import torch
    torch.set_num_threads(1)


def run_job(job):
    spec, layouts = job
    return run_spec(spec, layouts=layouts)
