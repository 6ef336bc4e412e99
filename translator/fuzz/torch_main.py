"""`python -m translator.fuzz --to keras ...`: the torch-model fuzzer's run loop (the other direction).

Same options and output as the Keras-model fuzzer (translator/fuzz/__main__.py): one line per model,
the details of every failure, and a final line

    N models, M mismatches, K translation errors (reported with a finding), G generator errors in T s

Forms: sequential (a module-level nn.Sequential), subclassed (an nn.Module with forward).
"""
from __future__ import annotations

import sys
import time

from .torch_harness import run_torch_job, run_torch_spec

FORMS = ("sequential", "subclassed")


def _forms(args) -> tuple:
    """--forms of the torch direction; the Keras direction's "functional" (its default) means subclassed."""
    names = [{"functional": "subclassed"}.get(x, x) for x in args.forms.split(",") if x]
    bad = [x for x in names if x not in FORMS]
    if bad:
        raise SystemExit(f"--to keras: unknown form(s) {', '.join(bad)}; choose from {', '.join(FORMS)}")
    return tuple(dict.fromkeys(names)) or FORMS


def _shrink(args, layouts, forms) -> int:
    from .__main__ import shrink
    from .torch_generator import torch_model_specs
    return shrink(args, torch_model_specs(max_steps=args.max_steps, forms=forms), run_torch_spec, layouts,
                  "torch model")


def main_keras(args, layouts) -> int:
    from ..rules import load_rules
    from .torch_families import FAMILIES, active_families
    from .torch_generator import generate_torch

    forms = _forms(args)
    if args.shrink is not None:
        return _shrink(args, layouts, forms)
    rules = load_rules()
    start = time.perf_counter()
    chosen = [i for i in args.show if i >= 0] or list(range(args.count))
    specs = {}
    for i in chosen:
        specs[i], = generate_torch(1, args.seed, rules, max_steps=args.max_steps, forms=forms, start=i)
    act = active_families(rules)
    print(f"fuzzing {len(specs)} torch models --to keras (seed {args.seed}, layouts {','.join(layouts)}); "
          f"{len(act)} of {len(FAMILIES)} torch families active")
    off = [f.name for f in FAMILIES if f not in act]
    if off:
        print(f"families without a torch -> keras rule: {', '.join(off)}")
    sys.stdout.flush()
    from .runner import Direction, run_specs
    return run_specs(args, chosen, specs, layouts,
                     Direction(run_torch_job, "torch_model", "fuzz --to keras",
                               "translation errors (reported with a finding)", summarise_messages=True,
                               internal_is_bad=True), start)
