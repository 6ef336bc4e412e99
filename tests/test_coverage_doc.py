"""docs/coverage.md is generated (translator/coverage.py): fail when it is stale, and check what it says.

The comparison is against a fresh generation from the current rule files, test files and installed
Keras, so a rule added by anyone makes this fail until the doc is regenerated:
    python -m translator.coverage > docs/coverage.md
"""
import re

import pytest

pytest.importorskip("keras")

from translator import coverage  # noqa: E402
from translator.coverage import DOC_PATH, render  # noqa: E402
from translator.rules import load_rules  # noqa: E402


@pytest.fixture(scope="module")
def text():
    return render()


def _status_rows(text):
    section = text.split("## Every layer of `keras.layers`", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([A-Za-z0-9_]+)` \| (class|function) \| ([^|]+) \| ([^|]*) \| (.*) \|$", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice"
            rows[m.group(1)] = (m.group(3).strip(), m.group(4).strip(), m.group(5).strip())
    return rows


def test_coverage_doc_is_current(text):
    assert DOC_PATH.exists(), "docs/coverage.md is missing: run `python -m translator.coverage > docs/coverage.md`"
    assert DOC_PATH.read_text(encoding="utf-8") == text, (
        "docs/coverage.md is stale: run `python -m translator.coverage > docs/coverage.md`")


def test_coverage_lists_every_layer_rule_and_activation(text):
    rules = load_rules()
    for rule in rules.all_layer_rules():
        assert f"| `{rule.id}` |" in text
    for name in rules.activations:
        assert f'`"{name}"`' in text


def test_every_keras_layer_class_has_a_status(text):
    """Every class and functional form of keras.layers is listed once, with a status that agrees
    with the rules: a rule means translated (and, here, tested); no rule means a finding or N/A."""
    _, classes, functions = coverage.keras_layer_classes()
    rows = _status_rows(text)
    assert set(rows) == set(classes) | set(functions)
    rules = load_rules()
    for name, (status, rule_id, notes) in rows.items():
        rule = rules.layers.get(f"keras.layers.{name}") or rules.functions.get(f"keras.layers.{name}")
        if rule is not None:
            assert status == coverage.TRANSLATED, f"{name}: rule {rule.id} without a numerical test"
            assert rule_id == f"`{rule.id}`"
        elif status == coverage.FINDING:
            assert notes.startswith("FWT"), f"{name}: {notes}"
        else:
            assert status == coverage.NOT_APPLICABLE and notes == coverage.NOT_APPLICABLE_REASONS[name]


def test_not_applicable_reasons_name_real_classes():
    """A stale entry (a class Keras no longer has) would hide in the table: refuse it."""
    _, classes, functions = coverage.keras_layer_classes()
    assert not set(coverage.NOT_APPLICABLE_REASONS) - set(classes) - set(functions)


def test_finding_is_checked_by_translation():
    """The finding column comes from translating a model that uses the layer."""
    assert coverage.finding_of("RandomFlip") == "FWT101"


def test_every_rule_with_a_torch_target_has_a_torch_to_keras_numerical_test():
    """Both directions for every rule: a rule naming a torch class, module or function is translated
    from torch to Keras and a torch -> Keras numerical test calls it (translator/coverage_torch.py)."""
    from translator.coverage_torch import missing_torch_tests
    missing = missing_torch_tests(load_rules())
    assert not missing, f"{len(missing)} rules without a torch -> Keras numerical test: {', '.join(missing)}"


def test_torch_column_is_checked_by_translation():
    """The torch -> Keras column comes from the torch-side index and translating probe models."""
    from translator.coverage_torch import op_translates, torch_cell
    rules = load_rules()
    assert torch_cell(rules.by_id["dense"], rules).startswith("tested: ")
    assert op_translates("torch.cat") and not op_translates("torch.frobnicate")
