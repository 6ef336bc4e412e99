"""The Keras fuzzer's subclass form (translator/fuzz/subclass.py): random layer graphs written as a
`keras.Model` subclass, with nested Layer classes, Sequentials of lists built in __init__, layer lists
and tensor lists in call.

A bounded sample runs like tests/test_fuzz.py's (built in Keras with random weights, translated in both
layouts, ported and compared: no mismatch, no crash, no model Keras rejects, no internal error). Larger
runs: `python -m translator.fuzz --forms subclass --count 300 --seed 1 --jobs 2`.
"""
from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("keras")
pytest.importorskip("hypothesis")

from translator.fuzz import generate  # noqa: E402
from translator.fuzz.harness import run_spec  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SEED = 4242
COUNT = 12

# Each structural variant of the form, as the generated source spells it.
VARIANTS = {
    "plain attribute": r"self\.\w+ = (keras\.layers\.|layers\.|tf\.keras\.layers\.)?[A-Z]\w*\(",
    "nested Layer class with constructor parameters": r"class Block\d\(keras\.layers\.Layer\):\n"
                                                      r"    def __init__\(self, \w+",
    "Sequential of a local list": r"self\.\w+ = keras\.Sequential\((body|layers_|stack|items)",
    "append in a loop over a constant range": r"for _ in range\(\d\):\n +\w+\.append\(",
    "extend": r"\.extend\(\[", "+= [...]": r" \+= \[",
    "append under an if on a constructor parameter": r"if (use_extra|deep|with_norm)\d*:\n +\w+\.append\(",
    "layer list iterated in call": r"self\.blocks_\d+ = \[\]\n(.|\n)*for \w+ in self\.blocks_\d+:",
    "tensor list read back reversed": r"reversed\(skips_\d+\)",
    "tensor list concatenated": r"keras\.ops\.concatenate\(feats_\d+, axis=-1\)",
    "super().__init__(**kwargs)": r"super\(\)\.__init__\(\*\*kwargs\)",
    "two inputs in one call argument": r"inputs\[1\]|x, y = inputs",
}


def test_subclass_form_draws_every_variant():
    """Over 60 drawn models every structural variant appears (the generator keeps covering them)."""
    sources = "\n".join(spec.source for spec in generate(60, SEED + 1, forms=("subclass",)))
    missing = [name for name, pattern in VARIANTS.items() if not re.search(pattern, sources)]
    assert not missing, missing


def test_subclass_sample():
    """12 random subclassed models: no mismatch (values, shapes, torch code that fails, weights that do
    not port), no crash, no model Keras rejects, no internal error; most translate."""
    failures, ok = [], 0
    for i, spec in enumerate(generate(COUNT, SEED, forms=("subclass",))):
        assert spec.form == "subclass" and "(keras.Model):" in spec.source
        outcome = run_spec(spec)
        internal = outcome.status == "error" and any(c.startswith("FWT9") for c in outcome.codes)
        if outcome.status in ("mismatch", "generator") or internal:
            failures.append(f"---- model #{i} (seed {SEED}, entry {spec.entry}): {outcome.describe()}\n"
                            f"{spec.source}\n{outcome.details()[:3000]}")
        ok += outcome.status == "ok"
    assert not failures, "\n".join(failures)
    assert ok >= 3, f"only {ok}/{COUNT} models translated and compared"
