"""Command line: python -m translator.fuzz [--to torch|keras] --count N --seed S [--jobs J] [--shrink I] [--show I]

`--to keras` fuzzes the other direction: random torch models translated to Keras (torch_main.py).

Prints one line per model (index, outcome, max relative error per layout, form, families), the
details of every failure (source, translation, message), and a final line

    N models, M mismatches, K translation errors, G generator errors in T s

Exit status 1 when any model is a mismatch or a generator error (translation errors are honest
refusals, counted and listed by finding code; --fail-on-errors makes them fail too).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .harness import init_worker, run_job


def _indent(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").split("\n"))


def _report_failure(i: int, spec, outcome, out) -> None:
    out.write(f"---- model #{i}: {outcome.status} ({spec.form}; entry {spec.entry}; inputs "
              f"{[(tuple(s.shape), s.dtype) for s in spec.inputs]})\n")
    out.write(_indent(spec.source))
    details = outcome.details()
    if details:
        out.write("  details:\n" + _indent(details[:4000]))
    for lo in outcome.layouts:
        if lo.status == "mismatch" and lo.torch_code:
            out.write(f"  translation ({lo.layout}):\n" + _indent(lo.torch_code))
            break


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m translator.fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", choices=("torch", "keras"), default="torch",
                   help="torch: random Keras models translated to torch (default); keras: random torch "
                        "models translated to Keras (translator/fuzz/torch_*.py)")
    p.add_argument("--count", type=int, default=100, help="number of models (default 100)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--layouts", default="native,keep", help="layouts to compare (default native,keep)")
    p.add_argument("--max-steps", type=int, default=6, help="max layers/steps per model (default 6)")
    p.add_argument("--forms", default=None,
                   help="--to torch: sequential,functional,subclass (default all; subclass: "
                        "translator/fuzz/subclass.py); --to keras: sequential,subclassed")
    p.add_argument("--show", type=int, action="append", default=[],
                   help="print this model's source and translation (repeatable); runs only these")
    p.add_argument("--save", metavar="DIR", help="write each failing model's source to DIR")
    p.add_argument("--shrink", type=int, metavar="I", default=None,
                   help="minimise failing model #I of the seed with hypothesis' shrinker")
    p.add_argument("--match", default="", help="with --shrink: only failures whose details contain this")
    p.add_argument("--fail-on-errors", action="store_true",
                   help="translation errors fail too (exit status, --shrink)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    return p.parse_args(argv)


def _failing(outcome, args) -> bool:
    bad = {"mismatch", "generator"} | ({"error"} if args.fail_on_errors else set())
    return outcome.status in bad and (not args.match or args.match in outcome.details())


def _shrink(args, layouts, forms) -> int:
    """Minimise model #args.shrink of the seed with hypothesis' shrinker."""
    from .generator import model_specs
    from .harness import run_spec
    return shrink(args, model_specs(max_steps=args.max_steps, forms=forms), run_spec, layouts, "model")


def shrink(args, strategy, run, layouts, noun: str) -> int:
    """Minimise model #args.shrink of the seed: `strategy` draws the models, `run(spec, layouts=)` judges
    one (both fuzzing directions)."""
    from . import PICK, hypothesis_run, model_seed

    class FuzzFailure(AssertionError):
        pass

    init_worker()
    calls = [0]

    def body(spec):
        calls[0] += 1
        if calls[0] <= PICK:          # the run's earlier examples are not model #i
            return
        outcome = run(spec, layouts=layouts)
        if _failing(outcome, args):
            raise FuzzFailure(spec, outcome)

    start = time.perf_counter()
    try:
        hypothesis_run(strategy, model_seed(args.seed, args.shrink), body, shrink=True)
    except FuzzFailure as exc:
        spec, outcome = exc.args
        print(f"minimal failing {noun} after {calls[0] - PICK} runs ({time.perf_counter() - start:.0f} s):")
        _report_failure(args.shrink, spec, outcome, sys.stdout)
        return 1
    print(f"{noun} #{args.shrink} of seed {args.seed} does not fail")
    return 0


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    layouts = tuple(x for x in args.layouts.split(",") if x)
    if args.forms is None:
        args.forms = "sequential,functional" + (",subclass" if args.to == "torch" else "")
    forms = tuple(x for x in args.forms.split(",") if x)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.to == "keras":
        from .torch_main import main_keras
        return main_keras(args, layouts)
    if args.shrink is not None:
        return _shrink(args, layouts, forms)

    from . import generate
    from ..rules import load_rules
    from .families import active, unfuzzed_rules

    rules = load_rules()
    start = time.perf_counter()
    chosen = [i for i in args.show if i >= 0] or list(range(args.count))
    specs = {}
    for i in chosen:
        specs[i], = generate(1, args.seed, rules, max_steps=args.max_steps, forms=forms, start=i)
    act = active(rules)
    print(f"fuzzing {len(specs)} models (seed {args.seed}, layouts {','.join(layouts)}); "
          f"{len(act.families)} layer families and {len(act.merges)} merge families active")
    missing = unfuzzed_rules(rules)
    if missing:
        print(f"layer rules no family generates: {', '.join(missing)}")
    sys.stdout.flush()

    from .runner import Direction, run_specs
    return run_specs(args, chosen, specs, layouts,
                     Direction(run_job, "model", "fuzz", "translation errors", summarise_messages=False,
                               internal_is_bad=False), start)

if __name__ == "__main__":
    sys.exit(main())
