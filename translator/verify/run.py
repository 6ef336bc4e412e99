"""`fwtranslate verify` and `fwtranslate weights`, the parent side: translate, then run the worker.

The parent never executes user code and never imports a framework: it translates the file (pure
libcst), picks the model the entry expression builds, checks the input specifications against
the translated interface, and starts `translator.verify.worker` in a new process (its own process
group) with a time limit. The worker writes a JSON report; the parent adds what it knows (the job,
the translation's findings and mapping) and returns it. On a time limit the worker's process group
is killed and the report names the step that was running.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..api import translate_file
from .inputs import InputSpecError, check_against_interface, default_specs, parse_input_spec
from .report import exit_code, verdict

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
KERAS_WEIGHT_SUFFIXES = (".keras", ".weights.h5", ".h5", ".hdf5")
TORCH_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
KERAS_OUTPUT_SUFFIX = ".weights.h5"


@dataclass
class Options:
    file: str
    to: str = "torch"
    entry: str | None = None
    name: str | None = None             # the translated model, when the entry does not name it
    inputs: list[str] = field(default_factory=list)
    weights: str | None = None          # verify: Keras weights for the original; weights: the SRC file
    against: str | None = None
    output: str | None = None           # weights: the state_dict file
    layout: str = "native"
    rules: tuple = ()
    atol: float = 1e-5
    rtol: float = 1e-4
    seed: int = 0
    device: str = "all"
    runs: int = 20
    warmup: int = 3
    compile: bool = False
    onnx: bool = True
    timing: bool = True
    threads: int | None = None
    timeout: float = 600.0
    opset: int | None = None
    save_onnx: str | None = None
    isolate: bool = True                # False: run the worker's body in this process (no time limit)


class Failed(Exception):
    """A step of the parent side failed (bad option or input, translation): becomes the report."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step
        self.message = message


def _empty_report(task: str) -> dict:
    return {"task": task, "errors": [], "checks": [], "divergence": None, "onnx": None, "timing": None}


def _finish(report: dict) -> dict:
    report["exit_code"] = exit_code(report)
    report["result"] = verdict(report)
    return report


# ---- progress ------------------------------------------------------------------------------------------

class Progress:
    """One status line on stderr (rewritten in place) while the worker runs; silent when quiet or
    when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, text: str) -> None:
        if not self.enabled or text == "done":
            return
        elapsed = time.monotonic() - self.started
        self.stream.write(f"\r\033[K[{elapsed:5.1f}s] {text} ...")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


# ---- the worker ----------------------------------------------------------------------------------------

def run_worker(job: dict, timeout: float, progress=None) -> dict:
    """Run the worker on `job` (its workdir exists) within `timeout` seconds; its report."""
    workdir = Path(job["workdir"])
    job_path, log_path = workdir / "job.json", workdir / "worker.log"
    job["report"] = str(workdir / "report.json")
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["KERAS_BACKEND"] = "tensorflow"       # verify runs the original on TensorFlow
    read_end, write_end = os.pipe()
    env["FWTRANSLATE_PROGRESS_FD"] = str(write_end)
    last = ["start the worker"]
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "translator.verify.worker", str(job_path)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    pass_fds=(write_end,), env=env, start_new_session=True)
        finally:
            os.close(write_end)

    def reader():
        with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as channel:
            for line in channel:
                line = line.strip()
                if line:
                    if line != "done":
                        last[0] = line
                    if progress is not None:
                        progress(line)
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        thread.join(timeout=2)
        report = _empty_report(job["task"])
        report["timed_out"] = True
        report["errors"].append({"step": last[0], "message": f"time limit: the step '{last[0]}' was still "
                                 f"running after {timeout:g} s (raise it with --timeout)"})
        return report
    except BaseException:
        _kill_group(proc)
        raise
    thread.join(timeout=5)
    report_path = Path(job["report"])
    if report_path.exists():
        return json.loads(report_path.read_text(encoding="utf-8"))
    report = _empty_report(job["task"])
    report["errors"].append({"step": last[0], "message": f"the worker ended with exit code {proc.returncode} "
                             f"during '{last[0]}' without a report; its last output:\n{_tail(log_path)}"})
    return report


def run_inline(job: dict) -> dict:
    """The worker's body in this process: user code runs here, without a time limit (tests, and
    library callers who already run untrusted code in their own sandbox). The report is the one the
    worker would write (round-tripped through JSON, like the worker's)."""
    from .worker import _jsonable, execute
    job["report"] = None
    return json.loads(json.dumps(execute(job), default=_jsonable))


def _kill_group(proc) -> None:
    """Kill the worker and whatever it started (its own process group, created for it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


# ---- shared preparation --------------------------------------------------------------------------------

def _entry_name(entry: str) -> str | None:
    try:
        node = ast.parse(entry.strip(), mode="eval").body
    except SyntaxError:
        raise Failed("entry expression", f"--entry {entry!r} is not a Python expression") from None
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def default_entry(source: str, name: str) -> str:
    """`build_model()` for a builder function or a class, `model` for a module-level variable."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return f"{name}()"
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return f"{name}()"
    return name


def _translate(opts: Options, specs):
    """(Result, ModelInfo, entry) for the original file; raises Failed."""
    path = Path(opts.file)
    if not path.is_file():
        raise Failed("read the file", f"{opts.file}: no such file" if not path.exists() else
                     f"{opts.file}: not a file")
    input_shape = [s.shape[1:] for s in specs] if specs else None
    result = translate_file(path, to=opts.to, layout=opts.layout, input_shape=input_shape, rules=tuple(opts.rules))
    if result.error:
        raise Failed("translate", result.findings[0].format() if result.findings else "translation failed")
    if opts.name:
        info = next((m for m in result.models if opts.name in (m.name, m.torch_class)), None)
        if info is None:
            names = ", ".join(m.name for m in result.models) or "none"
            raise Failed("translate", f"--name {opts.name}: no translated model of that name (translated "
                                      f"models: {names})")
        return result, info, opts.entry or default_entry(path.read_text(encoding="utf-8"), info.name)
    name = _entry_name(opts.entry) if opts.entry else None
    info = next((m for m in result.models if name and name in (m.name, m.torch_class)), None)
    if info is None and len(result.models) == 1:
        info = result.models[0]        # the entry may call a helper that builds the file's one model
    if info is None:
        problems = "\n".join(f.format() for f in result.needs_attention)
        names = ", ".join(m.name for m in result.models) or "none"
        what = (f"cannot tell which translated model the entry {opts.entry!r} builds: give --name" if opts.entry
                and len(result.models) > 1 else "give --entry: the file holds several models"
                if len(result.models) > 1 else "no model was translated" + (
                    " (--to keras takes a file with a PyTorch model)" if opts.to == "keras" else
                    " (--to torch takes a file with a Keras model)"))
        raise Failed("translate", f"{what} (translated models: {names})" + (f"\n{problems}" if problems else ""))
    entry = opts.entry or default_entry(path.read_text(encoding="utf-8"), info.name)
    return result, info, entry


def _specs(opts: Options):
    try:
        return [parse_input_spec(text) for text in opts.inputs]
    except InputSpecError as exc:
        raise Failed("input specification", str(exc)) from None


def original_interface(info, to: str) -> list[dict]:
    """The translated model's inputs with their shapes in the ORIGINAL's axis order (what --input
    gives): Keras order for a Keras original, torch order (the recorded permutation applied to the
    Keras shape) for a torch original."""
    out = []
    for t in info.inputs:
        shape = t.keras_shape
        if to == "keras" and shape is not None and t.permute and len(t.permute) == len(shape):
            shape = tuple(shape[p] for p in t.permute)
        out.append({"name": t.name, "keras_shape": shape})
    return out


def _resolve_specs(specs, info, to: str = "torch"):
    interface = original_interface(info, to)
    if not specs:
        try:
            specs = default_specs(interface)
        except InputSpecError as exc:
            raise Failed("input specification", str(exc)) from None
    problem = check_against_interface(specs, interface)
    if problem:
        raise Failed("input specification", problem)
    return specs


def _job(task: str, opts: Options, result, info, entry, specs, code_file: str, workdir: str) -> dict:
    return {
        "task": task, "to": opts.to, "file": str(Path(opts.file).resolve()), "code_file": code_file,
        "against": str(Path(opts.against).resolve()) if opts.against else None,
        "entry": entry, "model_name": info.name, "layout": opts.layout, "rules": [str(r) for r in opts.rules],
        "input_shape": [list(s.shape[1:]) for s in specs] if opts.inputs else None,
        "inputs": [s.to_dict() for s in specs], "inputs_default": not opts.inputs, "seed": opts.seed,
        "weights": str(Path(opts.weights).resolve()) if opts.weights else None,
        "atol": opts.atol, "rtol": opts.rtol, "device": opts.device, "devices": _devices(opts.device),
        "runs": opts.runs, "warmup": opts.warmup, "compile": opts.compile, "onnx": opts.onnx,
        "timing": opts.timing, "threads": opts.threads, "opset": opts.opset,
        "save_onnx": str(Path(opts.save_onnx).resolve()) if opts.save_onnx else None,
        "output": str(Path(opts.output).resolve()) if opts.output else None,
        "workdir": workdir,
    }


def _devices(device: str) -> list[str]:
    return {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu", "cuda"]}[device]


def _summary(opts: Options, entry, specs) -> dict:
    return {"file": opts.file, "against": opts.against, "to": opts.to, "entry": entry, "layout": opts.layout,
            "inputs": [{**s.to_dict(), "describe": s.describe()} for s in specs], "seed": opts.seed,
            "atol": opts.atol, "rtol": opts.rtol, "device": opts.device, "weights": opts.weights,
            "output": opts.output}


def _run(task: str, opts: Options, progress) -> dict:
    report = _empty_report(task)
    entry, specs = opts.entry, []
    workdir = tempfile.mkdtemp(prefix="fwtranslate-verify-")
    try:
        specs = _specs(opts)
        if task == "weights":
            _check_weight_files(opts)
        elif opts.weights:
            kind, suffixes = (("torch", TORCH_WEIGHT_SUFFIXES) if opts.to == "keras" else
                              ("Keras", KERAS_WEIGHT_SUFFIXES))
            if not opts.weights.lower().endswith(suffixes):
                raise Failed("load the weights", f"--weights {opts.weights}: not a {kind} weight file "
                                                 f"({', '.join(suffixes)})")
        result, info, entry = _translate(opts, specs)
        specs = _resolve_specs(specs, info, opts.to)
        if opts.against:
            against = Path(opts.against)
            if not against.is_file():
                raise Failed("read the translation", f"--against {opts.against}: no such file")
            code_file = str(against.resolve())
        else:
            code_file = os.path.join(workdir, "translated.py")
            Path(code_file).write_text(result.code, encoding="utf-8")
        report["model"] = info.to_dict()
        report["translation"] = {"summary": result.summary(), "findings": [f.to_dict() for f in result.findings]}
        job = _job(task, opts, result, info, entry, specs, code_file, workdir)
        worker_report = run_worker(job, opts.timeout, progress) if opts.isolate else run_inline(job)
        for key in ("model", "translation"):
            worker_report[key] = report[key]
        report = worker_report
    except Failed as exc:
        report["errors"].append({"step": exc.step, "message": exc.message})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if progress is not None and hasattr(progress, "close"):
            progress.close()
    report["job"] = _summary(opts, entry, specs)
    if report.get("inputs"):           # the worker's, with the dtypes the Keras model declares
        report["job"]["inputs"] = report.pop("inputs")
    return _finish(report)


def verify(opts: Options, progress=None) -> dict:
    """Translate (or take --against), run the worker, return the full report (see report.py)."""
    return _run("verify", opts, progress)


def _check_weight_files(opts: Options) -> None:
    src = opts.weights or ""
    if opts.to == "keras":
        _check_torch_weight_files(opts)
        return
    if src.lower().endswith(TORCH_WEIGHT_SUFFIXES):
        raise Failed("weights direction", f"{src} is a torch weight file: --to torch converts Keras weights "
                     "for a Keras model; for a PyTorch model (--model) and its state_dict use --to keras")
    if not src.lower().endswith(KERAS_WEIGHT_SUFFIXES):
        raise Failed("load the weights", f"{src}: not a Keras weight file ({', '.join(KERAS_WEIGHT_SUFFIXES)})")
    if not Path(src).is_file():
        raise Failed("load the weights", f"{src}: no such file")
    out = opts.output or ""
    if not out.lower().endswith((".safetensors", ".pt", ".pth")):
        raise Failed("save the state_dict", f"-o {out or '(missing)'}: give a .safetensors or .pt file")
    if out.lower().endswith(".safetensors"):
        try:
            import importlib.util
            if importlib.util.find_spec("safetensors") is None:
                raise ImportError
        except ImportError:
            raise Failed("save the state_dict", "writing .safetensors needs the safetensors package "
                         "(pip install safetensors, or the 'verify' extra); or write a .pt file") from None


def _check_torch_weight_files(opts: Options) -> None:
    src = opts.weights or ""
    if src.lower().endswith(KERAS_WEIGHT_SUFFIXES):
        raise Failed("weights direction", f"{src} is a Keras weight file: --to keras converts a torch state_dict "
                     "for a PyTorch model; for a Keras model (--model) use --to torch")
    if not src.lower().endswith(TORCH_WEIGHT_SUFFIXES):
        raise Failed("load the weights", f"{src}: not a torch weight file ({', '.join(TORCH_WEIGHT_SUFFIXES)})")
    if not Path(src).is_file():
        raise Failed("load the weights", f"{src}: no such file")
    out = opts.output or ""
    if not out.lower().endswith(KERAS_OUTPUT_SUFFIX):
        raise Failed("save the Keras weights", f"-o {out or '(missing)'}: give a {KERAS_OUTPUT_SUFFIX} file "
                     "(Keras' weight format)")


def convert_weights(opts: Options, progress=None) -> dict:
    """A Keras weight file (opts.weights) -> a torch state_dict file (opts.output), or with --to keras
    a torch state_dict (.pt / .safetensors) -> Keras `.weights.h5`."""
    return _run("weights", opts, progress)
