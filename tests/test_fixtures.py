"""Golden fixture models, Keras -> torch: fixtures/keras_to_torch/<case>.keras.py.

Each case has, next to the Keras source:
  <case>.entry.json    how to build it: {"entry": expression, "model": name for Result.model(),
                       "inputs": [{"shape": [batch, ...], "dtype": ..., "low": ..., "high": ...}]}
  <case>.torch.py      the reviewed translation (default native layout)
  <case>.findings.txt  the reviewed findings, one Finding.format() line each, file = <case>.keras.py

Checks per case (one test id per fixture):
  golden      the translation and its findings equal the reviewed files
  numeric     native and keep layouts: build both models, randomize the weights Keras sets to
              constants (biases, BatchNorm gamma/beta/moving stats), port, compare outputs
              (max abs error <= 1e-5 relative to the output scale)
  compiles    the translation compiles and carries no error markers or error findings
  idempotent  translating the golden torch file again finds no Keras model (FWT904) and
              leaves it byte for byte as it was

Regenerate the goldens with `python -m tests.regen_fixtures` and review the diff.
A golden with a KNOWN_BUGS entry is the engine's output corrected (CORRECTIONS, exact text
replacements) to the output it should give: its golden test is an expected failure, and
test_golden_differs_only_by_the_known_bugs checks that nothing else differs.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path

import pytest

from translator import translate_file, translate_source
from translator.findings import CODES, ERROR

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "keras_to_torch"
SUFFIX = ".keras.py"
CASES = sorted(p.name[: -len(SUFFIX)] for p in FIXTURES.glob("*" + SUFFIX))
LAYOUTS = ("native", "keep")
ATOL = 1e-5

# (case, check) -> the engine bug that makes it fail. Marked xfail(strict=True): when the bug is
# fixed the test passes unexpectedly and fails the run, so the entry must then be removed.
# check: "golden", "numeric-native", "numeric-keep", "compiles", "idempotent".
KNOWN_BUGS: dict[tuple[str, str], str] = {}

# Reviewed goldens: how the engine's output must be corrected for each KNOWN_BUGS golden.
# case -> [(which file: "torch" or "findings", engine text, reviewed text)]
CORRECTIONS: dict[str, list[tuple[str, str, str]]] = {}


def reviewed(case: str) -> tuple[dict[str, str], list[str]]:
    """The golden texts for `case` ({"torch": ..., "findings": ...}) and the corrections that failed."""
    result, findings = translate_case(case)
    texts = {"torch": result.code, "findings": findings}
    failed = []
    for kind, old, new in CORRECTIONS.get(case, []):
        if texts[kind].count(old) != 1:
            failed.append(f"{kind}: {old.strip()[:70]!r}")
            continue
        texts[kind] = texts[kind].replace(old, new)
    return texts, failed


_MARKER = re.compile(r"#\s*fwtranslate (FWT\d{3})")


def spec(case: str) -> dict:
    return json.loads((FIXTURES / f"{case}.entry.json").read_text())


def keras_path(case: str) -> Path:
    return FIXTURES / f"{case}{SUFFIX}"


def torch_path(case: str) -> Path:
    return FIXTURES / f"{case}.torch.py"


def findings_path(case: str) -> Path:
    return FIXTURES / f"{case}.findings.txt"


def translate_case(case: str, layout: str = "native"):
    """(result, findings text) with each finding's file made neutral (<case>.keras.py)."""
    result = translate_file(keras_path(case), layout=layout)
    lines = [dataclasses.replace(f, file=keras_path(case).name).format() for f in result.findings]
    return result, "".join(line + "\n" for line in lines)


def _params(check: str, cases=CASES, layouts=None):
    out = []
    for case in cases:
        for layout in layouts or [None]:
            key = check if layout is None else f"{check}-{layout}"
            reason = KNOWN_BUGS.get((case, key))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            args = (case,) if layout is None else (case, layout)
            out.append(pytest.param(*args, marks=marks, id=case if layout is None else f"{case}-{layout}"))
    return out


def _diff(expected: str, actual: str, name: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        f"{name} (golden)", f"{name} (translation)"))


def test_every_fixture_is_complete():
    assert CASES, f"no fixtures under {FIXTURES}"
    for case in CASES:
        for path in (FIXTURES / f"{case}.entry.json", torch_path(case), findings_path(case)):
            assert path.exists(), f"{case}: missing {path.name} (run python -m tests.regen_fixtures)"
        s = spec(case)
        assert {"entry", "model", "inputs"} <= s.keys(), f"{case}.entry.json: {sorted(s)}"
    for case, _ in KNOWN_BUGS:
        assert case in CASES, f"KNOWN_BUGS names a fixture that does not exist: {case}"
    golden_bugs = {case for case, check in KNOWN_BUGS if check == "golden"}
    assert golden_bugs == set(CORRECTIONS), "KNOWN_BUGS golden entries and CORRECTIONS must go together"


@pytest.mark.parametrize("case", _params("golden"))
def test_golden(case):
    result, findings = translate_case(case)
    golden = torch_path(case).read_text()
    golden_findings = findings_path(case).read_text()
    assert result.code == golden, _diff(golden, result.code, torch_path(case).name)
    assert findings == golden_findings, _diff(golden_findings, findings, findings_path(case).name)


@pytest.mark.parametrize("case", sorted(CORRECTIONS))
def test_golden_differs_only_by_the_known_bugs(case):
    """For a KNOWN_BUGS golden: the engine's output, corrected for exactly those bugs, is the golden.

    Fails (it is not an expected failure) when the output changed in any other way, or when a bug
    was fixed: then review, update CORRECTIONS and KNOWN_BUGS, and rerun tests.regen_fixtures.
    """
    assert (case, "golden") in KNOWN_BUGS, f"CORRECTIONS[{case!r}] without a KNOWN_BUGS golden entry"
    texts, failed = reviewed(case)
    assert not failed, "corrections that no longer apply: " + "; ".join(failed)
    for path, text in ((torch_path(case), texts["torch"]), (findings_path(case), texts["findings"])):
        golden = path.read_text()
        assert text == golden, _diff(golden, text, path.name)


@pytest.mark.parametrize("case", _params("compiles"))
def test_compiles_without_error_markers(case):
    for layout in LAYOUTS:
        result, _ = translate_case(case, layout)
        compile(result.code, f"{case}.torch.py[{layout}]", "exec")
        errors = [f.format() for f in result.findings if f.severity == ERROR]
        assert not errors and not result.error, f"{layout}: " + "\n".join(errors)
        markers = [code for code in _MARKER.findall(result.code) if CODES.get(code, (ERROR,))[0] == ERROR]
        assert not markers, f"{layout}: error markers left in the translation: {markers}"


@pytest.mark.parametrize("case", _params("idempotent"))
def test_translating_the_golden_again_changes_nothing(case):
    golden = torch_path(case).read_text()
    result = translate_source(golden, filename=torch_path(case).name)
    assert [f.code for f in result.findings] == ["FWT904"], [f.format() for f in result.findings]
    assert result.code == golden, _diff(golden, result.code, torch_path(case).name)


@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")
@pytest.mark.parametrize("case, layout", _params("numeric", layouts=LAYOUTS))
def test_numeric(case, layout):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    from translator.verify.compare import compare_source, random_input, randomize_weights

    s = spec(case)
    inputs = [random_input(tuple(i["shape"]), i.get("dtype", "float32"), i.get("low", 0), i.get("high", 10),
                           seed=k) for k, i in enumerate(s["inputs"])]
    keras.utils.set_random_seed(0)      # kernels (Keras initialisers) are reproducible too
    comparison = compare_source(keras_path(case).read_text(), s["entry"], inputs, s["model"], layout=layout,
                                prepare=lambda model: randomize_weights(model, seed=1))
    assert comparison.ok(ATOL), (f"{layout}: max abs error {comparison.max_abs} for output scale "
                                 f"{comparison.scale} (tolerance {ATOL} x max(1, scale))")
