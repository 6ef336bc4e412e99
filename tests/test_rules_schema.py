"""Malformed rule files give a RuleError naming the file and the entry; user rule dirs add rules."""
from __future__ import annotations

import textwrap

import pytest

from translator.rules import RuleError, load_rules

GOOD_LAYER = """\
layers:
  - id: my_dense
    keras: mypkg.layers.MyDense
    torch: torch.nn.Linear
    layout: cl
    shape: dense
    torch_positional: [in_features, out_features]
    params:
      - {keras: units, torch: out_features}
      - {torch: in_features, infer: channels}
    weights:
      - {keras: kernel, torch: weight, transform: transpose}
"""


def write_rules(tmp_path, text: str, name: str = "custom.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path, text: str) -> str:
    path = write_rules(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_rules((str(tmp_path),))
    message = str(info.value)
    assert str(path) in message, f"the error does not name the file: {message}"
    return message


def test_user_rules_dir_adds_a_rule(tmp_path):
    write_rules(tmp_path, GOOD_LAYER)
    rules = load_rules((str(tmp_path),))
    assert "my_dense" in rules.by_id
    assert rules.layers["mypkg.layers.MyDense"].torch == "torch.nn.Linear"
    assert "dense" in rules.by_id          # the built-in rules are still there
    assert "my_dense" not in load_rules().by_id


def test_user_rule_overrides_builtin_id(tmp_path):
    write_rules(tmp_path, GOOD_LAYER.replace("id: my_dense", "id: dense"))
    rules = load_rules((str(tmp_path),))
    assert rules.by_id["dense"].keras == ["mypkg.layers.MyDense"]


@pytest.mark.parametrize("text, expected", [
    pytest.param(GOOD_LAYER.replace("    shape: dense\n", "    shape: dense\n    colour: red\n"),
                 "unknown key", id="unknown-layer-key"),
    pytest.param(GOOD_LAYER.replace("{keras: units, torch: out_features}",
                                    "{keras: units, torch: out_features, defualt: 1}"),
                 "unknown key", id="unknown-param-key"),
    pytest.param(GOOD_LAYER.replace("transform: transpose}", "transform: transpose, flip: true}"),
                 "unknown key", id="unknown-weight-key"),
    pytest.param(GOOD_LAYER.replace("    layout: cl\n", ""), "missing required key 'layout'",
                 id="missing-layout"),
    pytest.param(GOOD_LAYER.replace("    keras: mypkg.layers.MyDense\n", ""), "missing required key 'keras'",
                 id="missing-keras"),
    pytest.param(GOOD_LAYER.replace("    shape: dense\n", ""), "missing required key 'shape'",
                 id="missing-shape"),
    pytest.param(GOOD_LAYER.replace("layout: cl", "layout: nhwc"), "layout", id="bad-layout"),
    pytest.param(GOOD_LAYER.replace("transform: transpose", "transform: flip_upside_down"),
                 "unknown weight transform 'flip_upside_down'", id="unknown-weight-transform"),
    pytest.param(GOOD_LAYER.replace("{keras: units, torch: out_features}",
                                    "{keras: units, torch: out_features, value: squash}"),
                 "unknown value transform 'squash'", id="unknown-value-transform"),
    pytest.param(GOOD_LAYER.replace("{torch: in_features, infer: channels}", "{torch: in_features}"),
                 "torch-only param 'in_features' needs `infer` or `const`", id="torch-only-param"),
    pytest.param(GOOD_LAYER.replace("    torch: torch.nn.Linear\n", ""), "torch class or an emit hatch",
                 id="no-torch-no-emit"),
    pytest.param(GOOD_LAYER.replace("      - {keras: kernel, torch: weight, transform: transpose}",
                                    "      - {keras: kernel, transform: transpose}"),
                 "a weight needs a torch name", id="weight-without-torch"),
    pytest.param(GOOD_LAYER + GOOD_LAYER.split("layers:\n", 1)[1], "duplicate id", id="duplicate-id"),
])
def test_malformed_layer_rule_names_file_and_entry(tmp_path, text, expected):
    message = load_error(tmp_path, text)
    assert "my_dense" in message, f"the error does not name the entry: {message}"
    assert expected in message


def test_malformed_activation_rule(tmp_path):
    message = load_error(tmp_path, """\
        activations:
          - {id: act_mish, keras: mish}
        """)
    assert "act_mish" in message and "needs id, keras and torch" in message


def test_malformed_op_rule(tmp_path):
    message = load_error(tmp_path, """\
        ops:
          - {id: op_mine, keras: keras.ops.mine, torch: torch.mine, flavour: sweet}
        """)
    assert "op_mine" in message and "unknown key" in message


def test_bad_top_level_section(tmp_path):
    message = load_error(tmp_path, "layer:\n  - {id: x}\n")
    assert "layers/activations/ops" in message


def test_invalid_yaml(tmp_path):
    message = load_error(tmp_path, "layers: [\n  - {id: broken\n")
    assert "not valid YAML" in message


def test_missing_rules_dir(tmp_path):
    with pytest.raises(RuleError, match="not found"):
        load_rules((str(tmp_path / "nope"),))
