"""Run one generated torch model: build it, translate it to Keras (both layouts), port weights, compare.

As the torch -> Keras numerical tests (tests/test_torch_to_keras.py): the torch module gets random
biases, norm scales and running statistics (translator.verify.port_torch.randomize_torch), runs in
eval(); the Keras model runs with training=False after `port_weights(torch_module, keras_model,
mapping)`; inputs are permuted by the translation's interface permutation (native layout: NCHW ->
NHWC) and outputs permuted back, so both layouts are compared against torch:

    max |torch - keras| <= 1e-5 * max(1, max |torch|)

Outcomes (harness.Outcome), worst first:
    generator   torch rejected the model, or its output shapes differ from the prediction
    mismatch    a translation that claimed success is wrong (values, shapes), or the translator
                crashed, or the Keras code does not run, or the weights cannot be ported
    error       the translation reported an error finding (FWTnnn) and left the model as it was, or
                a warning that left it as it was, or its outputs differ where a FWT402 warning
                ("semantics differ") said they would: reported, never silent
    ok
"""
from __future__ import annotations

import os
import time
import traceback
import warnings

from .harness import ATOL, LAYOUTS, LayoutOutcome, Outcome, _as_list, _compare, _exec, _model_info, make_inputs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _run_keras(result, spec, torch_model, inputs):
    import numpy as np
    from ..verify.port_torch import port_weights_to_keras
    info = _model_info(result, spec.model_name)
    keras_model = eval(spec.entry, _exec(result.code, "keras_translation"))
    k_inputs = []
    for arr, ispec in zip(inputs, info.inputs or [None] * len(inputs)):
        if ispec is not None and ispec.permute:
            arr = np.transpose(arr, np.argsort(ispec.permute))
        k_inputs.append(np.ascontiguousarray(arr))
    keras_model(*k_inputs, training=False)
    port_weights_to_keras(torch_model, keras_model, info)
    outs = []
    for i, o in enumerate(_as_list(keras_model(*k_inputs, training=False))):
        o = np.asarray(o)
        ospec = info.outputs[i] if i < len(info.outputs) else None
        if ospec is not None and ospec.permute:
            o = np.transpose(o, ospec.permute)
        outs.append(o)
    return outs


def run_torch_spec(spec, layouts=LAYOUTS, seed: int = 0, atol: float = ATOL) -> Outcome:
    """Build, translate (--to keras), port and compare one torch ModelSpec."""
    from ..api import translate_source

    start = time.perf_counter()
    import keras
    import torch
    from ..verify.port_torch import randomize_torch
    keras.backend.clear_session()
    inputs = make_inputs(spec, seed=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.manual_seed(seed)
            module = eval(spec.entry, _exec(spec.source, "torch_original"))
            randomize_torch(module, seed)
            module.eval()
            with torch.no_grad():
                ref = [o.numpy() for o in _as_list(module(*[torch.from_numpy(a.copy()) for a in inputs]))]
            got = [tuple(o.shape[1:]) for o in ref]
            if spec.outputs is not None and got != [tuple(s) for s in spec.outputs]:
                raise AssertionError(f"torch output shapes {got} vs predicted {spec.outputs}")
    except Exception as exc:   # noqa: BLE001 - any rejection is a generator bug, reported
        return Outcome("generator", message=f"torch rejected the model: {type(exc).__name__}: {exc}\n"
                       + traceback.format_exc(limit=-3), seconds=time.perf_counter() - start)
    outcome = Outcome("ok")
    for layout in layouts:
        try:
            result = translate_source(spec.source, to="keras", layout=layout)
        except Exception as exc:   # noqa: BLE001 - the translator must not crash: a mismatch
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", message=f"translator crashed: "
                                                 f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            continue
        errors = [f for f in result.findings if f.severity == "error"]
        if result.error or errors or not result.models:
            findings = "\n".join(f.format() for f in result.findings) or "no model translated"
            codes = sorted({f.code for f in errors}) or sorted({f.code for f in result.findings
                                                                if f.needs_attention}) or ["none"]
            outcome.layouts.append(LayoutOutcome(layout, "error", message=findings, codes=codes,
                                                 torch_code=result.code))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                keras_out = _run_keras(result, spec, module, inputs)
        except Exception as exc:   # noqa: BLE001 - translated code that does not run is wrong
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", message=f"{type(exc).__name__}: {exc}\n"
                                                 + traceback.format_exc(limit=-4), torch_code=result.code))
            continue
        max_rel, problem = _compare(ref, keras_out)      # relative to the torch (original) output
        note = ""
        ill_conditioned = False
        if not problem and not max_rel <= atol:
            floor = fp32_noise_floor(module, inputs, ref)
            if floor > atol / 4 and max_rel <= atol + 4 * floor:
                note = (f"ill-conditioned model: torch's own float32 output is {floor:.3g} (relative) away from "
                        f"its float64 output, Keras {max_rel:.3g} from torch's float32: within that noise")
                ill_conditioned = True
        semantic = sorted({f.code for f in result.findings if f.code == "FWT402" and f.needs_attention})
        if (problem or not max_rel <= atol) and semantic:
            # the translation said so itself: "semantics differ" (e.g. MaxPool padding with zeros, not -inf)
            outcome.layouts.append(LayoutOutcome(layout, "error", None if problem else max_rel,
                                                 "outputs differ, as the FWT402 warning says:\n"
                                                 + "\n".join(f.format() for f in result.findings),
                                                 codes=semantic, torch_code=result.code))
        elif problem or not (max_rel <= atol or ill_conditioned):
            outcome.layouts.append(LayoutOutcome(layout, "mismatch", None if problem else max_rel,
                                                 problem or f"max relative error {max_rel:.3g} > {atol}",
                                                 torch_code=result.code))
        else:
            outcome.layouts.append(LayoutOutcome(layout, "ok", max_rel, note, torch_code=result.code))
    statuses = {lo.status for lo in outcome.layouts}
    outcome.status = "mismatch" if "mismatch" in statuses else "error" if "error" in statuses else "ok"
    outcome.seconds = time.perf_counter() - start
    return outcome


def fp32_noise_floor(module, inputs, ref32) -> float:
    """How far torch's own float32 output is from its float64 output, relative to the output scale: a
    model that amplifies rounding (e.g. InstanceNorm over a nearly constant channel: x - mean is rounding
    noise, divided by sqrt(eps)) gives two float32 implementations no common answer at 1e-5. A translation
    error is not noise: it still fails, since the allowance is a few times torch's own float32 error."""
    import copy

    import numpy as np
    import torch
    double = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        args = [torch.from_numpy(a.astype(np.float64) if a.dtype == np.float32 else a.copy()) for a in inputs]
        ref64 = [o.numpy() for o in _as_list(double(*args))]
    worst, problem = _compare([r.astype(np.float64) for r in ref32], ref64)
    return 0.0 if problem else worst          # no allowance when float64 disagrees in kind


def run_torch_job(job):
    spec, layouts = job
    return run_torch_spec(spec, layouts=layouts)
