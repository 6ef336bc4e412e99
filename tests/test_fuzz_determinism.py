"""The fuzzers' model #i of a seed is the same model whatever the process imported before.

A model number printed by one run (`python -m translator.fuzz --seed S`, a test, a script) must name
the same model under `--show I`, `--shrink I` and in a regression test. Hypothesis draws some values
from the literals of every local module in `sys.modules` (translator/fuzz/determinism.py), so each
case draws the same models in two fresh interpreters, one of which first imports the fuzz CLI and a
module full of literals (and runs under another hash seed): the sources must be equal.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

ROOT = Path(__file__).resolve().parent.parent

# Without the fix, these windows drew different models after `import translator.fuzz.__main__` or
# the literal module (Keras: #0-#2, #4, #5 of seed 3; torch: #15, #16, #18 of seed 3).
CASES = {
    "keras": "from translator.fuzz import generate\n"
             "specs = generate(6, seed=3, forms=('sequential', 'functional', 'subclass'))\n",
    "torch": "from translator.fuzz.torch_generator import generate_torch\n"
             "specs = generate_torch(6, seed=3, start=15)\n",
}

PRIOR_IMPORTS = ("import translator.fuzz.__main__, translator.fuzz.torch_main\n"
                 "import fuzz_literals_probe\n")


def _literals_module(directory: Path) -> None:
    ints = ", ".join(str(i) for i in range(5, 3000, 7))
    floats = ", ".join(repr(i / 7) for i in range(1, 200))
    names = ", ".join(repr(f"name_{i}") for i in range(100))
    (directory / "fuzz_literals_probe.py").write_text(f"INTS = [{ints}]\nFLOATS = [{floats}]\n"
                                                      f"NAMES = [{names}]\n")


def _draw(case: str, prior: str, extra_path: Path, hash_seed: str) -> list[str]:
    code = ("import json, sys\n" + prior + CASES[case]
            + "json.dump([s.source for s in specs], sys.stdout)\n")
    env = dict(os.environ, PYTHONHASHSEED=hash_seed,
               PYTHONPATH=os.pathsep.join([str(ROOT), str(extra_path)]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_draw_independent_of_prior_imports(case, tmp_path):
    _literals_module(tmp_path)
    plain = _draw(case, "", tmp_path, "1")
    loaded = _draw(case, PRIOR_IMPORTS, tmp_path, "2")
    assert len(plain) == len(loaded) == 6
    differ = [i for i, (a, b) in enumerate(zip(plain, loaded)) if a != b]
    assert not differ, (f"{case}: models {differ} of the window depend on prior imports; first:\n"
                        f"{plain[differ[0]]}\n---- vs ----\n{loaded[differ[0]]}")


def test_local_constants_disabled_restores_hypothesis():
    """The pool is empty inside the context and hypothesis' own state is back afterwards (so other
    hypothesis tests in the same process keep their usual behaviour)."""
    providers = pytest.importorskip("hypothesis.internal.conjecture.providers")
    if not hasattr(providers, "_get_local_constants"):
        pytest.skip("this hypothesis has no local-constant pool")
    from translator.fuzz.determinism import local_constants_disabled

    real = providers._get_local_constants
    assert len(real()) > 0          # the translator package itself is local code
    providers.CONSTANTS_CACHE[("integer", "probe")] = ((), (1,))
    with local_constants_disabled():
        assert len(providers._get_local_constants()) == 0
        assert ("integer", "probe") not in providers.CONSTANTS_CACHE
        providers.CONSTANTS_CACHE[("integer", "inside")] = ((), ())
    assert providers._get_local_constants is real
    assert ("integer", "inside") not in providers.CONSTANTS_CACHE
