"""The torch -> Keras column of docs/coverage.md: for each rule, whether it translates that way and
which numerical test exercises it (translator/coverage.py renders the tables).

"Translates torch -> Keras":
- a layer rule: one of its torch classes (`torch:`, `torch_classes:`) is in the torch-side index
  (`TorchIndex`, which needs a `torch_signature` to bind arguments);
- an activation rule: its `torch_module` (a module) or its `torch` function is in the index;
- an op rule: a probe model calling its torch function (`torch.X(x)`, `x.X()`, `F.X(x)`) is not
  refused with "has no torch -> Keras translation" (the forward translator's own code, the op
  hatches of translator/backends/keras_forward_ops.py and the rules' generic path all count).
"Numerical test": a file of the torch -> Keras numerical tests (tests/test_torch_to_keras.py,
tests/test_t2k_*.py, and the fixtures/torch_to_keras/ models, which tests/test_torch_to_keras.py
runs numerically) calls the torch class (`Conv2d(`) or function (`torch.cat(`, `F.pad(`, `.view(`),
found by scanning their text, as the Keras-side check scans tests/test_layers*.py.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .rules import BUILTIN_RULES_DIR, ActivationRule, LayerRule, OpRule

TESTS_DIR = BUILTIN_RULES_DIR.parent / "tests"
FIXTURES_DIR = BUILTIN_RULES_DIR.parent / "fixtures" / "torch_to_keras"
NOT_TRANSLATED = "not translated"
NO_TEST = "translated, no numerical test"


@lru_cache(maxsize=1)
def test_sources() -> tuple[tuple[str, str], ...]:
    """(label, text) of every torch -> Keras numerical test source."""
    out = []
    for path in [TESTS_DIR / "test_torch_to_keras.py"] + sorted(TESTS_DIR.glob("test_t2k_*.py")):
        if path.exists():
            out.append((path.name, path.read_text(encoding="utf-8")))
    fixtures = "\n".join(p.read_text(encoding="utf-8") for p in sorted(FIXTURES_DIR.glob("*.torch.py")))
    if fixtures:
        out.append(("fixtures/torch_to_keras", fixtures))
    return tuple(out)


def _spellings(path: str) -> list[str]:
    """Regexes of the ways a torch path is called in test code."""
    name = path.rsplit(".", 1)[-1]
    if path.startswith("."):
        return [rf"\.{re.escape(name)}\("]
    if path.startswith("torch.nn.functional."):
        return [rf"\bF\.{re.escape(name)}\(", rf"\bfunctional\.{re.escape(name)}\("]
    if path.startswith("torch.nn.") and name[:1].isupper():
        return [rf"(?<![\w.])(?:nn\.|torch\.nn\.)?{re.escape(name)}\("]
    if path.startswith("torch."):
        return [rf"\btorch\.{re.escape(name)}\(", rf"\.{re.escape(name)}\("]
    return []


def tests_calling(paths) -> list[str]:
    """Labels of the torch -> Keras test sources that call one of the torch paths."""
    found = []
    patterns = [re.compile(p) for path in paths for p in _spellings(path)]
    for label, text in test_sources():
        if any(p.search(text) for p in patterns):
            found.append(label)
    return found


_INDEX: dict = {}


def _index(rules):
    from .frontends.torch_models import TorchIndex
    if id(rules) not in _INDEX:
        _INDEX.clear()
        _INDEX[id(rules)] = (rules, TorchIndex.build(rules))
    return _INDEX[id(rules)][1]


_PROBE = ("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass Net(nn.Module):\n"
          "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n"
          "    def forward(self, x):\n        x = self.fc(x)\n        return {}\n")


@lru_cache(maxsize=None)
def op_translates(path: str) -> bool:
    """Whether the torch -> Keras direction knows the torch function / tensor method: a probe model
    calling it is not refused with "has no torch -> Keras translation" (an argument it lacks may be
    refused otherwise: the op itself is known)."""
    from .api import translate_source
    name = path.rsplit(".", 1)[-1]
    if path.startswith("."):
        calls = [f"x.{name}()"]
    elif path.startswith("torch.nn.functional."):
        calls = [f"F.{name}(x)"]
    else:
        calls = [f"{path}(x)", f"x.{name}()"]
    for expr in calls:
        try:
            result = translate_source(_PROBE.format(expr), to="keras", input_shape=(4,))
        except Exception:       # noqa: BLE001 - a hatch was found (and failed on the missing arguments)
            return True
        if not any("no torch -> Keras translation" in f.message or f.code == "FWT101" for f in result.findings):
            return True
    return False


def torch_paths(rule) -> list[str]:
    """The torch classes / functions a rule names (its torch target), [] for none."""
    if isinstance(rule, LayerRule):
        return ([rule.torch] if rule.torch else []) + list(getattr(rule, "torch_classes", []) or [])
    if isinstance(rule, ActivationRule):
        return [p for p in (rule.torch_module, rule.torch) if p]
    if isinstance(rule, OpRule):
        return [rule.torch] if rule.torch and rule.torch.startswith(("torch", ".")) else []
    return []


def translated_paths(rule, rules) -> list[str]:
    """The torch paths of the rule that the torch -> Keras direction translates."""
    index = _index(rules)
    if isinstance(rule, (LayerRule, ActivationRule)):
        out = [p for p in torch_paths(rule) if p in index.classes]
        if isinstance(rule, ActivationRule) and rule.torch and rule.torch in index.activations:
            out.append(rule.torch)
        return out
    return [path for path in torch_paths(rule) if op_translates(path)]


def torch_status(rule, rules) -> tuple[str, list[str]]:
    """(status, test labels): NOT_TRANSLATED / NO_TEST / 'translated' with the tests that call it."""
    paths = translated_paths(rule, rules)
    if not paths:
        return NOT_TRANSLATED, []
    tests = tests_calling(paths)
    return ("translated" if tests else NO_TEST), tests


def torch_cell(rule, rules) -> str:
    if not torch_paths(rule):
        return "no torch target"
    status, tests = torch_status(rule, rules)
    if status == NOT_TRANSLATED:
        return NOT_TRANSLATED
    if status == NO_TEST:
        return f"**{NO_TEST}**"
    return "tested: " + ", ".join(tests)


def missing_torch_tests(rules) -> list[str]:
    """Rules with a torch target that have no numerical test in the torch -> Keras direction
    (not translated that way, or translated without a test), as 'rule_id (reason)'."""
    out = []
    for rule in rules.by_id.values():
        if not torch_paths(rule):
            continue
        status, _ = torch_status(rule, rules)
        if status != "translated":
            out.append(f"{rule.id} ({status})")
    return out
