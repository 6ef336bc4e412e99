"""Public API: translate_source, translate_file, port_weights."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from .findings import Finding
from .gc_pause import gc_paused
from .imports_fix import fix_imports
from .ir import ModelInfo
from .keras_to_torch import KerasToTorch, Options
from .cst_walk import module_code
from .positions import index_positions
from .rules import load_rules

DIRECTIONS = ("torch", "keras")
LAYOUTS = ("native", "keep")


@dataclass
class Result:
    """What a translation produced: the new code, findings, and per-model interface/mapping facts."""
    code: str
    findings: list[Finding] = field(default_factory=list)
    models: list[ModelInfo] = field(default_factory=list)
    file: str = "<string>"
    sites: int = 0
    failed_sites: int = 0
    error: bool = False          # the input could not be processed at all (syntax error, ...)

    @property
    def needs_attention(self) -> list[Finding]:
        return [f for f in self.findings if f.needs_attention]

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 1 if self.needs_attention else 0

    def model(self, name: str) -> ModelInfo:
        for m in self.models:
            if name in (m.name, m.torch_class):
                return m
        raise KeyError(f"no translated model named {name!r} in {self.file}")

    def summary(self) -> str:
        if self.error:
            return f"{self.file}: not translated ({self.findings[0].message})"
        attention = len(self.needs_attention)
        total = self.sites + self.failed_sites
        return (f"{self.file}: converted {self.sites}/{total} layer and op sites in {len(self.models)} "
                f"model(s); {attention} need attention")

    def to_dict(self) -> dict:
        return {"file": self.file, "exit_code": self.exit_code, "summary": self.summary(),
                "sites": self.sites, "failed_sites": self.failed_sites,
                "findings": [f.to_dict() for f in self.findings],
                "models": [m.to_dict() for m in self.models]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def translate_source(code: str, to: str = "torch", layout: str = "native", input_shape=None,
                     rules: tuple[str, ...] = (), filename: str = "<string>") -> Result:
    """Translate model source code. `input_shape`: one shape (without batch) or a list of them."""
    with gc_paused():
        return _translate_source(code, to, layout, input_shape, rules, filename)


def _translate_source(code, to, layout, input_shape, rules, filename) -> Result:
    if to not in DIRECTIONS:
        raise ValueError(f"unsupported target {to!r}; choose one of {DIRECTIONS}")
    if layout not in LAYOUTS:
        raise ValueError(f"unsupported layout {layout!r}; choose one of {LAYOUTS}")
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        line, col, message = _python_syntax_error(code) or (exc.raw_line, exc.raw_column, exc.message)
        finding = Finding("FWT902", f"syntax error: {message}", line, col, filename)
        return Result(code, [finding], file=filename, error=True)
    if not code.strip():
        return Result(code, [Finding("FWT904", "empty file: nothing to translate", 1, 0, filename)],
                      file=filename)
    if to == "torch" and not mentions_keras(code):     # plain Python: parsed (syntax checked), no more
        return Result(code, [Finding("FWT904", "no Keras model definition found", 1, 0, filename)],
                      file=filename)
    module = index_positions(module)
    shapes = _shapes(input_shape)
    if to == "keras":
        from .torch_to_keras import translate_module
        return translate_module(module, load_rules(tuple(rules)), layout, shapes, filename, Result)
    rule_set, options = load_rules(tuple(rules)), Options(layout, shapes)
    translator = KerasToTorch(module, rule_set, options, filename)
    out = translator.run()
    if translator.keras_classes:      # the first pass found how the file's layer classes are called
        plans = translator.class_plans()
        if plans:                     # no plan: the second pass would repeat the first exactly
            shared = translator.shared_outputs
            translator = KerasToTorch(module, rule_set, options, filename, plans)
            translator.shared_outputs = shared        # layer-class outputs, reused where exact (outputs_memo)
            out = translator.run()
        keep = translator.classes_to_keep()
        if keep:                      # a class stays Keras: so do the classes it works with
            errors = translator.class_errors
            shared = translator.shared_outputs
            translator = KerasToTorch(module, rule_set, options, filename, plans, keep)
            translator.previous_errors = errors          # each failed class reports why it failed
            translator.shared_outputs = shared
            out = translator.run()
    new_module = out.module
    if out.models:
        new_module = fix_imports(new_module, translator.imports.statements())
    findings = sorted(out.findings, key=lambda f: (f.line, f.code))
    if not out.models and not out.failed_sites:
        findings.append(Finding("FWT904", "no Keras model definition found", 1, 0, filename))
    return Result(module_code(new_module), findings, out.models, filename, out.sites, out.failed_sites)


def mentions_keras(code: str) -> bool:
    """False when the text names neither keras nor tensorflow: every path the engine translates resolves
    through an import of keras, tf_keras or tensorflow, so such a file cannot hold Keras model code and
    its translation is the file itself. Skipping the engine there makes plain Python cost one parse."""
    return "keras" in code or "tensorflow" in code


def _python_syntax_error(code: str):
    """Python's own position for a syntax error (libcst reports where its parser gave up)."""
    import ast
    try:
        ast.parse(code)
    except SyntaxError as err:
        return err.lineno or 1, max((err.offset or 1) - 1, 0), err.msg
    return None


def _shapes(input_shape):
    if input_shape is None:
        return None
    shape = list(input_shape)
    if shape and all(isinstance(d, (int, type(None))) for d in shape):
        return [tuple(shape)]
    return [tuple(s) for s in shape]


def translate_file(path: str | Path, to: str = "torch", layout: str = "native", input_shape=None,
                   rules: tuple[str, ...] = ()) -> Result:
    path = Path(path)
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        return Result("", [Finding("FWT903", "binary file, not Python source", 1, 0, str(path))],
                      file=str(path), error=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return Result("", [Finding("FWT903", f"not UTF-8 text ({exc.reason} at byte {exc.start})", line, 0,
                                   str(path))], file=str(path), error=True)
    return translate_source(text, to=to, layout=layout, input_shape=input_shape, rules=rules,
                            filename=str(path))


def port_weights(source, target, mapping=None):
    """Copy the weights of a built model into the model built from its translation, either way round:
    `port_weights(keras_model, torch_module, mapping)` or `port_weights(torch_module, keras_model, mapping)`.
    `mapping` is the translation's ModelInfo (`result.model(name)`)."""
    from .verify.port_torch import port_weights_any
    return port_weights_any(source, target, mapping)
