"""`python -m translator.fuzz --to keras ...`: the torch-model fuzzer's run loop (the other direction).

Same options and output as the Keras-model fuzzer (translator/fuzz/__main__.py): one line per model,
the details of every failure, and a final line

    N models, M mismatches, K translation errors (reported with a finding), G generator errors in T s

Forms: sequential (a module-level nn.Sequential), subclassed (an nn.Module with forward).
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

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
    from . import PICK, hypothesis_run, model_seed
    from .__main__ import _failing, _report_failure
    from .harness import init_worker
    from .torch_generator import torch_model_specs

    class FuzzFailure(AssertionError):
        pass

    init_worker()
    calls = [0]

    def body(spec):
        calls[0] += 1
        if calls[0] <= PICK:
            return
        outcome = run_torch_spec(spec, layouts=layouts)
        if _failing(outcome, args):
            raise FuzzFailure(spec, outcome)

    try:
        hypothesis_run(torch_model_specs(max_steps=args.max_steps, forms=forms),
                       model_seed(args.seed, args.shrink), body, shrink=True)
    except FuzzFailure as exc:
        spec, outcome = exc.args
        print(f"minimal failing torch model after {calls[0] - PICK} runs:")
        _report_failure(args.shrink, spec, outcome, sys.stdout)
        return 1
    print(f"torch model #{args.shrink} of seed {args.seed} does not fail")
    return 0


def main_keras(args, layouts) -> int:
    from ..rules import load_rules
    from .__main__ import _indent, _report_failure
    from .harness import init_worker
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
    work = [(specs[i], layouts) for i in chosen]
    if args.jobs > 1 and len(work) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker)
        results = pool.map(run_torch_job, work, chunksize=1)
    else:
        init_worker()
        pool, results = None, map(run_torch_job, work)
    counts: Counter = Counter()
    codes: Counter = Counter()
    fams: Counter = Counter()
    messages: Counter = Counter()
    worst = 0.0
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    try:
        for i, outcome in zip(chosen, results):
            spec = specs[i]
            counts[outcome.status] += 1
            fams.update(spec.families)
            if outcome.status == "error":
                codes.update(outcome.codes)
                messages.update({ln.split("] ", 1)[-1].split(";")[0] for lo in outcome.layouts
                                 for ln in lo.message.splitlines() if "FWT" in ln})
            for lo in outcome.layouts:
                if lo.status == "ok" and lo.max_rel is not None:
                    worst = max(worst, lo.max_rel)
            if not args.quiet or outcome.status != "ok":
                print(f"#{i:04d} {outcome.describe():<44} {spec.form:<10} {outcome.seconds:5.2f}s "
                      f"{','.join(spec.families)}")
            if outcome.status in ("mismatch", "generator") or args.show or (outcome.status == "error"
                                                                                 and not args.quiet):
                _report_failure(i, spec, outcome, sys.stdout)
                if args.show:
                    for lo in outcome.layouts:
                        if lo.status == "ok":
                            print(f"  translation ({lo.layout}):\n" + _indent(lo.torch_code))
            if save and outcome.status != "ok":
                (save / f"torch_model_{args.seed}_{i:04d}_{outcome.status}.py").write_text(
                    f"# fuzz --to keras seed {args.seed} model #{i}: {outcome.describe()}\n" + spec.source)
            sys.stdout.flush()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    elapsed = time.perf_counter() - start
    n = len(chosen)
    print(f"families used: {', '.join(f'{k} {v}' for k, v in sorted(fams.items()))}")
    if codes:
        print(f"translation errors by finding: {', '.join(f'{k} {v}' for k, v in sorted(codes.items()))}")
        for message, k in messages.most_common(12):
            print(f"  {k:4d}  {message}")
    print(f"max relative error of the passing comparisons: {worst:.2e}")
    internal = sum(v for k, v in codes.items() if k.startswith("FWT9"))
    print(f"{n} models, {counts['mismatch']} mismatches, {counts['error']} translation errors (reported with a "
          f"finding){f' ({internal} with internal errors FWT9xx)' if internal else ''}, "
          f"{counts['generator']} generator errors in {elapsed:.0f} s")
    bad = counts["mismatch"] + counts["generator"] + internal + (counts["error"] if args.fail_on_errors else 0)
    return 1 if bad else 0
