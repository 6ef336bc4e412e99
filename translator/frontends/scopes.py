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
                        for name, value in _bindings(t.target, small.value, scope):
                            counts[name] = counts.get(name, 0) + 1
                            scope[name] = value
    return {k: v for k, v in scope.items() if counts[k] == 1 and v is not UNKNOWN}


def function_scope(func: cst.FunctionDef, base: dict, bound: dict | None = None) -> dict:
    """Constants of a function body; its parameters are symbolic unless `bound` gives their values."""
    scope = dict(base)
    params = func.params
    for p in list(params.params) + list(params.kwonly_params) + list(params.posonly_params):
        scope[p.name.value] = (bound or {}).get(p.name.value, Sym(p.name.value))
    assigned: dict[str, int] = {}
    for stmt in func.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    for name, value in _bindings(small.targets[0].target, small.value, scope):
                        assigned[name] = assigned.get(name, 0) + 1
                        if assigned[name] == 1 and value is not UNKNOWN:
                            scope[name] = value
                        else:
                            scope.pop(name, None)
    return scope


def _bindings(target, value, scope) -> list:
    """(name, value) pairs bound by `target = value`, unpacking tuples: `rows, cols = 28, 28`."""
    if isinstance(target, cst.Name):
        return [(target.value, evaluate(value, scope))]
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
        return [(f"self.{target.attr.value}", evaluate(value, scope))]
    if isinstance(target, (cst.Tuple, cst.List)):
        names = [el.value for el in target.elements]
        values = evaluate(value, scope)
        if all(isinstance(n, cst.Name) for n in names):
            if isinstance(values, (tuple, list)) and len(values) == len(names):
                return [(n.value, v) for n, v in zip(names, values)]
            return [(n.value, UNKNOWN) for n in names]
    return []


def param_defaults(func: cst.FunctionDef | None, base: dict) -> dict:
    """Parameters with a constant default value: name -> value."""
    if func is None:
        return {}
    out = {}
    params = func.params
    for p in list(params.params) + list(params.kwonly_params) + list(params.posonly_params):
        if p.default is not None:
            value = evaluate(p.default, base)
            if value is not UNKNOWN and not isinstance(value, Sym):
                out[p.name.value] = value
    return out
