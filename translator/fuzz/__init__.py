"""Differential fuzzing: random valid Keras models, translated, ported and compared.

    python -m translator.fuzz --count 1000 --seed 7            # run 1000 models (seeded)
    python -m translator.fuzz --count 200 --seed 7 --jobs 2    # in two worker processes
    python -m translator.fuzz --seed 7 --shrink 12             # minimise failing model #12 of seed 7
    python -m translator.fuzz --seed 7 --show 12               # model #12's source and translations
    python -m translator.fuzz --count 500 --save DIR           # also write failing sources to DIR
    python -m translator.fuzz --forms subclass --count 300     # only keras.Model subclasses

Models come in three forms (`--forms`, default all): a Sequential, a Functional graph, or a
`keras.Model` subclass (subclass.py: nested Layer classes, Sequentials of lists built in __init__,
layer lists and tensor lists in call).

The other direction, random PyTorch models translated to Keras (`--to keras`), lives in the torch_*
modules: torch_families.py (the torch layer families), torch_generator.py (the strategy),
torch_harness.py (build in torch, translate, port torch -> Keras, compare), torch_main.py (the run
loop); tests/test_fuzz_torch.py runs a bounded sample in CI.

`families.py` is the table of layer families (one entry per family; a family is generated only
when its rule exists), `generator.py` the hypothesis strategy writing models as source code,
`harness.py` builds, translates, ports and compares one model. Failures found become regression
tests in tests/test_fuzz_regressions.py; tests/test_fuzz.py runs a bounded sample in CI.
Needs the verify and dev extras (numpy, tensorflow, keras, torch, hypothesis).
"""
from __future__ import annotations


# Hypothesis' first examples of a run are its simplest (the all-zero draw, then mutations of it)
# and later examples mutate earlier ones, so one long run yields clusters of near-duplicates. Each
# model is therefore drawn by its own short run, seeded from (seed, index): model #i of a seed is
# reproducible on its own (`--show i`) and can be shrunk on its own (`--shrink i`).
PICK = 3     # the example of each short run that is used (0 is always the minimal model)
_SEED_STRIDE = 1_000_003


def model_seed(seed: int, index: int) -> int:
    return seed * _SEED_STRIDE + index


def hypothesis_run(spec_strategy, seed: int, body, examples: int = PICK + 1, shrink: bool = False):
    """Run `body(spec)` on the examples of one seeded hypothesis run (and shrink when it raises)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    from .determinism import local_constants_disabled

    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]

    @settings(max_examples=examples, database=None, deadline=None, phases=phases,
              suppress_health_check=list(HealthCheck), derandomize=False, report_multiple_bugs=False,
              print_blob=False)
    @hyp_seed(seed)
    @given(spec_strategy)
    def run(spec):
        body(spec)

    with local_constants_disabled():     # the draw must not depend on what the process imported
        run()


def generate(count: int, seed: int, rules=None, max_steps: int = 6, forms=("sequential", "functional"),
             start: int = 0):
    """Models #start .. #start+count-1 of `seed` (deterministic for a given hypothesis version and
    set of active families, whatever else the process imported: determinism.py)."""
    from .generator import model_specs

    strategy = model_specs(rules, max_steps=max_steps, forms=forms)
    specs = []
    for index in range(start, start + count):
        drawn = []
        hypothesis_run(strategy, model_seed(seed, index), drawn.append)
        specs.append(drawn[min(PICK, len(drawn) - 1)])
    return specs


def run_spec(spec, **kwargs):
    from .harness import run_spec as _run
    return _run(spec, **kwargs)
