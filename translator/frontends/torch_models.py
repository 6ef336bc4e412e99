"""PyTorch model definitions in a source file (the torch -> Keras direction).

Recognised forms:
  - `nn.Module` subclasses with `__init__` (submodules assigned to `self.<name>`) and `forward`;
    a class of the file used as a submodule of another (a ResNet `BasicBlock`) is a nested block;
  - `nn.Sequential(a, b, ...)` and `nn.Sequential(OrderedDict([("name", a), ...]))`, anywhere a
    module is built: a module-level assignment, a class attribute, an argument of another module;
  - helper functions that return a module (`def conv3x3(...): return nn.Conv2d(...)`).
Names resolve through the file's imports (`import torch.nn as nn`, `from torch import nn`,
`import torch.nn.functional as F`, `from torch.nn import Conv2d`), to the spellings the rule files
use (`translator.names.canonical_torch`).

A module constructor becomes a `ModSpec`: the rule it maps to and its torch arguments bound by name
(with `torch_signature` from the rule: positional order and torch defaults).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from ..cst_visit import Found, first, skip_node, visit
from ..cst_walk import node_code
from ..findings import TranslationError
from ..ir import UNKNOWN, Sym, Val
from ..names import ImportTable, canonical_torch, dotted
from ..positions import line_of
from ..rules import ActivationRule, LayerRule, OpRule, RuleSet
from ..values import evaluate

SEQUENTIAL = "torch.nn.Sequential"
MODULE_BASES = ("torch.nn.Module",)
ORDERED_DICT = ("collections.OrderedDict", "OrderedDict")
# Arguments that never change what a module computes in eval mode (dtype only when None).
HARMLESS = {"inplace", "device"}


# torch modules without a Keras counterpart, and what to write instead (in the FWT101 finding).
_WRITE_OUT = ("build it from nn.TransformerEncoder and nn.TransformerDecoder (or nn.MultiheadAttention, "
              "nn.LayerNorm, nn.Linear), which translate exactly (fixtures/torch_to_keras/transformer_encoder.torch.py)")
NO_RULE_HINTS = {
    "torch.nn.Transformer": "Keras has no transformer model; " + _WRITE_OUT,
}


def resolve(node: cst.BaseExpression, table: ImportTable) -> str | None:
    return canonical_torch(table.resolve(node))


def is_torch(path: str | None) -> bool:
    return bool(path) and (path == "torch" or path.startswith("torch."))


# ---- the rule index, torch side -------------------------------------------------------------------

@dataclass
class TorchIndex:
    """torch class -> layer rule (or activation rule for activation modules); torch function -> op rule."""
    classes: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, OpRule] = field(default_factory=dict)
    activations: dict[str, ActivationRule] = field(default_factory=dict)   # torch function -> rule

    @classmethod
    def build(cls, rules: RuleSet) -> "TorchIndex":
        index = cls()
        for rule in rules.by_id.values():
            if isinstance(rule, LayerRule):
                for path in ([rule.torch] if rule.torch else []) + list(rule.torch_classes):
                    index.classes.setdefault(path, rule)      # the first rule (file order) wins
            elif isinstance(rule, ActivationRule):
                if rule.torch_module:
                    index.classes.setdefault(rule.torch_module, rule)
                if rule.torch:
                    index.activations.setdefault(rule.torch, rule)
            elif isinstance(rule, OpRule) and rule.keras and rule.keras[0].startswith("keras.ops."):
                index.functions.setdefault(_torch_fn_path(rule.torch), rule)
        return index

    @classmethod
    def of(cls, rules: RuleSet) -> "TorchIndex":
        """build(rules), once per rule set (rule sets are not changed once loaded)."""
        got = _INDEXES.get(id(rules))
        if got is None or got[0] is not rules:
            if len(_INDEXES) > 8:
                _INDEXES.clear()
            got = _INDEXES[id(rules)] = (rules, cls.build(rules))
        return got[1]

    def rules_for_class(self, rules: RuleSet, path: str) -> list[LayerRule]:
        """Every layer rule naming the torch class (conv2d and depthwise_conv2d both name Conv2d)."""
        return [r for r in rules.all_layer_rules() if r.torch == path or path in r.torch_classes]


_INDEXES: dict[int, tuple] = {}     # id(rule set) -> (rule set, its TorchIndex)


def _torch_fn_path(path: str) -> str:
    return canonical_torch(path) if not path.startswith(".") else path


# ---- argument binding ----------------------------------------------------------------------------

def parse_signature(items: list[str]) -> list[tuple[str, Any]]:
    """[("in_features", REQUIRED), ("bias", True), ...] from a rule's torch_signature."""
    key = tuple(items)
    got = _SIGNATURES.get(key)
    if got is not None:
        return list(got)
    out = []
    for item in items:
        name, eq, default = item.partition("=")
        out.append((name.strip(), ast.literal_eval(default.strip()) if eq else REQUIRED))
    if all(_immutable(d) for _, d in out):      # shared defaults must not be changed by a caller
        _SIGNATURES[key] = tuple(out)
    return out


_SIGNATURES: dict[tuple, tuple] = {}


def _immutable(value) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return value is REQUIRED or isinstance(value, (str, int, float, complex, bool, bytes, type(None)))


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass
class Bound:
    """Torch constructor arguments bound by parameter name (explicit ones) plus the defaults."""
    given: dict[str, Val]
    defaults: dict[str, Any]

    def value(self, name: str, default=UNKNOWN):
        """The constant value of an argument (given or default); UNKNOWN when not constant."""
        if name in self.given:
            return self.given[name].const
        return self.defaults.get(name, default)

    def node(self, name: str) -> cst.BaseExpression | None:
        return self.given[name].node if name in self.given else None

    def has(self, name: str) -> bool:
        return name in self.given


def bind(call: cst.Call, signature: list[str], scope: dict, what: str) -> Bound:
    params = parse_signature(signature)
    names = [n for n, _ in params]
    given: dict[str, Val] = {}
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args):
        raise TranslationError("FWT201", f"{what}: *args/**kwargs arguments are not supported", line_of(call))
    if len(positional) > len(names):
        raise TranslationError("FWT201", f"{what}: {len(positional)} positional arguments, the rule knows "
                               f"{len(names)} ({', '.join(names)})", line_of(call))
    for name, arg in zip(names, positional):
        given[name] = Val(arg.value, evaluate(arg.value, scope))
    for arg in call.args:
        if arg.keyword is None:
            continue
        key = arg.keyword.value
        if key not in names:
            raise TranslationError("FWT201", f"{what}: unsupported argument '{key}'", line_of(call))
        given[key] = Val(arg.value, evaluate(arg.value, scope))
    defaults = {n: d for n, d in params if d is not REQUIRED}
    for n, d in params:
        if d is REQUIRED and n not in given:
            raise TranslationError("FWT201", f"{what}: missing argument '{n}'", line_of(call))
    return Bound(given, defaults)


# ---- module specs ---------------------------------------------------------------------------------

@dataclass
class ModSpec:
    """One module constructor of the torch source."""
    kind: str                      # leaf | sequential | instance | param | none | helper | dynseq | mlist | mdict | weight
    node: cst.BaseExpression | None
    line: int
    torch_path: str | None = None  # canonical torch class (leaf) / class name (instance)
    rule: Any = None               # LayerRule or ActivationRule (leaf)
    args: Bound | None = None      # leaf: bound torch arguments
    items: list = field(default_factory=list)      # sequential: [(name or None, ModSpec)]
    ordered_dict: bool = False
    helper: str | None = None      # helper: function name
    inner: "ModSpec | None" = None  # helper: the module it returns (its parameters symbolic)
    uses: list = field(default_factory=list)        # metas it was applied to (filled by the backend)
    program: Any = None            # dynseq / mlist: the items built at run time (frontends/torch_lists.Program)

    @property
    def short(self) -> str:
        if self.kind == "leaf":
            return self.torch_path.rsplit(".", 1)[-1]
        return {"sequential": "Sequential", "instance": str(self.torch_path), "dynseq": "Sequential",
                "mlist": "ModuleList", "mdict": "ModuleDict"}.get(self.kind, self.kind)


class SpecBuilder:
    """Turns module constructor expressions into ModSpecs."""
    driver = None                       # the torch -> Keras driver (helpers that build lists read through it)

    def __init__(self, rules: RuleSet, index: TorchIndex, table: ImportTable, classes: dict, helpers: dict):
        self.rules = rules
        self.index = index
        self.table = table
        self.classes = classes          # module classes of the file: name -> ClassDef
        self.helpers = helpers          # helper functions returning modules: name -> FunctionDef
        self._helper_stack: list[str] = []

    def spec(self, node: cst.BaseExpression, scope: dict, params: set[str] = frozenset()) -> ModSpec:
        line = line_of(node)
        if isinstance(node, cst.Name) and node.value == "None":
            return ModSpec("none", node, line)
        if isinstance(node, cst.Name) and node.value in params:
            return ModSpec("param", node, line)
        if not isinstance(node, cst.Call):
            raise TranslationError("FWT103", f"module expression not recognised: {_code(node)[:60]}", line)
        func = node.func
        if isinstance(func, cst.Name) and func.value in self.classes:
            return ModSpec("instance", node, line, torch_path=func.value)
        if isinstance(func, cst.Name) and func.value in self.helpers:
            return self.helper_spec(node, func.value, line)
        path = resolve(func, self.table)
        if path == SEQUENTIAL:
            return self.sequential(node, scope, params)
        if path and path in self.index.classes:
            rule = self.index.classes[path]
            what = path.rsplit(".", 1)[-1]
            signature = rule.torch_signature
            if not signature and isinstance(rule, LayerRule):
                raise TranslationError("FWT101", f"{what}: the rule '{rule.id}' has no torch_signature "
                                       "(needed to translate torch code)", line)
            return ModSpec("leaf", node, line, torch_path=path, rule=rule,
                           args=bind(node, signature, scope, f"torch.nn.{what}"))
        if path in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return ModSpec("weight", node, line, torch_path=path)      # backends/keras_params.py
        if is_torch(path):
            hint = NO_RULE_HINTS.get(path)
            raise TranslationError("FWT101", f"{path} has no rule for the torch -> Keras direction"
                                   + (f": {hint}" if hint else ""), line)
        raise TranslationError("FWT103", f"module expression not recognised: {_code(node)[:60]}", line)

    def sequential(self, node: cst.Call, scope: dict, params) -> ModSpec:
        items = []
        args = list(node.args)
        if any(a.keyword is not None for a in args):
            raise TranslationError("FWT201", "nn.Sequential takes its modules positionally", line_of(node))
        if len(args) == 1 and isinstance(args[0].value, cst.Call) and (
                dotted(args[0].value.func) in ORDERED_DICT or self.table.resolve(args[0].value.func) in ORDERED_DICT):
            pairs = args[0].value.args
            if len(pairs) != 1 or not isinstance(pairs[0].value, (cst.List, cst.Tuple)):
                raise TranslationError("FWT103", "OrderedDict of modules: expected a list of (name, module)",
                                       line_of(node))
            for el in pairs[0].value.elements:
                pair = el.value
                if not (isinstance(pair, cst.Tuple) and len(pair.elements) == 2
                        and isinstance(pair.elements[0].value, cst.SimpleString)):
                    raise TranslationError("FWT103", "OrderedDict of modules: expected (\"name\", module) pairs",
                                           line_of(node))
                name = pair.elements[0].value.evaluated_value
                items.append((name, self.spec(pair.elements[1].value, scope, params)))
            return ModSpec("sequential", node, line_of(node), items=items, ordered_dict=True)
        for arg in args:
            if arg.star:
                raise TranslationError("FWT103", "nn.Sequential(*modules) built at run time is not supported yet",
                                       line_of(node))
            items.append((None, self.spec(arg.value, scope, params)))
        return ModSpec("sequential", node, line_of(node), items=items)

    def helper_spec(self, node: cst.Call, name: str, line: int) -> ModSpec:
        if name in self._helper_stack:
            raise TranslationError("FWT103", f"helper {name} calls itself", line)
        func = self.helpers[name]
        ret = returned_module(func)
        params = {p.name.value for p in func.params.params}
        scope = {p: Sym(p) for p in params}
        self._helper_stack.append(name)
        try:
            if _builds_at_run_time(ret, self.table) and self.driver is not None:
                from .torch_lists import read_helper       # layers = []; ...; return nn.Sequential(*layers)
                inner = read_helper(self.driver, func, ret)
            else:
                inner = self.spec(ret, scope, params)
        finally:
            self._helper_stack.pop()
        return ModSpec("helper", node, line, helper=name, inner=inner)


def _builds_at_run_time(ret, table) -> bool:
    """nn.Sequential(*layers) / nn.ModuleList(...): a container filled by the statements before it."""
    return isinstance(ret, cst.Call) and (
        resolve(ret.func, table) in ("torch.nn.ModuleList", "torch.nn.ModuleDict")
        or resolve(ret.func, table) == SEQUENTIAL and any(a.star for a in ret.args))


def returned_module(func: cst.FunctionDef) -> cst.BaseExpression | None:
    """The expression of a function whose body is (docstring, assignments, ) `return <module>`."""
    body = list(func.body.body) if isinstance(func.body, cst.IndentedBlock) else []
    if not body:
        return None
    last = body[-1]
    if isinstance(last, cst.SimpleStatementLine) and len(last.body) == 1 and isinstance(last.body[0], cst.Return):
        return last.body[0].value
    return None


def module_classes(module: cst.Module, table: ImportTable) -> dict[str, cst.ClassDef]:
    """Classes of the file deriving from nn.Module (directly or through another such class)."""
    found: dict[str, cst.ClassDef] = {}
    changed = True
    while changed:
        changed = False
        for stmt in module.body:
            if not isinstance(stmt, cst.ClassDef) or stmt.name.value in found:
                continue
            for base in stmt.bases:
                path = resolve(base.value, table)
                if path in MODULE_BASES or (isinstance(base.value, cst.Name) and base.value.value in found):
                    found[stmt.name.value] = stmt
                    changed = True
                    break
    return found


def module_helpers(module: cst.Module, table: ImportTable) -> dict[str, cst.FunctionDef]:
    """Module-level functions that return a module built from torch.nn (or nn.Sequential)."""
    out = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        ret = returned_module(stmt)
        if isinstance(ret, cst.Call) and is_torch(resolve(ret.func, table)) and _is_module_path(resolve(ret.func, table)):
            out[stmt.name.value] = stmt
    return out


def _is_module_path(path: str | None) -> bool:
    """torch.nn.X with X a class name (capitalised), not torch.nn.functional."""
    if not path or not path.startswith("torch.nn.") or path.startswith("torch.nn.functional"):
        return False
    return path.rsplit(".", 1)[-1][:1].isupper()


def is_module_ctor(node, table: ImportTable, classes, helpers) -> bool:
    if not isinstance(node, cst.Call):
        return False
    if isinstance(node.func, cst.Name) and (node.func.value in classes or node.func.value in helpers):
        return True
    return _is_module_path(resolve(node.func, table))


def methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


def _code(node) -> str:
    return node_code(node)


def uses_torch(node: cst.CSTNode, table: ImportTable) -> cst.CSTNode | None:
    """The first name or attribute chain in `node` that resolves to torch, or None."""
    def name(n):
        if is_torch(resolve(n, table)):
            raise Found(n)

    def attribute(n):
        if is_torch(resolve(n, table)):
            raise Found(n)
        visit(n.value, callbacks)       # `keras.Sequential`: the attribute name is not a free name
        return False

    callbacks = {cst.Attribute: attribute, cst.Name: name, cst.Import: skip_node, cst.ImportFrom: skip_node}
    return first(node, callbacks)
