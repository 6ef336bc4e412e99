"""Resolve names through a file's imports to canonical dotted paths.

`tf.keras.layers.Dense`, `from tensorflow.keras.layers import Dense as D`, `keras.layers.convolutional.Conv2D`
and `tf_keras.layers.Dense` all resolve to `keras.layers.Dense`.
"""
from __future__ import annotations

import libcst as cst

# Prefixes that all mean "Keras" (Keras 3, tf.keras, legacy Keras 2).
_KERAS_PREFIXES = (
    "tensorflow.python.keras",
    "tensorflow.keras",
    "tensorflow.compat.v2.keras",
    "tensorflow.compat.v1.keras",
    "tf_keras",
    "keras.api",
    "keras.src",
    "keras",
)
_MODEL_ALIASES = {
    "keras.models.Sequential": "keras.Sequential",
    "keras.models.Model": "keras.Model",
    "keras.engine.training.Model": "keras.Model",
    "keras.engine.sequential.Sequential": "keras.Sequential",
    "keras.layers.Input": "keras.Input",
    "keras.engine.input_layer.Input": "keras.Input",
    "keras.layers.Layer": "keras.Layer",
    "keras.engine.base_layer.Layer": "keras.Layer",
}


def canonical(path: str) -> str:
    """Map one resolved dotted path to its canonical Keras spelling (other paths pass through)."""
    for prefix in _KERAS_PREFIXES:
        if path == prefix or path.startswith(prefix + "."):
            path = "keras" + path[len(prefix):]
            break
    else:
        if path == "tensorflow":
            return path
        return path
    parts = path.split(".")
    # Legacy submodules: keras.layers.convolutional.Conv2D -> keras.layers.Conv2D
    if len(parts) >= 4 and parts[1] == "layers":
        path = "keras.layers." + parts[-1]
    elif len(parts) >= 4 and parts[1] == "backend":
        path = "keras.backend." + parts[-1]
    return _MODEL_ALIASES.get(path, path)


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` as a string, or None if the expression is not a plain dotted name."""
    kind = type(node)        # (classes without subclasses: `is` is isinstance, cheaper)
    if kind is cst.Name:
        return node.value
    if kind is cst.Attribute:
        head = dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _module_name(node: cst.BaseExpression | None) -> str:
    return dotted(node) if node is not None else ""


class ImportTable:
    """Local name -> fully qualified module path, from the file's import statements."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []

    @classmethod
    def from_module(cls, module: cst.Module) -> "ImportTable":
        table = cls()
        for stmt in module.body:
            table._collect(stmt)
        return table

    def _collect(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.add_import(small)
        elif isinstance(stmt, (cst.If, cst.Try)):
            for child in stmt.body.body:
                self._collect(child)
            for handler in getattr(stmt, "handlers", ()):
                for child in handler.body.body:
                    self._collect(child)

    def add_import(self, small: cst.BaseSmallStatement) -> None:
        if isinstance(small, cst.Import):
            for alias in small.names:
                full = _module_name(alias.name)
                if alias.asname is not None:
                    self.aliases[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    self.aliases.setdefault(head, head)
        elif isinstance(small, cst.ImportFrom) and not small.relative:
            module = _module_name(small.module)
            if isinstance(small.names, cst.ImportStar):
                self.star_modules.append(module)
                return
            for alias in small.names:
                name = _module_name(alias.name)
                local = alias.asname.name.value if alias.asname is not None else name
                self.aliases[local] = f"{module}.{name}"

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """Canonical path of a name or attribute chain, or None when it is not imported."""
        text = dotted(node)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        if head in self.aliases:
            full = self.aliases[head] + ("." + rest if rest else "")
            return canonical(full)
        for module in self.star_modules:
            if canonical(module).startswith("keras"):
                return canonical(f"{module}.{text}")
        return None

    def is_keras(self, path: str | None) -> bool:
        return bool(path) and (path == "keras" or path.startswith("keras."))


def used_names(node: cst.CSTNode) -> set[str]:
    """Names a piece of code reads or binds: not attribute names (`x.dim`) nor keywords (`dim=1`)."""
    from .cst_walk import used_names as walk
    return walk(node)


# ---- torch spellings (the torch -> Keras direction) -----------------------------------------------
# Module classes are exported from torch.nn but defined in torch.nn.modules.<file>; a few functions
# have two public spellings. Each maps to the spelling the rule files use.
_TORCH_ALIASES = {
    "torch.relu": "torch.nn.functional.relu",
    "torch.relu_": "torch.nn.functional.relu",
    "torch.nn.functional.relu_": "torch.nn.functional.relu",
    "torch.nn.functional.sigmoid": "torch.sigmoid",
    "torch.nn.functional.tanh": "torch.tanh",
    "torch.softmax": "torch.nn.functional.softmax",
    "torch.log_softmax": "torch.nn.functional.log_softmax",
    "torch.concat": "torch.cat",
    "torch.concatenate": "torch.cat",
}


def canonical_torch(path: str | None) -> str | None:
    """`torch.nn.modules.conv.Conv2d` -> `torch.nn.Conv2d`, `torch.relu` -> `torch.nn.functional.relu`."""
    if not path:
        return path
    parts = path.split(".")
    if len(parts) >= 4 and parts[:3] == ["torch", "nn", "modules"]:
        path = "torch.nn." + parts[-1]
    return _TORCH_ALIASES.get(path, path)
