"""Differential fuzzing: random valid Keras models, translated, ported and compared.

    python -m translator.fuzz --count 1000 --seed 7            # run 1000 models (seeded)
    python -m translator.fuzz --count 200 --seed 7 --jobs 2    # in two worker processes
    python -m translator.fuzz --count 300 --seed 7 --shrink    # minimise the first failure
    python -m translator.fuzz --count 50 --seed 7 --show 12    # print model #12's source and code

`families.py` is the table of layer families (one entry per family; a family is generated only
when its rule exists), `generator.py` the hypothesis strategy writing models as source code,
`harness.py` builds, translates, ports and compares one model. Failures found become regression
tests in tests/test_fuzz_regressions.py; tests/test_fuzz.py runs a bounded sample in CI.
Needs the verify and dev extras (numpy, tensorflow, keras, torch, hypothesis).
"""
from __future__ import annotations


def generate(count: int, seed: int, rules=None, max_steps: int = 6, forms=("sequential", "functional")):
    """`count` ModelSpecs drawn by hypothesis from a fixed seed (deterministic for a given
    hypothesis version and set of active families)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed

    from .generator import model_specs

    specs = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @hyp_seed(seed)
    @given(model_specs(rules, max_steps=max_steps, forms=forms))
    def collect(spec):
        specs.append(spec)

    collect()
    return specs[:count]


def run_spec(spec, **kwargs):
    from .harness import run_spec as _run
    return _run(spec, **kwargs)
