"""Latency of every fixture model next to its translation, both directions, measured side by side.

    python benchmarks/model_speed.py [--direction both|torch|keras] [--device cpu|cuda|all]
                                     [--runs 20] [--threads 1] [--onnx] [CASE ...]

Keras -> torch: every fixtures/keras_to_torch/<case>.keras.py; torch -> Keras: every
fixtures/torch_to_keras/<case>.torch.py (with its <case>.entry.json). For each it runs
`fwtranslate verify` (translation, weight port, outputs compared, timings: Keras compiled with
tf.function, torch eval + inference_mode, and with --onnx onnxruntime of each export) and prints one
line per model and device: the median latencies of Keras and torch, the ratio translated/original
(torch/keras for a Keras original, keras/torch for a torch original) and whether the outputs
matched. Timings come from one run on one machine: compare ratios, not absolute times; on a shared
or loaded machine repeat the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from translator.verify.report import exit_code  # noqa: E402
from translator.verify.run import Options, verify  # noqa: E402

DIRECTIONS = {
    # target: (fixture folder, original suffix, original framework)
    "torch": (ROOT / "fixtures" / "keras_to_torch", ".keras.py", "keras"),
    "keras": (ROOT / "fixtures" / "torch_to_keras", ".torch.py", "torch"),
}


def cases_of(target: str) -> list[str]:
    folder, suffix, _ = DIRECTIONS[target]
    return sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")
                  if (folder / (p.name[: -len(suffix)] + ".entry.json")).exists())


def input_specs(spec: dict) -> list[str]:
    return [",".join(str(d) for d in i["shape"]) + ":" + i.get("dtype", "float32")
            + (f":{i['low']}-{i['high']}" if "low" in i else "") for i in spec["inputs"]]


def measure(target: str, case: str, args) -> list[dict]:
    """One row per timed device for a fixture (or one row saying why there are no timings)."""
    folder, suffix, original = DIRECTIONS[target]
    spec = json.loads((folder / f"{case}.entry.json").read_text())
    opts = Options(file=str(folder / f"{case}{suffix}"), to=target, entry=spec["entry"], name=spec.get("model"),
                   inputs=input_specs(spec), device=args.device, runs=args.runs, threads=args.threads,
                   onnx=args.onnx)
    report = verify(opts)
    ok = exit_code(report) == 0
    base = {"direction": f"{original}->{target}", "model": case, "match": ok}
    timing = report.get("timing") or {}
    rows = []
    for device, cells in (timing.get("devices") or {}).items():
        def med(name):
            return (cells.get(name) or {}).get("median_ms")
        keras_ms, torch_ms = med("keras"), med("torch")
        translated, orig = (torch_ms, keras_ms) if target == "torch" else (keras_ms, torch_ms)
        row = {**base, "device": device, "keras_ms": keras_ms, "torch_ms": torch_ms,
               "ratio": translated / orig if translated and orig else None}
        if args.onnx:
            ok_k, ok_t = med("ort_keras"), med("ort_torch")
            row["ort_keras_ms"], row["ort_torch_ms"] = ok_k, ok_t
            t2, o2 = (ok_t, ok_k) if target == "torch" else (ok_k, ok_t)
            row["ort_ratio"] = t2 / o2 if t2 and o2 else None
        rows.append(row)
    if not rows:
        errors = "; ".join(f"[{e['step']}] {e['message'].splitlines()[0]}" for e in report.get("errors") or [])
        rows.append({**base, "device": "-", "note": errors or "no timings"})
    return rows


def _f(value, width: int, fmt: str = ".3f", suffix: str = "") -> str:
    return f"{'-':>{width}}" if value is None else f"{format(value, fmt) + suffix:>{width}}"


def render(rows: list[dict], onnx: bool) -> str:
    head = f"{'direction':14} {'model':22} {'device':6} {'keras ms':>9} {'torch ms':>9} {'translated/original':>20}"
    if onnx:
        head += f" {'ort keras':>9} {'ort torch':>9} {'ort ratio':>9}"
    lines = [head + "  outputs"]
    for r in rows:
        line = (f"{r['direction']:14} {r['model']:22} {r['device']:6} {_f(r.get('keras_ms'), 9)} "
                f"{_f(r.get('torch_ms'), 9)} {_f(r.get('ratio'), 20, '.2f', 'x')}")
        if onnx:
            line += (f" {_f(r.get('ort_keras_ms'), 9)} {_f(r.get('ort_torch_ms'), 9)} "
                     f"{_f(r.get('ort_ratio'), 9, '.2f', 'x')}")
        line += "  " + ("match" if r["match"] else "MISMATCH")
        if r.get("note"):
            line += f" ({r['note']})"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="fixture names (default: all of the chosen directions)")
    parser.add_argument("--direction", choices=("both", "torch", "keras"), default="both",
                        help="torch: Keras originals -> torch; keras: torch originals -> Keras")
    parser.add_argument("--device", default="all")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onnx", action="store_true", help="also time the onnxruntime sessions")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    targets = ("torch", "keras") if args.direction == "both" else (args.direction,)
    rows = []
    for target in targets:
        available = cases_of(target)
        for case in [c for c in args.cases if c in available] if args.cases else available:
            rows += measure(target, case, args)
            print(render(rows[-1:], args.onnx).splitlines()[-1], file=sys.stderr, flush=True)
    print(render(rows, args.onnx))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if rows and all(r["match"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
