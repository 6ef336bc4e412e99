"""The worker's torch -> Keras half: a PyTorch original, its Keras translation.

Same steps as the Keras -> torch half (translator/verify/worker.py), roles swapped: the original
torch module is built from the entry expression (random weights with normalisation statistics
and biases randomised, or `--weights` loaded safely: `torch.load(weights_only=True)` or
safetensors), the Keras translation is built from the same entry, called once (so that every
variable exists), and receives the torch weights (`port_torch.port_weights_to_keras`).

Inputs are given in torch order (`--input 1,3,28,28`); the Keras side gets them through the
interface permutation the translation recorded (`InterfaceTensor.permute`: torch = keras.permute(p)).
Outputs are compared in torch order, the torch output being the reference.

The fields of `Models` keep the names of the Keras -> torch half (`keras_model`, `torch_model`,
`arrays` = the Keras-layout inputs, `torch_in`, ...), so that ONNX export and timing are shared;
`original_out` / `translated_out` are the two outputs in the original's layout.
"""
from __future__ import annotations

from pathlib import Path

TORCH_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def to_keras_layout(array, spec):
    """A torch-layout array of interface tensor `spec` in Keras layout."""
    import numpy as np
    if spec is not None and spec.permute and array.ndim == len(spec.permute):
        return np.ascontiguousarray(np.transpose(array, np.argsort(spec.permute)))
    return array


def to_torch_layout(array, spec):
    """A Keras-layout array of interface tensor `spec` in torch layout."""
    import numpy as np
    if spec is not None and spec.permute and array.ndim == len(spec.permute):
        return np.ascontiguousarray(np.transpose(array, spec.permute))
    return array


def load_torch_weights(module, path: str) -> dict:
    """Load a state_dict file into `module` (strict). Only safe formats: safetensors, or a pickle read
    with `torch.load(weights_only=True)` (tensors and plain containers; code is never run)."""
    import torch
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if p.name.lower().endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(str(p))
    elif p.name.lower().endswith((".pt", ".pth", ".bin")):
        try:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - the unsafe path is never tried
            raise ValueError(f"{path}: cannot be loaded safely with torch.load(weights_only=True) ({exc}); "
                             "save a state_dict (torch.save(model.state_dict(), ...)) or a .safetensors file") from None
    else:
        raise ValueError(f"{path}: not a torch weight file ({', '.join(TORCH_WEIGHT_SUFFIXES)})")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state_dict (a mapping of names to tensors)")
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not fit the model: missing {sorted(missing)[:8]}, unexpected "
                         f"{sorted(unexpected)[:8]}")
    return {"tensors": len(state)}


def keras_call(model, arrays, training=False):
    """The translated Keras model called the way its `call(self, x, y, ...)` takes its inputs."""
    return model(*arrays, training=training)


def build_models(job: dict, steps, report: dict, frameworks_step, mapping_step):
    """Build both models for a torch original; see the module docstring. Returns worker.Models."""
    import numpy as np
    import torch

    from .inputs import InputSpec, make_arrays
    from .worker import Models, _describe, _flatten, _raise, exec_file

    frameworks_step()
    m = Models()
    m.direction = "keras"
    m.original, m.result, m.info = mapping_step()
    m.code = Path(job["code_file"]).read_text(encoding="utf-8")
    specs = [InputSpec(tuple(s["shape"]), s["dtype"], s.get("low"), s.get("high"), s.get("spec", ""))
             for s in job["inputs"]]
    report["inputs"] = [{**s.to_dict(), "describe": s.describe()} for s in specs]
    torch_arrays = make_arrays(specs, job.get("seed", 0))
    m.torch_in = [torch.from_numpy(np.ascontiguousarray(a)) for a in torch_arrays]
    m.arrays = [to_keras_layout(a, m.info.inputs[i] if i < len(m.info.inputs) else None)
                for i, a in enumerate(torch_arrays)]
    m.keras_in = m.arrays[0] if len(m.arrays) == 1 else list(m.arrays)

    torch_ns = steps.run("load the original file", lambda: exec_file(m.original, job["file"], "fwtranslate_original"),
                         hint="executing the original file failed")
    m.torch_model = steps.run("build the original model", lambda: eval(job["entry"], torch_ns),
                              hint=f"the entry expression {job['entry']!r} failed on the original")
    if not isinstance(m.torch_model, torch.nn.Module):
        steps.run("build the original model", lambda: _raise(TypeError(
            f"the entry expression {job['entry']!r} gave a {type(m.torch_model).__name__}, not a torch.nn.Module")))
    if job.get("weights"):
        loaded = steps.run("load the weights", lambda: load_torch_weights(m.torch_model, job["weights"]))
        report["weights"] = {"source": job["weights"], **loaded}
    else:
        from .port_torch import randomize_torch
        steps.run("randomise the weights", lambda: randomize_torch(m.torch_model, seed=job.get("seed", 0)))
        report["weights"] = {"source": "random",
                             "note": "torch initialisation; biases and normalisation statistics randomised"}
    m.torch_model.eval()

    def run_original():
        with torch.inference_mode():
            out = m.torch_model(*[t.clone() for t in m.torch_in])     # in-place ops must not touch the inputs
        return [o.detach().cpu().numpy() for o in _flatten(out) if isinstance(o, torch.Tensor)]
    m.torch_out_raw = steps.run("run the original model", run_original,
                                hint=f"the original model does not accept the inputs {_describe(torch_arrays)}")

    keras_ns = steps.run("load the translation", lambda: exec_file(m.code, job.get("against") or job["file"],
                                                                   "fwtranslate_translation"),
                         hint="executing the translated code failed")
    m.keras_model = steps.run("build the translated model", lambda: eval(job["entry"], keras_ns),
                              hint=f"the entry expression {job['entry']!r} failed on the translation")
    if not hasattr(m.keras_model, "layers") or not callable(m.keras_model):
        steps.run("build the translated model", lambda: _raise(TypeError(
            f"the entry expression {job['entry']!r} gave a {type(m.keras_model).__name__} on the translation, "
            "not a Keras model")))
    m.keras_positional = True
    steps.run("run the translated model", lambda: keras_call(m.keras_model, m.arrays),
              hint=f"the translated model failed on the inputs {_describe(m.arrays)}")

    def port():
        from .port_torch import port_weights_to_keras
        return port_weights_to_keras(m.torch_model, m.keras_model, m.info)
    ported = steps.run("port the weights", port)
    report["weights"]["ported"] = len(ported)
    m.keras_out = steps.run("run the translated model",
                            lambda: [np.asarray(o) for o in _flatten(keras_call(m.keras_model, m.arrays))])
    m.original_out = m.torch_out_raw
    m.translated_out = [to_torch_layout(o, m.info.outputs[i] if i < len(m.info.outputs) else None)
                        for i, o in enumerate(m.keras_out)]
    return m


def save_keras_weights(job: dict, m, steps, report: dict) -> dict:
    """Write the ported Keras weights (`.weights.h5`), load them into a fresh build of the translation
    and check it still reproduces the torch outputs (a file that does not load back is worthless)."""
    import os

    import numpy as np

    from .compare import error_stats
    from .worker import _flatten, exec_file

    target = Path(job["output"])
    tmp = target.with_name(f".tmp-{target.name}")      # Keras wants the .weights.h5 suffix

    def reload():
        m.keras_model.save_weights(str(tmp))
        ns = exec_file(m.code, job.get("against") or job["file"], "fwtranslate_reload")
        fresh = eval(job["entry"], ns)
        keras_call(fresh, m.arrays)
        fresh.load_weights(str(tmp))
        out = [np.asarray(o) for o in _flatten(keras_call(fresh, m.arrays))]
        return [to_torch_layout(o, m.info.outputs[i] if i < len(m.info.outputs) else None)
                for i, o in enumerate(out)]
    try:
        again = steps.run("save the Keras weights and load them back", reload)
        checks = []
        for i, (ref, out) in enumerate(zip(m.original_out, again)):
            checks.append({"check": "reloaded", "label": "reloaded keras vs torch", "output": i,
                           **error_stats(ref, out, job["atol"], job["rtol"])})
        report["checks"] += checks
        if not checks or not all(c["passed"] for c in checks):
            report["errors"].append({"step": "save the Keras weights", "message": "not saved: the weights "
                                     "loaded back from the file do not reproduce the original's outputs"})
            return None
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    variables = m.keras_model.weights
    return {"path": str(target), "tensors": len(variables),
            "parameters": int(sum(int(np.prod(v.shape)) for v in variables))}
