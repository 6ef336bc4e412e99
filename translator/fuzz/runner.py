"""Run generated models (in a process pool when --jobs > 1), print each outcome, save the failing
ones, and print the totals: the loop both fuzzing directions share (__main__.py for Keras models,
torch_main.py for torch models)."""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Direction:
    job: Callable                 # (spec, layouts) -> Outcome, picklable (a module-level function)
    save_prefix: str              # file name prefix of saved failing models ("model", "torch_model")
    save_label: str               # first-line comment of a saved model ("fuzz", "fuzz --to keras")
    errors_label: str             # how the totals line names translation errors
    summarise_messages: bool      # print the most common finding messages at the end (else inline)
    internal_is_bad: bool         # FWT9xx internal errors fail the run


def run_specs(args, chosen: list[int], specs: dict, layouts: tuple, direction: Direction, start: float) -> int:
    from .__main__ import _indent, _report_failure
    from .harness import init_worker

    work = [(specs[i], layouts) for i in chosen]
    if args.jobs > 1 and len(work) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker)
        results = pool.map(direction.job, work, chunksize=1)
    else:
        init_worker()
        pool, results = None, map(direction.job, work)

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
                if direction.summarise_messages:
                    messages.update({ln.split("] ", 1)[-1].split(";")[0] for lo in outcome.layouts
                                     for ln in lo.message.splitlines() if "FWT" in ln})
            for lo in outcome.layouts:
                if lo.status == "ok" and lo.max_rel is not None:
                    worst = max(worst, lo.max_rel)
            if not args.quiet or outcome.status != "ok":
                print(f"#{i:04d} {outcome.describe():<44} {spec.form:<10} {outcome.seconds:5.2f}s "
                      f"{','.join(spec.families)}")
            if outcome.status == "error" and args.quiet and not direction.summarise_messages:
                for line in sorted({ln.split("] ", 1)[-1] for lo in outcome.layouts
                                    for ln in lo.message.splitlines() if "[error]" in ln}):
                    print(f"      {line}")
            if outcome.status in ("mismatch", "generator") or args.show or (outcome.status == "error"
                                                                                 and not args.quiet):
                _report_failure(i, spec, outcome, sys.stdout)
                if args.show:
                    for lo in outcome.layouts:
                        if lo.status == "ok":
                            print(f"  translation ({lo.layout}):\n" + _indent(lo.torch_code))
            if save and outcome.status != "ok":
                (save / f"{direction.save_prefix}_{args.seed}_{i:04d}_{outcome.status}.py").write_text(
                    f"# {direction.save_label} seed {args.seed} model #{i}: {outcome.describe()}\n" + spec.source)
            sys.stdout.flush()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    elapsed = time.perf_counter() - start
    print(f"families used: {', '.join(f'{k} {v}' for k, v in sorted(fams.items()))}")
    if codes:
        print(f"translation errors by finding: {', '.join(f'{k} {v}' for k, v in sorted(codes.items()))}")
        for message, k in messages.most_common(12):
            print(f"  {k:4d}  {message}")
    print(f"max relative error of the passing comparisons: {worst:.2e}")
    internal = sum(v for k, v in codes.items() if k.startswith("FWT9"))
    print(f"{len(chosen)} models, {counts['mismatch']} mismatches, {counts['error']} {direction.errors_label}"
          f"{f' ({internal} with internal errors FWT9xx)' if internal else ''}, "
          f"{counts['generator']} generator errors in {elapsed:.0f} s")
    bad = counts["mismatch"] + counts["generator"] + (internal if direction.internal_is_bad else 0) \
        + (counts["error"] if args.fail_on_errors else 0)
    return 1 if bad else 0
