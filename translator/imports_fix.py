"""After translation: drop Keras/TensorFlow imports no longer used, add the torch imports needed."""
from __future__ import annotations


import libcst as cst

from . import snippets
from .cst_walk import node_code
from .names import ImportTable, canonical, dotted

FRAMEWORK_ROOTS = ("keras", "tensorflow", "tf_keras")


def _used_names(module: cst.Module) -> set[str]:
    """Every Name in the module except in import statements and attribute names (`nn.Dropout` uses
    `nn`, not a name `Dropout`). A walk over the nodes' fields: libcst's visitor machinery rebuilds
    every node it passes, which made this walk several times slower than parsing the file."""
    used: set[str] = set()
    stack: list = [module]
    while stack:
        node = stack.pop()
        kind = type(node)       # (classes without subclasses: `is` is isinstance, cheaper)
        if kind is cst.Name:
            used.add(node.value)
        elif kind is cst.Attribute:
            stack.append(node.value)
        elif kind is not cst.Import and kind is not cst.ImportFrom:
            stack.extend(_child_nodes(node))
    return used


from .cst_walk import child_nodes as _child_nodes  # noqa: E402


def _is_framework(path: str) -> bool:
    return path.split(".")[0] in FRAMEWORK_ROOTS or canonical(path).startswith("keras")


def _prune(small, used: set[str]):
    """The import statement without its unused framework aliases (None if nothing is left)."""
    if isinstance(small, cst.Import):
        keep = []
        for alias in small.names:
            full = dotted(alias.name)
            local = alias.asname.name.value if alias.asname else full.split(".")[0]
            if _is_framework(full) and local not in used:
                continue
            keep.append(alias)
    elif isinstance(small, cst.ImportFrom) and not small.relative and not isinstance(small.names, cst.ImportStar):
        module = dotted(small.module) if small.module else ""
        if not _is_framework(module):
            return small
        keep = [a for a in small.names
                if (a.asname.name.value if a.asname else dotted(a.name)) in used]
    else:
        return small
    if not keep:
        return None
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return small.with_changes(names=keep)


def fix_imports(module: cst.Module, needed: list[str]) -> cst.Module:
    used = _used_names(module)
    body, insert_at, orphan_lines = [], None, []
    for stmt in module.body:
        if orphan_lines:   # comments above a removed import move to the next statement
            stmt = stmt.with_changes(leading_lines=orphan_lines + list(stmt.leading_lines))
            orphan_lines = []
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            pruned = [p for p in (_prune(s, used) for s in stmt.body) if p is not None]
            if insert_at is None and (len(pruned) < len(stmt.body) or _framework_stmt(stmt)):
                insert_at = len(body)
            if pruned:
                body.append(stmt.with_changes(body=pruned))
            else:
                orphan_lines = [line for line in stmt.leading_lines if line.comment]
            continue
        body.append(stmt)
    present = {node_code(s).strip() for s in body if isinstance(s, cst.SimpleStatementLine)
               and any(isinstance(small, (cst.Import, cst.ImportFrom)) for small in s.body)}
    new = [snippets.statement(text + "\n") for text in needed
           if text not in present and text.split()[-1] in used]      # `import torch.nn.functional as F` -> F
    if insert_at is None:
        insert_at = _after_header(body)
    body = body[:insert_at] + new + body[insert_at:]
    return module.with_changes(body=body)


def _framework_stmt(stmt) -> bool:
    table = ImportTable()
    for small in stmt.body:
        table.add_import(small)
    return any(_is_framework(v) for v in table.aliases.values())


def _after_header(body) -> int:
    """Index after a module docstring and __future__ imports."""
    i = 0
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        i = 1
    while i < len(body) and isinstance(body[i], cst.SimpleStatementLine) and isinstance(body[i].body[0], cst.ImportFrom) \
            and dotted(body[i].body[0].module or cst.Name("")) == "__future__":
        i += 1
    return i
