"""Generate docs/coverage.md: every layer class of Keras 3's `keras.layers` with its status, then
every layer rule, activation string and op rule.

    python -m translator.coverage > docs/coverage.md     # regenerate
    python -m translator.coverage --check                # exit 1 when docs/coverage.md is stale

The class list is enumerated live from the installed Keras (generating the doc imports keras; the
translation path never does). Each class is
- "translated + tested": a rule exists and a tests/test_layers*.py file calls one of its Keras names
  (the numerical tests: Keras layer with random weights, translated, ported, compared);
- "rule, no numerical test": a rule exists but no such test calls it (a rule is not done without one);
- "reported with a finding": no rule; the finding a translation reports for it is checked here by
  translating a one-layer model (FWT101: the model is left as it was, with a comment);
- "not applicable": not a model layer (preprocessing, augmentation, base classes, ...), with the reason.
tests/test_coverage_doc.py fails when the committed file differs from what this prints. The output
depends only on the rule files, the test files' text and the installed Keras version (no machine
paths, no dates).
"""
from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from .coverage_torch import torch_cell, torch_paths, torch_status
from .rules import BUILTIN_RULES_DIR, ActivationRule, LayerRule, OpRule, RuleSet, load_rules

DOC_PATH = BUILTIN_RULES_DIR.parent / "docs" / "coverage.md"
TESTS_DIR = BUILTIN_RULES_DIR.parent / "tests"

TRANSLATED = "translated + tested"
UNTESTED = "rule, no numerical test"
FINDING = "reported with a finding"
NOT_APPLICABLE = "not applicable"

_PREPROCESSING = ("preprocessing layer: turns raw data (strings, ids, audio, categories) into model "
                  "inputs in the data pipeline, not part of the network to translate")
_AUGMENTATION = ("data augmentation: random, active only in training (the identity at inference); "
                 "remove it from the translated model or keep it in the data pipeline")
_IMAGE_PREPROCESSING = ("image preprocessing/augmentation op of the data pipeline (keras.layers."
                        "preprocessing.image_preprocessing), not a network layer")

# Classes of keras.layers without a rule that are not model layers, and why. A class listed here
# that gains a rule is reported as translated (the rule wins).
NOT_APPLICABLE_REASONS = {
    "Layer": "base class of all layers: a subclass is a custom layer, translated from its source "
             "(subclassed layers), not by a rule",
    "Wrapper": "abstract base class of layer wrappers (Bidirectional, TimeDistributed)",
    "InputLayer": "the model input: becomes the argument of forward(), no module",
    "InputSpec": "not a layer: an input-compatibility spec object",
    "Input": "the model input (keras.Input): becomes the argument of forward(), no module",
    "serialize": "configuration utility (layer to config dict), not a layer",
    "deserialize": "configuration utility (config dict to layer), not a layer",
    "Pipeline": "a container of preprocessing layers for tf.data pipelines",
    "FlaxLayer": "wraps a Flax module (JAX backend only): no Keras source to translate",
    "JaxLayer": "wraps a JAX function (JAX backend only): no Keras source to translate",
    "TorchModuleWrapper": "wraps an existing torch.nn.Module (torch backend only): already PyTorch",
    "TFSMLayer": "loads a TensorFlow SavedModel for inference: no source to translate",
    "MaxNumBoundingBoxes": "bounding-box utility of the preprocessing pipeline, not a network layer",
    "CategoryEncoding": _PREPROCESSING,
    "Discretization": _PREPROCESSING,
    "HashedCrossing": _PREPROCESSING,
    "Hashing": _PREPROCESSING,
    "IntegerLookup": _PREPROCESSING,
    "StringLookup": _PREPROCESSING,
    "TextVectorization": _PREPROCESSING,
    "MelSpectrogram": _PREPROCESSING,
    "STFTSpectrogram": _PREPROCESSING,
    "AugMix": _AUGMENTATION,
    "CutMix": _AUGMENTATION,
    "MixUp": _AUGMENTATION,
    "RandAugment": _AUGMENTATION,
    "RandomBrightness": _AUGMENTATION,
    "RandomColorDegeneration": _AUGMENTATION,
    "RandomColorJitter": _AUGMENTATION,
    "RandomContrast": _AUGMENTATION,
    "RandomCrop": _AUGMENTATION,
    "RandomElasticTransform": _AUGMENTATION,
    "RandomErasing": _AUGMENTATION,
    "RandomFlip": _AUGMENTATION,
    "RandomGaussianBlur": _AUGMENTATION,
    "RandomGrayscale": _AUGMENTATION,
    "RandomHue": _AUGMENTATION,
    "RandomInvert": _AUGMENTATION,
    "RandomPerspective": _AUGMENTATION,
    "RandomPosterization": _AUGMENTATION,
    "RandomRotation": _AUGMENTATION,
    "RandomSaturation": _AUGMENTATION,
    "RandomSharpness": _AUGMENTATION,
    "RandomShear": _AUGMENTATION,
    "RandomTranslation": _AUGMENTATION,
    "RandomZoom": _AUGMENTATION,
    "Solarization": _AUGMENTATION,
    "AutoContrast": _IMAGE_PREPROCESSING,
    "Equalization": _IMAGE_PREPROCESSING,
    "ContrastLimitedAdaptiveHistogramEqualization": _IMAGE_PREPROCESSING,
}

# Directions that the test suite exercises for every rule (golden fixtures and numerical tests).
# torch -> keras is listed per layer rule: where the rule carries a `torch_signature` and its torch
# class is called in tests/test_torch_to_keras.py, tests/test_t2k_*.py or the fixtures/torch_to_keras/
# models. An entry with `keras: []` exists for the torch -> Keras direction only.
TESTED_DIRECTIONS = ("keras->torch",)


def torch_tested_names() -> set[str]:
    called: set[str] = set()
    sources = [TESTS_DIR / "test_torch_to_keras.py"] + sorted(TESTS_DIR.glob("test_t2k_*.py"))
    sources += sorted((TESTS_DIR.parent / "fixtures" / "torch_to_keras").glob("*.torch.py"))
    for path in sources:
        if path.exists():
            called |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\(", path.read_text(encoding="utf-8")))
    return called


def _directions(rule) -> str:
    directions = list(TESTED_DIRECTIONS) if rule.keras else []
    classes = ([rule.torch] if rule.torch else []) + list(getattr(rule, "torch_classes", []) or [])
    if getattr(rule, "torch_signature", None) and any(c.rsplit(".", 1)[-1] in _TORCH_TESTED for c in classes):
        directions.append("torch->keras")
    return ", ".join(directions)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _source(rule) -> str:
    path = Path(rule.source)
    try:
        return path.resolve().relative_to(BUILTIN_RULES_DIR.parent.resolve()).as_posix()
    except ValueError:
        return path.name


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _layer_row(rule: LayerRule) -> list[str]:
    keras = "<br>".join(_code(n) for n in list(rule.keras) + list(rule.functions))
    torch = _code(rule.torch) if rule.torch else "code"
    if rule.emit:
        torch += f" (emit `{rule.emit}`)"
    return [_code(rule.id), keras, torch, _directions(rule), _source(rule)]


def _activation_rows(rules: RuleSet) -> list[list[str]]:
    rows = []
    for rule in rules.by_id.values():
        if not isinstance(rule, ActivationRule):
            continue
        args = ", ".join(f"{k}={v!r}" for k, v in rule.args.items())
        torch = _code(rule.torch) if rule.torch else "identity"
        if args:
            torch += f" ({args})"
        directions = list(TESTED_DIRECTIONS)
        if rule.torch_module and rule.torch_module.rsplit(".", 1)[-1] in _TORCH_TESTED:
            directions.append(f"torch->keras ({rule.torch_module.rsplit('.', 1)[-1]})")
        for name in rule.keras:
            rows.append([_code(repr(name).replace("'", '"')), torch, _code(rule.id), ", ".join(directions),
                         torch_cell(rule, rules)])
    return rows


def _op_row(rule: OpRule) -> list[str]:
    keras = "<br>".join(_code(n) for n in rule.keras)
    torch = _code(rule.torch)
    if rule.emit:
        torch += f" (emit `{rule.emit}`)"
    return [_code(rule.id), keras, torch, ", ".join(TESTED_DIRECTIONS), _source(rule)]


_TORCH_TESTED = torch_tested_names()


def keras_layer_classes() -> tuple[str, list[str], list[str]]:
    """(Keras version, class names, function names) of the installed Keras 3's `keras.layers`."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    names = sorted(n for n in dir(keras.layers) if not n.startswith("_"))
    classes = [n for n in names if inspect.isclass(getattr(keras.layers, n))]
    functions = [n for n in names if not inspect.isclass(getattr(keras.layers, n))
                 and callable(getattr(keras.layers, n))]
    return keras.__version__, classes, functions


def tested_names(tests_dir: Path = TESTS_DIR) -> set[str]:
    """Names called anywhere in tests/test_layers*.py (`Name(`), as the numerical-test check does."""
    called: set[str] = set()
    for path in sorted(tests_dir.glob("test_layers*.py")):
        called |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\(", path.read_text(encoding="utf-8")))
    return called


def finding_of(name: str) -> str:
    """The finding code(s) a translation reports for a model using keras.layers.<name> (no rule)."""
    from .api import translate_source
    code = ("import keras\n\nmodel = keras.Sequential([keras.Input(shape=(4,)), "
            f"keras.layers.{name}(), keras.layers.Dense(2)])\n")
    result = translate_source(code)
    codes = sorted({f.code for f in result.findings if f.needs_attention})
    return ", ".join(codes) if codes else "none"


def layer_status_rows(rules: RuleSet) -> tuple[str, list[list[str]], dict]:
    """One row per keras.layers class and functional form: name, status, rule, notes."""
    version, classes, functions = keras_layer_classes()
    called = tested_names()
    names_of: dict[str, set] = {}
    for rule in rules.all_layer_rules():
        names_of[rule.id] = {p.rsplit(".", 1)[-1] for p in list(rule.keras) + list(rule.functions)}
    rows, counts = [], {TRANSLATED: 0, UNTESTED: 0, FINDING: 0, NOT_APPLICABLE: 0}
    for name in classes + functions:
        path = f"keras.layers.{name}"
        rule = rules.layers.get(path) or rules.functions.get(path)
        kind = "class" if name in classes else "function"
        if rule is not None:
            status = TRANSLATED if names_of[rule.id] & called else UNTESTED
            others = sorted(names_of[rule.id] - {name})
            note = f"same rule as {', '.join(f'`{o}`' for o in others)}" if others else ""
            row = [_code(name), kind, status, _code(rule.id), note]
        elif name in NOT_APPLICABLE_REASONS:
            status = NOT_APPLICABLE
            row = [_code(name), kind, status, "", NOT_APPLICABLE_REASONS[name]]
        else:
            status = FINDING
            found = finding_of(name) if kind == "class" else "FWT101"
            row = [_code(name), kind, status, "", f"{found}: no rule; the model is left as it was"]
        counts[status] += 1
        rows.append(row)
    return version, rows, counts


def torch_summary(rules: RuleSet) -> str:
    with_target = [r for r in rules.by_id.values() if torch_paths(r)]
    counts = {"translated": 0, "translated, no numerical test": 0, "not translated": 0}
    for rule in with_target:
        counts[torch_status(rule, rules)[0]] += 1
    return (f"torch -> Keras: of {len(with_target)} rules with a torch target, {counts['translated']} are "
            f"translated and numerically tested that way, {counts['translated, no numerical test']} translated "
            f"without a numerical test, {counts['not translated']} not translated.")


def render(rules: RuleSet | None = None) -> str:
    rules = rules if rules is not None else load_rules()
    layers = [r for r in rules.by_id.values() if isinstance(r, LayerRule)]
    ops = [r for r in rules.by_id.values() if isinstance(r, OpRule)]
    activations = _activation_rows(rules)
    version, status_rows, counts = layer_status_rows(rules)
    out = [
        "# Coverage",
        "",
        "<!-- Generated by `python -m translator.coverage > docs/coverage.md`; do not edit by hand. -->",
        "",
        "What the built-in rule files in `rules/` translate, and which directions the test suite "
        "checks for each (golden fixtures and numerical tests: Keras layer built with random weights, "
        "translated, weights ported, outputs compared). A Keras name not listed here is reported as "
        "FWT101 (unknown layer) or FWT102 (unknown op) and left as it was.",
        "",
        f"Summary: {len(layers)} layer rules, {len(activations)} activation strings, {len(ops)} op rules.",
        "",
        "Both directions: **Tested directions** lists the directions a numerical test checks; the "
        "**torch -> Keras** column says whether the rule's torch target (class, module or function) is "
        "translated to Keras (`--to keras`) and which torch -> Keras numerical test calls it "
        "(tests/test_torch_to_keras.py, tests/test_t2k_*.py, the fixtures/torch_to_keras/ models; found "
        "by scanning their text, translator/coverage_torch.py): \"tested: FILES\", \"translated, no "
        "numerical test\", \"not translated\" (reported with a finding), or \"no torch target\".",
        "",
        torch_summary(rules),
        "",
        f"## Every layer of `keras.layers` (Keras {version})",
        "",
        "Each class and functional form that Keras 3 exports from `keras.layers`, enumerated from the "
        "installed Keras when this page is generated. Status: **translated + tested** (a rule "
        "exists and a numerical test in `tests/test_layers*.py` calls it), **reported with a "
        "finding** (no rule: translating a model that uses it reports the finding shown, checked "
        "when this page is generated, and leaves the model as it was), **not applicable** (not a "
        "network layer; the reason is given).",
        "",
        "Totals: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n) + ".",
        "",
    ]
    out += _table(["Keras", "Kind", "Status", "Rule", "Notes"], status_rows)
    out += [
        "",
        "## Layers",
        "",
    ]
    out += _table(["Rule", "Keras", "PyTorch", "Tested directions", "torch -> Keras", "Rule file"],
                  [_layer_row(r)[:4] + [torch_cell(r, rules)] + _layer_row(r)[4:] for r in layers])
    out += ["", "## Activation strings", "",
            "Accepted by `activation=` arguments, `keras.layers.Activation(...)` and `keras.activations.X`.",
            ""]
    out += _table(["Keras", "PyTorch", "Rule", "Tested directions", "torch -> Keras"], activations)
    out += ["", "## Ops", "", "Tensor ops inside `call` (`keras.ops`, `tf.*`, `keras.backend`).", ""]
    if ops:
        out += _table(["Rule", "Keras / TensorFlow", "PyTorch", "Tested directions", "torch -> Keras", "Rule file"],
                      [_op_row(r)[:4] + [torch_cell(r, rules)] + _op_row(r)[4:] for r in ops])
    else:
        out.append("No op rules yet.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is stale: run `python -m translator.coverage > docs/coverage.md`",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
