"""Latency of each Keras fixture model next to its PyTorch translation, measured side by side.

    python benchmarks/model_speed.py [--device cpu|cuda|all] [--runs 20] [--threads 1] [CASE ...]

For every fixtures/keras_to_torch/<case>.keras.py it runs `fwtranslate verify` (translation, weight
port, outputs compared, timings: Keras compiled, torch eval + inference_mode, onnxruntime of each
export) and prints one line per model and device with the median latencies and the ratio
translated/original. Timings come from one run on one machine: compare ratios, not absolute times.
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

FIXTURES = ROOT / "fixtures" / "keras_to_torch"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--device", default="all")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onnx", action="store_true", help="also time the onnxruntime sessions")
    args = parser.parse_args(argv)
    cases = args.cases or sorted(p.name[:-len(".keras.py")] for p in FIXTURES.glob("*.keras.py"))
    print(f"{'model':24} {'device':6} {'keras ms':>10} {'torch ms':>10} {'torch/keras':>12}  outputs")
    failures = 0
    for case in cases:
        spec = json.loads((FIXTURES / f"{case}.entry.json").read_text())
        inputs = [",".join(str(d) for d in i["shape"]) + ":" + i.get("dtype", "float32")
                  + (f":{i['low']}-{i['high']}" if "low" in i else "") for i in spec["inputs"]]
        opts = Options(file=str(FIXTURES / f"{case}.keras.py"), entry=spec["entry"], name=spec["model"],
                       inputs=inputs, device=args.device, runs=args.runs, threads=args.threads,
                       onnx=args.onnx)
        report = verify(opts)
        ok = exit_code(report) == 0
        failures += not ok
        timing = report.get("timing") or {}
        for device, cells in (timing.get("devices") or {}).items():
            keras_ms = (cells.get("keras") or {}).get("median_ms")
            torch_ms = (cells.get("torch") or {}).get("median_ms")
            ratio = torch_ms / keras_ms if keras_ms and torch_ms else float("nan")
            print(f"{case:24} {device:6} {keras_ms or float('nan'):10.3f} {torch_ms or float('nan'):10.3f} "
                  f"{ratio:11.2f}x  {'match' if ok else 'MISMATCH'}")
        if not timing.get("devices"):
            print(f"{case:24} {'-':6} {'':>10} {'':>10} {'':>12}  {'match' if ok else 'MISMATCH'} "
                  f"(no timings: {report.get('error') or report.get('notes')})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
