"""Constant scopes used to fold layer arguments: module constants, builder parameters (symbolic)."""
from __future__ import annotations

import libcst as cst

from ..ir import UNKNOWN, Sym
from ..values import evaluate


def module_scope(module: cst.Module) -> dict:
    """Module-level names bound once to constants (used to fold layer arguments)."""
    scope: dict = {}
    counts: dict[str, int] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for t in small.targets:
                        if isinstance(t.target, cst.Name):
                            counts[t.target.value] = counts.get(t.target.value, 0) + 1
                            scope[t.target.value] = evaluate(small.value, scope)
    return {k: v for k, v in scope.items() if counts[k] == 1 and v is not UNKNOWN}


def function_scope(func: cst.FunctionDef, base: dict) -> dict:
    scope = dict(base)
    params = func.params
    for p in list(params.params) + list(params.kwonly_params) + list(params.posonly_params):
        scope[p.name.value] = Sym(p.name.value)
    assigned: dict[str, int] = {}
    for stmt in func.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                    name = small.targets[0].target.value
                    assigned[name] = assigned.get(name, 0) + 1
                    value = evaluate(small.value, scope)
                    if assigned[name] == 1 and value is not UNKNOWN:
                        scope[name] = value
                    else:
                        scope.pop(name, None)
    return scope
