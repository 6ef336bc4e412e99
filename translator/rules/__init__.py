"""Rule files: loading and schema validation.

A rule file is YAML with up to three sections: `layers`, `activations`, `ops`. Every entry names both
sides (`keras`, `torch`), never a direction. See rules/README.md for the schema.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .transforms import VALUE_TRANSFORMS, WEIGHT_TRANSFORMS, discover_transforms

# A source checkout (or an editable install) reads the repository's rules/; an installed wheel ships
# them as the data directory translator/_rules (see pyproject.toml).
_INSTALLED_RULES_DIR = Path(__file__).resolve().parents[1] / "_rules"
# libyaml's safe loader when PyYAML has it (7x faster: loading the rules is most of a hook's start).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BUILTIN_RULES_DIR = (_INSTALLED_RULES_DIR if _INSTALLED_RULES_DIR.is_dir()
                     else Path(__file__).resolve().parents[2] / "rules")
LAYOUTS = ("cl", "cf", "any")
_MISSING = object()


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and the entry."""


@dataclass
class Param:
    keras: str | None = None
    torch: str | None = None
    default: Any = None             # Keras default
    torch_default: Any = _MISSING   # absent: always emit the torch argument
    value: str = "identity"         # value transform keras -> torch
    infer: str | None = None        # torch-only param inferred from the input shape
    lower: str | None = None        # keras-only param lowered into forward code
    allowed: list | None = None     # supported Keras values; anything else is FWT202
    keras2: list[str] = field(default_factory=list)   # Keras 2 spellings (e.g. alpha)
    const: Any = _MISSING           # torch-only param with a fixed value

    @property
    def has_const(self) -> bool:
        return self.const is not _MISSING

    @property
    def has_torch_default(self) -> bool:
        return self.torch_default is not _MISSING


@dataclass
class WeightSpec:
    keras: str | None
    torch: str
    transform: str = "copy"
    optional: bool = False


@dataclass
class LayerRule:
    id: str
    keras: list[str]
    torch: str | None
    layout: str
    shape: str
    params: list[Param]
    weights: list[WeightSpec]
    emit: str | None = None
    functions: list[str] = field(default_factory=list)   # keras.layers.add-style helpers
    torch_positional: list[str] = field(default_factory=list)
    positional: int | None = None    # how many leading Keras params may be given positionally
    rank: int | None = None          # input rank assumed when the input shape is unknown
    call_args: list[str] = field(default_factory=list)   # extra arguments accepted when called
    input_arg: str | None = None     # the keyword naming the first input when called (e.g. query)
    torch_classes: list[str] = field(default_factory=list)    # torch -> Keras: more torch classes
    torch_signature: list[str] = field(default_factory=list)  # torch -> Keras: "name" / "name=default"
    source: str = ""

    def param(self, keras_name: str) -> Param | None:
        """The first param named `keras_name` (or with it as a Keras 2 spelling); indexed on first use."""
        cached = self.__dict__.get("_param_index")
        if cached is None or cached[0] is not self.params or cached[1] != len(self.params):
            index: dict = {}
            for p in self.params:
                index.setdefault(p.keras, p)
                for alias in p.keras2:
                    index.setdefault(alias, p)
            cached = self.__dict__["_param_index"] = (self.params, len(self.params), index)
        return cached[2].get(keras_name)

    @property
    def keras_params(self) -> list[Param]:
        return [p for p in self.params if p.keras]

    @property
    def positional_params(self) -> list[Param]:
        params = self.keras_params
        return params if self.positional is None else params[:self.positional]


@dataclass
class ActivationRule:
    id: str
    keras: list[str]            # names accepted as activation strings / keras.activations.X
    torch: str | None           # torch function path; None means identity (linear)
    args: dict[str, Any]
    torch_module: str | None = None      # torch -> Keras: the nn module applying this activation
    torch_signature: list[str] = field(default_factory=list)
    source: str = ""


@dataclass
class OpRule:
    id: str
    keras: list[str]            # canonical paths: keras.ops.X, tensorflow.X, keras.backend.X
    torch: str                  # torch function path or `.method` for a tensor method
    params: list[Param]
    layout: str = "any"
    shape: str = "unknown"
    emit: str | None = None
    source: str = ""


@dataclass
class RuleSet:
    layers: dict[str, LayerRule] = field(default_factory=dict)        # keras path -> rule
    functions: dict[str, LayerRule] = field(default_factory=dict)     # keras.layers.add -> rule
    activations: dict[str, ActivationRule] = field(default_factory=dict)
    ops: dict[str, OpRule] = field(default_factory=dict)
    by_id: dict[str, Any] = field(default_factory=dict)

    def all_layer_rules(self) -> list[LayerRule]:
        return [r for r in self.by_id.values() if isinstance(r, LayerRule)]


_PARAM_KEYS = {"keras", "torch", "default", "torch_default", "value", "infer", "lower", "allowed",
               "keras2", "const"}
_LAYER_KEYS = {"id", "keras", "torch", "layout", "shape", "params", "weights", "emit", "functions",
               "torch_positional", "positional", "rank", "call_args", "input_arg", "examples", "note",
               "torch_classes", "torch_signature"}
_ACT_KEYS = {"id", "keras", "torch", "args", "note", "torch_module", "torch_signature"}
_OP_KEYS = {"id", "keras", "torch", "params", "emit", "layout", "shape", "note"}
OP_LAYOUTS = ("any", "axis", "cl")
_WEIGHT_KEYS = {"keras", "torch", "transform", "optional"}


def _fail(path: Path, entry: str, msg: str):
    raise RuleError(f"{path}: entry '{entry}': {msg}")


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_keys(path, entry, data, allowed, what):
    if not isinstance(data, dict):
        _fail(path, entry, f"{what} must be a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        _fail(path, entry, f"unknown key(s) in {what}: {', '.join(sorted(unknown))}")


def _param(path, entry, data) -> Param:
    _check_keys(path, entry, data, _PARAM_KEYS, "param")
    if not data.get("keras") and not data.get("torch"):
        _fail(path, entry, "a param needs a keras or a torch name")
    value = data.get("value", "identity")
    if value not in VALUE_TRANSFORMS:
        _fail(path, entry, f"unknown value transform '{value}'")
    p = Param(**{k: v for k, v in data.items() if k != "keras2"}, keras2=_as_list(data.get("keras2")))
    if p.keras is None and p.torch and p.infer is None and not p.has_const:
        _fail(path, entry, f"torch-only param '{p.torch}' needs `infer` or `const`")
    return p


def _layer(path, data) -> LayerRule:
    entry = data.get("id", "?") if isinstance(data, dict) else "?"
    _check_keys(path, entry, data, _LAYER_KEYS, "layer rule")
    for key in ("id", "keras", "layout", "shape"):
        if key not in data:
            _fail(path, entry, f"missing required key '{key}'")
    if data["layout"] not in LAYOUTS:
        _fail(path, entry, f"layout must be one of {LAYOUTS}, got '{data['layout']}'")
    if not data.get("torch") and not data.get("emit"):
        _fail(path, entry, "a layer rule needs a torch class or an emit hatch")
    weights = []
    for w in _as_list(data.get("weights")):
        _check_keys(path, entry, w, _WEIGHT_KEYS, "weight")
        if "torch" not in w:
            _fail(path, entry, "a weight needs a torch name")
        spec = WeightSpec(**w)
        if spec.transform not in WEIGHT_TRANSFORMS:
            _fail(path, entry, f"unknown weight transform '{spec.transform}'")
        weights.append(spec)
    return LayerRule(
        id=data["id"], keras=_as_list(data["keras"]), torch=data.get("torch"), layout=data["layout"],
        shape=data["shape"], params=[_param(path, entry, p) for p in _as_list(data.get("params"))],
        weights=weights, emit=data.get("emit"), functions=_as_list(data.get("functions")),
        torch_positional=_as_list(data.get("torch_positional")), positional=data.get("positional"),
        rank=data.get("rank"), call_args=_as_list(data.get("call_args")), input_arg=data.get("input_arg"),
        torch_classes=_as_list(data.get("torch_classes")),
        torch_signature=_torch_signature(path, entry, data.get("torch_signature")), source=str(path))


def _activation(path, data) -> ActivationRule:
    entry = data.get("id", "?") if isinstance(data, dict) else "?"
    _check_keys(path, entry, data, _ACT_KEYS, "activation rule")
    if "id" not in data or "keras" not in data or "torch" not in data:
        _fail(path, entry, "an activation needs id, keras and torch")
    return ActivationRule(id=data["id"], keras=_as_list(data["keras"]), torch=data["torch"],
                          args=dict(data.get("args") or {}), torch_module=data.get("torch_module"),
                          torch_signature=_torch_signature(path, entry, data.get("torch_signature")),
                          source=str(path))


def _torch_signature(path, entry, value) -> list[str]:
    """`torch_signature: [in_features, out_features, bias=True]`: names in positional order, with
    the torch default after `=` (a Python literal) where there is one."""
    import ast
    out = []
    for item in _as_list(value):
        if not isinstance(item, str) or not item.split("=", 1)[0].strip().isidentifier():
            _fail(path, entry, f"torch_signature items are 'name' or 'name=default', got {item!r}")
        if "=" in item:
            try:
                ast.literal_eval(item.split("=", 1)[1].strip())
            except (ValueError, SyntaxError):
                _fail(path, entry, f"torch_signature default is not a Python literal: {item!r}")
        out.append(item)
    return out


def _op(path, data) -> OpRule:
    entry = data.get("id", "?") if isinstance(data, dict) else "?"
    _check_keys(path, entry, data, _OP_KEYS, "op rule")
    if "id" not in data or "keras" not in data or "torch" not in data:
        _fail(path, entry, "an op needs id, keras and torch")
    layout = data.get("layout", "any")
    if layout not in OP_LAYOUTS:
        _fail(path, entry, f"op layout must be one of {OP_LAYOUTS}, got '{layout}'")
    return OpRule(id=data["id"], keras=_as_list(data["keras"]), torch=data["torch"],
                  params=[_param(path, entry, p) for p in _as_list(data.get("params"))],
                  layout=layout, shape=data.get("shape", "unknown"), emit=data.get("emit"),
                  source=str(path))


def load_file(path: Path, into: RuleSet) -> None:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return
    if not isinstance(data, dict) or set(data) - {"layers", "activations", "ops"}:
        raise RuleError(f"{path}: top level must be a mapping with sections layers/activations/ops")
    for raw in _as_list(data.get("layers")):
        rule = _layer(path, raw)
        _register(path, into, rule)
        for name in rule.keras:
            into.layers[name] = rule
        for name in rule.functions:
            into.functions[name] = rule
    for raw in _as_list(data.get("activations")):
        rule = _activation(path, raw)
        _register(path, into, rule)
        for name in rule.keras:
            into.activations[name] = rule
    for raw in _as_list(data.get("ops")):
        rule = _op(path, raw)
        _register(path, into, rule)
        for name in rule.keras:
            into.ops[name] = rule


def _register(path, into: RuleSet, rule) -> None:
    previous = into.by_id.get(rule.id)
    if previous is not None and previous.source == str(path):
        _fail(path, rule.id, "duplicate id in the same file")
    into.by_id[rule.id] = rule   # a user rule with the same id overrides a built-in one


def load_rules(extra_dirs: tuple[str, ...] = ()) -> RuleSet:
    return _load_rules(tuple(str(d) for d in extra_dirs))


@lru_cache(maxsize=8)
def _load_rules(extra_dirs: tuple[str, ...]) -> RuleSet:
    discover_transforms()
    rules = RuleSet()
    for directory in (str(BUILTIN_RULES_DIR),) + extra_dirs:
        d = Path(directory)
        if not d.is_dir():
            raise RuleError(f"{d}: rules directory not found")
        if directory in extra_dirs:
            for path in sorted(d.glob("*.py")):
                _import_plugin(path)
        for path in sorted(d.glob("*.y*ml")):
            load_file(path, rules)
    return rules


def _import_plugin(path: Path) -> None:
    """A user rules directory may hold Python files that register transforms and emit hatches."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"fwtranslate_user_rules.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:   # a broken plugin names itself
        raise RuleError(f"{path}: failed to import: {exc}") from None
