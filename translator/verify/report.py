"""The verify report: its exit code, its text table, and its JSON form. Imports no framework.

Exit codes: 0 equivalent (every check passed, no step failed); 1 not equivalent (a check failed:
outputs differ); 2 not proven (an error: bad option or input, a step failed, the time limit).
"""
from __future__ import annotations

import json
import math

EQUIVALENT, DIFFERENT, ERROR = 0, 1, 2

VARIANTS = (
    ("keras", "keras (tf.function)"),
    ("torch", "torch (eval, inference_mode)"),
    ("torch_compile", "torch.compile"),
    ("ort_keras", "onnxruntime, keras export"),
    ("ort_torch", "onnxruntime, torch export"),
)
RATIOS = (       # translated / original
    ("torch/keras", "ratio torch / keras"),
    ("torch_compile/keras", "ratio torch.compile / keras"),
    ("ort_torch/ort_keras", "ratio onnxruntime torch / keras"),
    ("keras/torch", "ratio keras / torch"),
    ("keras/torch_compile", "ratio keras / torch.compile"),
    ("ort_keras/ort_torch", "ratio onnxruntime keras / torch"),
)


def failed_checks(report: dict) -> list[dict]:
    return [c for c in report.get("checks") or [] if not c.get("passed")]


def exit_code(report: dict) -> int:
    if failed_checks(report):
        return DIFFERENT
    if report.get("errors") or not report.get("checks"):
        return ERROR
    return EQUIVALENT


def verdict(report: dict) -> str:
    code = exit_code(report)
    if code == EQUIVALENT:
        return "equivalent"
    if code == DIFFERENT:
        n = len(failed_checks(report))
        return f"NOT equivalent ({n} check{'s' if n != 1 else ''} failed)"
    n = len(report.get("errors") or [])
    return f"not proven ({n} step{'s' if n != 1 else ''} failed)" if n else "not proven (nothing was compared)"


def _clean(value):
    """JSON without NaN/Infinity (strict parsers refuse them): non-finite floats become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(report: dict) -> str:
    return json.dumps(_clean(report), indent=2, default=str, allow_nan=False)


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value != value:
        return "nan"
    return f"{value:.3g}" if value else "0"


def _ms(cell) -> str:
    if not cell:
        return "-"
    if "error" in cell:
        return "n/a"
    value = cell["median_ms"]
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _table(rows: list[list[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def render(report: dict) -> str:
    lines = []
    job = report.get("job") or {}
    source = f"against {job['against']}" if job.get("against") else "translated afresh"
    lines.append(f"fwtranslate verify: {job.get('file')} -> {job.get('to', 'torch')} ({source})")
    model = report.get("model") or {}
    if job.get("entry"):
        desc = f"  entry      {job['entry']}"
        if model:
            desc += (f"  ->  {model.get('name')} / {model.get('torch_class')} ({model.get('form')}, "
                     f"{len(model.get('layers') or [])} mapped layers)")
        lines.append(desc)
    if job.get("inputs"):
        lines.append("  inputs     " + ", ".join(i.get("describe") or i.get("spec", "") for i in job["inputs"])
                     + f"  (seed {job.get('seed', 0)})")
    weights = report.get("weights") or {}
    if weights:
        text = "random initialisation" if weights.get("source") == "random" else weights.get("source")
        if "ported" in weights:
            text += f"; {weights['ported']} tensors ported"
        lines.append(f"  weights    {text}")
    if job.get("atol") is not None:
        t, o = ("keras", "torch") if job.get("to") == "keras" else ("torch", "keras")
        lines.append(f"  tolerance  |{t} - {o}| <= {job['atol']:g} x max(1, output scale) + "
                     f"{job['rtol']:g} x |{o}|")
    checks = report.get("checks") or []
    if checks:
        lines.append("")
        rows = [["CHECK", "OUTPUT", "MAX ABS", "MAX REL", "RESULT"]]
        for c in checks:
            result = "pass" if c.get("passed") else "FAIL"
            if c.get("note"):
                result += f" ({c['note']})"
            rows.append([c.get("label", c.get("check", "")), "-" if c.get("output") is None else str(c["output"]),
                         _num(c.get("max_abs")), _num(c.get("max_rel")), result])
        lines += _table(rows)
    onnx = report.get("onnx") or {}
    if onnx:
        lines.append("")
        for side in ("keras", "torch"):
            info = onnx.get(side)
            if not info:
                continue
            facts = [info.get("exporter", "")]
            if info.get("opset"):
                facts.append(f"opset {info['opset']}")
            if info.get("nodes") is not None:
                facts.append(f"{info['nodes']} nodes, onnx.checker ok")
            lines.append(f"  ONNX export ({side}): " + ", ".join(facts))
            if info.get("note"):
                lines.append(f"    note: {info['note']}")
    timing = report.get("timing") or {}
    devices = timing.get("devices") or {}
    if devices:
        lines.append("")
        names = list(devices)
        header = [f"LATENCY ms (median of {timing.get('runs')} runs after {timing.get('warmup')} warm-up)"] + names
        rows = [header]
        for key, label in VARIANTS:
            if not any(key in devices[d] for d in names):
                continue
            rows.append([label] + [_ms(devices[d].get(key)) for d in names])
        ratios = timing.get("ratios") or {}
        for key, label in RATIOS:
            if any(key in (ratios.get(d) or {}) for d in names):
                rows.append([label] + [f"{ratios[d][key]:.2f}x" if key in (ratios.get(d) or {}) else "-"
                                       for d in names])
        lines += _table(rows)
        for d in names:
            for key, label in VARIANTS:
                cell = devices[d].get(key) or {}
                if "error" in cell:
                    lines.append(f"  n/a {label} on {d}: {cell['error']}")
    divergence = report.get("divergence")
    if divergence:
        lines.append("")
        message = divergence.get("message", "")
        where = divergence.get("translated_lines") or {}
        if where:
            message += " (translated file: " + ", ".join(f"{k} at line {v}" for k, v in where.items()) + ")"
        lines.append(message)
    errors = report.get("errors") or []
    if errors:
        lines.append("")
        lines.append("errors:")
        for e in errors:
            body = e.get("message", "").splitlines() or [""]
            lines.append(f"  [{e.get('step')}] {body[0]}")
            lines += [f"    {line}" for line in body[1:]]
    lines.append("")
    lines.append(f"RESULT: {verdict(report)}")
    return "\n".join(lines)
