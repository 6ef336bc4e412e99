"""The verify / weights worker: the only place where user model code runs.

Started by `translator.verify.run` as `python -m translator.verify.worker JOB.json` in its own
process (killed at the time limit). It imports the frameworks, executes the original file and the
translation, evaluates the entry expression in each, and writes a JSON report to the path the job
names. Progress lines (one step a line) go to the file descriptor in FWTRANSLATE_PROGRESS_FD;
everything the frameworks or the user code print goes to the worker's stdout/stderr, which the
parent keeps in a log.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
import traceback
from pathlib import Path


class StepFailed(Exception):
    """A fatal step failed; its error is already in the report."""


def _first_lines(text, n: int = 15) -> str:
    lines = [line.rstrip() for line in str(text).strip().splitlines() if line.strip()]
    return "\n".join(lines[:n]) + ("\n..." if len(lines) > n else "")


class Steps:
    """Runs named steps; records failures (step, message, traceback) in the report."""

    def __init__(self, report: dict):
        self.report = report
        fd = os.environ.get("FWTRANSLATE_PROGRESS_FD")
        self.channel = None
        if fd:
            try:
                self.channel = os.fdopen(int(fd), "w", buffering=1)
            except OSError:
                self.channel = None

    def progress(self, text: str) -> None:
        if self.channel is not None:
            try:
                self.channel.write(text.replace("\n", " ") + "\n")
            except OSError:
                self.channel = None

    def run(self, name: str, fn, *, fatal: bool = True, hint: str | None = None):
        """fn() or, when it raises, None after recording the error (and StepFailed when fatal)."""
        self.progress(name)
        try:
            return fn()
        except StepFailed:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, naming its step
            if isinstance(exc, KeyboardInterrupt):
                raise
            message = f"{type(exc).__name__}: {_first_lines(exc)}" if str(exc) else type(exc).__name__
            error = {"step": name, "message": (f"{hint}: " if hint else "") + message,
                     "traceback": traceback.format_exc(limit=12)}
            self.report["errors"].append(error)
            if fatal:
                raise StepFailed(name) from exc
            return None


# ---- executing user code ----------------------------------------------------------------------------

def exec_file(code: str, path: str, module_name: str) -> dict:
    directory = str(Path(path).resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    namespace = {"__name__": module_name, "__file__": str(Path(path).resolve()), "__builtins__": __builtins__}
    exec(compile(code, path, "exec"), namespace)
    return namespace


def _raise(exc):
    raise exc


def _flatten(value) -> list:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _describe(arrays) -> str:
    return ", ".join(f"{a.dtype}[{','.join(map(str, a.shape))}]" for a in arrays)


def _keras_expected(model) -> str:
    try:
        shapes = [tuple(t.shape) for t in model.inputs]
        return " (the model expects " + ", ".join(str(s) for s in shapes) + ")"
    except Exception:  # noqa: BLE001 - subclassed models have no static inputs
        return ""


# ---- the shared first half: both models built, weights ported ---------------------------------------

class Models:
    pass


def _mapping(job):
    from ..api import translate_source
    original = Path(job["file"]).read_text(encoding="utf-8")
    result = translate_source(original, to=job.get("to", "torch"), layout=job.get("layout", "native"),
                              input_shape=job.get("input_shape"), rules=tuple(job.get("rules") or ()),
                              filename=job["file"])
    name = job.get("model_name")
    if name:
        return original, result, result.model(name)
    if len(result.models) == 1:
        return original, result, result.models[0]
    names = ", ".join(m.name for m in result.models) or "none"
    raise LookupError(f"cannot tell which translated model the entry builds (models: {names}); "
                      "write the entry as a call of one of them")


def build_models(job: dict, steps: Steps, report: dict) -> Models:
    """Import the frameworks, build both models, load or randomise weights, port them."""
    from .inputs import InputSpec, make_arrays

    def frameworks_step():
        steps.run("import TensorFlow, Keras and torch", frameworks)
        report["environment"] = _environment()

    def mapping_step():
        return steps.run("translate the original (for the mapping)", lambda: _mapping(job))

    def frameworks():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import numpy  # noqa: F401
        import tensorflow as tf
        import keras
        import torch
        threads = job.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        torch.manual_seed(job.get("seed", 0))
        keras.utils.set_random_seed(job.get("seed", 0))     # Keras initialisers: reproducible runs
    if job.get("to") == "keras":
        from . import worker_t2k
        return worker_t2k.build_models(job, steps, report, frameworks_step, mapping_step)
    frameworks_step()
    import numpy as np
    import torch

    m = Models()
    m.direction = "torch"
    m.keras_positional = False
    m.original, m.result, m.info = mapping_step()
    m.code = Path(job["code_file"]).read_text(encoding="utf-8")
    specs = [InputSpec(tuple(s["shape"]), s["dtype"], s.get("low"), s.get("high"), s.get("spec", ""))
             for s in job["inputs"]]
    m.arrays = make_arrays(specs, job.get("seed", 0))
    m.keras_in = m.arrays[0] if len(m.arrays) == 1 else list(m.arrays)

    keras_ns = steps.run("load the original file", lambda: exec_file(m.original, job["file"], "fwtranslate_original"),
                         hint="executing the original file failed")
    m.keras_model = steps.run("build the original model", lambda: eval(job["entry"], keras_ns),
                              hint=f"the entry expression {job['entry']!r} failed on the original")
    if not hasattr(m.keras_model, "layers") or not callable(m.keras_model):
        steps.run("build the original model", lambda: _raise(TypeError(
            f"the entry expression {job['entry']!r} gave a {type(m.keras_model).__name__}, not a Keras model")))
    if job.get("inputs_default"):
        # no --input: the shapes come from the translation; the dtypes from the Keras model's inputs
        # (token ids for an Embedding), when it declares them
        specs = _declared_dtypes(m.keras_model, specs)
        m.arrays = make_arrays(specs, job.get("seed", 0))
        m.keras_in = m.arrays[0] if len(m.arrays) == 1 else list(m.arrays)
    report["inputs"] = [{**s.to_dict(), "describe": s.describe()} for s in specs]
    steps.run("run the original model", lambda: m.keras_model(m.keras_in, training=False),
              hint=f"the original model does not accept the inputs {_describe(m.arrays)}"
                   f"{_keras_expected(m.keras_model)}")
    if job.get("weights"):
        steps.run("load the weights", lambda: _load_keras_weights(m.keras_model, job["weights"]))
        report["weights"] = {"source": job["weights"]}
    else:
        from .compare import randomize_weights
        steps.run("randomise the weights", lambda: randomize_weights(m.keras_model, seed=job.get("seed", 0)))
        report["weights"] = {"source": "random",
                             "note": "Keras initialisation; biases and normalisation statistics randomised"}
    m.keras_out = steps.run("run the original model",
                            lambda: [np.asarray(o) for o in _flatten(m.keras_model(m.keras_in, training=False))])

    torch_ns = steps.run("load the translation", lambda: exec_file(m.code, job.get("against") or job["file"],
                                                                   "fwtranslate_translation"),
                         hint="executing the translated code failed")
    m.torch_model = steps.run("build the translated model", lambda: eval(job["entry"], torch_ns),
                              hint=f"the entry expression {job['entry']!r} failed on the translation")
    if not isinstance(m.torch_model, torch.nn.Module):
        steps.run("build the translated model", lambda: _raise(TypeError(
            f"the entry expression {job['entry']!r} gave a {type(m.torch_model).__name__} on the translation, "
            "not a torch.nn.Module")))
    m.torch_model.eval()
    if getattr(m.info, "packed", False):     # forward(self, inputs) takes a list: called as model(x, y) here
        from .packed import positional_call
        positional_call(m.torch_model)
    m.torch_in = []
    for i, arr in enumerate(m.arrays):
        t = torch.from_numpy(np.ascontiguousarray(arr))
        spec = m.info.inputs[i] if i < len(m.info.inputs) else None
        if spec is not None and spec.permute:
            t = t.permute(*spec.permute).contiguous()
        m.torch_in.append(t)

    def port():
        from torch.nn.parameter import UninitializedParameter
        from .port import port_weights
        if any(isinstance(p, UninitializedParameter) for p in m.torch_model.parameters()):
            with torch.inference_mode():      # lazy modules get their shapes from a dry run
                m.torch_model(*m.torch_in)
        return port_weights(m.keras_model, m.torch_model, m.info)
    ported = steps.run("port the weights", port)
    report["weights"]["ported"] = len(ported)
    m.torch_out_raw = steps.run("run the translated model", lambda: _run_torch(m.torch_model, m.torch_in),
                                hint=f"the translated model failed on the inputs "
                                     f"{_describe([t.numpy() for t in m.torch_in])}")
    m.torch_out = [_to_keras_layout(o, m.info, i) for i, o in enumerate(m.torch_out_raw)]
    m.original_out, m.translated_out = m.keras_out, m.torch_out
    return m


def _run_torch(module, inputs) -> list:
    import torch
    with torch.inference_mode():
        out = module(*inputs)
    return [o.detach().cpu().numpy() for o in _flatten(out)]


def _to_keras_layout(array, info, i):
    import numpy as np
    spec = info.outputs[i] if i < len(info.outputs) else None
    if spec is not None and spec.permute and array.ndim == len(spec.permute):
        return np.transpose(array, np.argsort(spec.permute))
    return array


def _declared_dtypes(model, specs):
    from dataclasses import replace

    from .inputs import DTYPES
    try:
        declared = [str(getattr(t.dtype, "name", t.dtype)) for t in model.inputs]
    except Exception:  # noqa: BLE001 - subclassed models declare no inputs
        return specs
    if len(declared) != len(specs):
        return specs
    return [replace(s, dtype=d) if d in DTYPES and d != s.dtype else s for s, d in zip(specs, declared)]


def _load_keras_weights(model, path: str) -> None:
    """Keras weight files only (`.weights.h5`, `.keras`, legacy `.h5`): `load_weights` reads the
    arrays and never deserialises code."""
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    if not (suffix.endswith(".h5") or suffix.endswith(".keras") or suffix.endswith(".hdf5")):
        raise ValueError(f"{path}: not a Keras weight file (.keras, .weights.h5 or .h5)")
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    model.load_weights(path)


def _environment() -> dict:
    import keras
    import numpy
    import tensorflow as tf
    import torch
    env = {"python": sys.version.split()[0], "numpy": numpy.__version__, "tensorflow": tf.__version__,
           "keras": keras.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name(0)
    for name in ("onnx", "onnxruntime", "tf2onnx", "onnxscript"):
        try:
            env[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            env[name] = None
    return env


# ---- verify --------------------------------------------------------------------------------------------

def verify(job: dict, report: dict, steps: Steps) -> None:
    from .compare import error_stats
    atol, rtol = job["atol"], job["rtol"]
    m = build_models(job, steps, report)
    checks = report["checks"]
    if len(m.original_out) != len(m.translated_out):
        raise _fatal(steps, "compare the outputs", f"the original has {len(m.original_out)} output(s), the "
                     f"translation {len(m.translated_out)}")
    for i, (ref, out) in enumerate(zip(m.original_out, m.translated_out)):
        checks.append({"check": "native", "label": _label(m, "{t} vs {o}"), "output": i,
                       **error_stats(ref, out, atol, rtol)})
    if not all(c["passed"] for c in checks):
        from ..rules import load_rules
        if m.direction == "keras":
            import functools

            from .localize_torch import localize_torch
            run_localize = functools.partial(localize_torch, original_source=m.original)
        else:
            from .localize import localize as run_localize
        report["divergence"] = steps.run(
            "localise the first diverging layer",
            lambda: run_localize(m.keras_model, m.torch_model, m.keras_in, m.torch_in, m.info,
                                 load_rules(tuple(job.get("rules") or ())), atol, rtol,
                                 m.code if job.get("against") else None),
            fatal=False)
    sessions = {}
    if job.get("onnx", True):
        sessions = _onnx(job, m, report, steps)
    if job.get("timing", True):
        _timing(job, m, report, steps, sessions)


def _label(m, template: str) -> str:
    """'{t} vs {o}' with the translated and original frameworks of this run."""
    original, translated = ("torch", "keras") if getattr(m, "direction", "torch") == "keras" else ("keras", "torch")
    return template.format(t=translated, o=original)


def _fatal(steps, step, message):
    steps.report["errors"].append({"step": step, "message": message})
    return StepFailed(step)


def _onnx(job, m, report, steps) -> dict:
    from . import onnx_export as ox
    from .compare import error_stats
    atol, rtol = job["atol"], job["rtol"]
    workdir = job["workdir"]
    onnx_report = report["onnx"] = {}
    data = {}

    def export(side):
        if side == "keras":
            payload, exporter, note = ox.export_keras(m.keras_model, m.arrays, workdir, job.get("opset"),
                                                      positional=m.keras_positional)
        else:
            payload, exporter, note = ox.export_torch(m.torch_model, m.torch_in, workdir, job.get("opset"))
        data[side] = payload
        onnx_report[side] = {"exporter": exporter, "note": note}
        onnx_report[side].update(steps.run(f"check the {side} ONNX model", lambda: ox.check(payload),
                                           fatal=False, hint="onnx.checker rejected the export") or {})
    role = {"keras": "the original", "torch": "the translation"} if m.direction == "torch" else \
        {"keras": "the translation", "torch": "the original"}
    steps.run(f"export {role['keras']} (Keras) to ONNX", lambda: export("keras"), fatal=False,
              hint="ONNX export of the Keras model failed")
    steps.run(f"export {role['torch']} (torch) to ONNX", lambda: export("torch"), fatal=False,
              hint="ONNX export of the torch model failed")
    outputs, sessions = {}, {}
    for side, inputs in (("keras", m.arrays), ("torch", [t.numpy() for t in m.torch_in])):
        if side not in data:
            continue

        def run(side=side, inputs=inputs):
            sess = ox.session(data[side], "cpu", job.get("threads"))
            sessions[side] = sess
            return [ox_out for ox_out in ox.run(sess, inputs)]
        outputs[side] = steps.run(f"run the {side} export in onnxruntime", run, fatal=False,
                                  hint="onnxruntime failed")
    checks = report["checks"]
    if outputs.get("keras") is not None:
        _compare_rows(checks, "onnx_keras", "onnxruntime keras export vs keras", m.keras_out, outputs["keras"],
                      atol, rtol, error_stats)
    if outputs.get("torch") is not None:
        _compare_rows(checks, "onnx_torch", "onnxruntime torch export vs torch", m.torch_out_raw,
                      outputs["torch"], atol, rtol, error_stats)
    if outputs.get("keras") is not None and outputs.get("torch") is not None:
        if m.direction == "keras":
            from .worker_t2k import to_torch_layout
            keras_in_torch_layout = [to_torch_layout(o, m.info.outputs[i] if i < len(m.info.outputs) else None)
                                     for i, o in enumerate(outputs["keras"])]
            _compare_rows(checks, "onnx", "onnxruntime keras export vs torch export", outputs["torch"],
                          keras_in_torch_layout, atol, rtol, error_stats)
        else:
            torch_in_keras_layout = [_to_keras_layout(o, m.info, i) for i, o in enumerate(outputs["torch"])]
            _compare_rows(checks, "onnx", "onnxruntime torch export vs keras export", outputs["keras"],
                          torch_in_keras_layout, atol, rtol, error_stats)
    if job.get("save_onnx"):
        for side, payload in data.items():
            Path(job["save_onnx"]).mkdir(parents=True, exist_ok=True)
            (Path(job["save_onnx"]) / f"{side}.onnx").write_bytes(payload)
    m.onnx_data = data
    return sessions


def _compare_rows(checks, kind, label, reference, candidate, atol, rtol, error_stats) -> None:
    if len(reference) != len(candidate):
        checks.append({"check": kind, "label": label, "output": None, "max_abs": None, "max_rel": None,
                       "scale": None, "passed": False,
                       "note": f"{len(reference)} vs {len(candidate)} outputs"})
        return
    for i, (ref, out) in enumerate(zip(reference, candidate)):
        checks.append({"check": kind, "label": label, "output": i, **error_stats(ref, out, atol, rtol)})


def _timing(job, m, report, steps, sessions) -> None:
    import torch

    from . import onnx_export as ox
    from . import timing
    runs, warmup = job.get("runs", 20), job.get("warmup", 3)
    devices = list(job.get("devices") or ["cpu"])
    out = report["timing"] = {"runs": runs, "warmup": warmup, "devices": {}}
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
        if job.get("device") == "cuda":
            steps.run("time on cuda", lambda: _raise(RuntimeError(
                "--device cuda: torch.cuda.is_available() is False on this machine")), fatal=False)
        else:
            out["note"] = "cuda: not timed (torch.cuda.is_available() is False)"
    torch_feed = [t.numpy() for t in m.torch_in]
    for device in devices:
        row = out["devices"][device] = {}

        def variant(name, make, device=device, row=row):
            def go():
                fn, sync = make()
                return timing.measure(fn, runs, warmup, sync)
            result = steps.run(f"time {name} on {device}", go, fatal=False)
            if result is None:
                row[name] = {"error": steps.report["errors"].pop()["message"].splitlines()[0]}
            else:
                row[name] = result

        variant("keras", lambda d=device: (timing.keras_runner(m.keras_model, m.arrays, d,
                                                               positional=m.keras_positional), None))
        module = m.torch_model if device == "cpu" else copy.deepcopy(m.torch_model)
        variant("torch", lambda d=device, mod=module: timing.torch_runner(mod, m.torch_in, d))
        if job.get("compile"):
            variant("torch_compile", lambda d=device, mod=module: timing.torch_runner(mod, m.torch_in, d, True))
        data = getattr(m, "onnx_data", {})
        for side, feed in (("keras", m.arrays), ("torch", torch_feed)):
            if side not in data:
                continue

            def make(side=side, feed=feed, d=device):
                sess = sessions.get(side) if d == "cpu" else None
                sess = sess or ox.session(data[side], d, job.get("threads"))
                return timing.ort_runner(sess, ox.feeds(sess, feed)), None
            variant(f"ort_{side}", make)
        if device != "cpu":
            del module
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    out["ratios"] = {device: _ratios(row, m.direction) for device, row in out["devices"].items()}


RATIO_PAIRS = {"torch": (("torch", "keras"), ("torch_compile", "keras"), ("ort_torch", "ort_keras")),
               "keras": (("keras", "torch"), ("keras", "torch_compile"), ("ort_keras", "ort_torch"))}


def _ratios(row: dict, direction: str = "torch") -> dict:
    """translated / original latency for each pair of variants both timed."""
    def med(name):
        value = row.get(name) or {}
        return value.get("median_ms")
    ratios = {}
    for translated, original in RATIO_PAIRS[direction]:
        a, b = med(translated), med(original)
        if a is not None and b:
            ratios[f"{translated}/{original}"] = a / b
    return ratios


# ---- weights ---------------------------------------------------------------------------------------------

def convert_weights(job: dict, report: dict, steps: Steps) -> None:
    """Keras weight file -> torch state_dict (.safetensors or .pt), or torch state_dict -> Keras
    `.weights.h5` (--to keras), checked on one random input."""
    from .compare import error_stats
    m = build_models(job, steps, report)
    for i, (ref, out) in enumerate(zip(m.original_out, m.translated_out)):
        report["checks"].append({"check": "native", "label": _label(m, "{t} vs {o}"), "output": i,
                                 **error_stats(ref, out, job["atol"], job["rtol"])})

    target = "the Keras weights" if m.direction == "keras" else "the state_dict"
    if not all(c["passed"] for c in report["checks"]):
        report["errors"].append({"step": f"save {target}", "message": "not saved: the translated model "
                                 "with the converted weights does not reproduce the original's outputs"})
        return
    if m.direction == "keras":
        from .worker_t2k import save_keras_weights
        report["saved"] = save_keras_weights(job, m, steps, report)
        return

    def save():
        import torch
        state = {k: v.detach().cpu().contiguous().clone() for k, v in m.torch_model.state_dict().items()}
        target = Path(job["output"])
        tmp = target.with_name(f".{target.name}.tmp")
        if target.suffix == ".safetensors":
            from safetensors.torch import save_file
            save_file(state, str(tmp), metadata={"format": "pt", "source": Path(job["weights"]).name,
                                                 "producer": "fwtranslate"})
        else:
            torch.save(state, str(tmp))
        os.replace(tmp, target)
        return {"path": str(target), "tensors": len(state),
                "parameters": int(sum(v.numel() for v in state.values()))}
    report["saved"] = steps.run("save the state_dict", save)


# ---- entry point -----------------------------------------------------------------------------------------

def execute(job: dict) -> dict:
    """Run the job in this process and return its report (the worker's body; also used in-process by
    tests and library callers through `run.Options(isolate=False)`)."""
    report = {"task": job["task"], "errors": [], "checks": [], "divergence": None, "onnx": None,
              "timing": None}
    steps = Steps(report)
    started = time.perf_counter()
    try:
        if job["task"] == "verify":
            verify(job, report, steps)
        else:
            convert_weights(job, report, steps)
    except StepFailed:
        pass
    except BaseException as exc:  # noqa: BLE001 - an unexpected failure still yields a report
        report["errors"].append({"step": "internal", "message": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()})
    report["worker_seconds"] = time.perf_counter() - started
    steps.progress("done")
    return report


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    report = execute(job)
    target = Path(job["report"])
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, default=_jsonable), encoding="utf-8")
    os.replace(tmp, target)
    return 0


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
