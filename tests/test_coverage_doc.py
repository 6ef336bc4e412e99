"""docs/coverage.md is generated from the rule files: fail when it is stale."""
from translator.coverage import DOC_PATH, render


def test_coverage_doc_is_current():
    assert DOC_PATH.exists(), "docs/coverage.md is missing: run `python -m translator.coverage > docs/coverage.md`"
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/coverage.md is stale: run `python -m translator.coverage > docs/coverage.md`")


def test_coverage_lists_every_layer_rule_and_activation():
    from translator.rules import load_rules
    text = render()
    rules = load_rules()
    for rule in rules.all_layer_rules():
        assert f"| `{rule.id}` |" in text
    for name in rules.activations:
        assert f'`"{name}"`' in text
