"""Binding the arguments of a Keras call written in source (positional and keyword) to parameter names,
as source text, with the checks every training translation needs."""
from __future__ import annotations

import libcst as cst

from ..cst_walk import node_code
from ..findings import TranslationError
from ..values import UNKNOWN, evaluate

def code(node: cst.CSTNode) -> str:
    return node_code(node)


def bind(call: cst.Call, params: tuple[str, ...], what: str, line: int) -> dict[str, cst.BaseExpression]:
    """name -> argument node. `params`: the parameter names in positional order; a keyword that is not
    one of them, or *args/**kwargs, is refused (FWT201) rather than dropped."""
    out: dict[str, cst.BaseExpression] = {}
    positional = 0
    for arg in call.args:
        if arg.star:
            raise TranslationError("FWT201", f"{what}: *args/**kwargs cannot be translated", line)
        if arg.keyword is None:
            if positional >= len(params):
                raise TranslationError("FWT201", f"{what}: too many positional arguments", line)
            out[params[positional]] = arg.value
            positional += 1
        else:
            name = arg.keyword.value
            if name not in params:
                raise TranslationError("FWT201", f"{what}: argument '{name}' has no PyTorch translation", line)
            out[name] = arg.value
    return out


def constant(args: dict, name: str, default, scope: dict, what: str, line: int):
    """The value of an argument that must be a constant in the source (a flag, a name string)."""
    if name not in args:
        return default
    value = evaluate(args[name], scope)
    if value is UNKNOWN:
        raise TranslationError("FWT202", f"{what}: '{name}' must be a constant to be translated", line)
    return value


def text(args: dict, name: str, default: str) -> str:
    """An argument as source text (kept symbolic: `learning_rate=lr` stays `lr`), or the default."""
    return code(args[name]) if name in args else default
