"""translator/codegen_fast.py against libcst: the same code for parsed and for built trees, and the same
positions (libcst's PositionProvider) when it records lines (positions.module_lines)."""
from __future__ import annotations

import sysconfig
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from translator import codegen_fast
from translator.cst_walk import module_code, node_code
from translator.positions import module_lines

ROOT = Path(__file__).resolve().parents[1]

# every node type with a function in codegen_fast, in the shapes libcst writes differently
SOURCE = '''#!/usr/bin/env python
# header comment

"""Module doc."""
from __future__ import annotations
import os, sys as system
from . import sibling
from ..pkg.mod import (a as b,
                       c,)
from x import *


@decorator
# between decorators
@decorator.attr(1, key=2)
def f(a, /, b: int = 1, *args, c, d=(1,), **kwargs) -> "T":
    """Doc."""
    x = y = a; z = b
    x += 1
    assert x, "message"
    assert y
    if a < b <= c is not None and not d or e in f:
        pass
    elif a:  # comment
        return
    elif b:
        return a, b
    else:
        return (a)
    for i, j in zip(a, b):
        break
    else:
        continue
    while x:
        x -= 1
    with open(a) as fa, open(b):
        pass
    with (
        open(a) as fa,
        open(b) as fb,
    ):
        pass
    s = "a" "b" \\
        'c'
    t = """multi
line""" + f"{x}"
    u = [i for i in range(3) if i if i > 0] + list(j for j in a) + [*a, *b]
    v = {k: v for k, v in d.items()}, {1, 2}, {1: 2, **d}, {}
    w = a[1:2, ::3, :, 1:2:3, ...][0]
    q = lambda: 0, lambda x, *, y=1: x
    r = -x + +y * ~z ** 2 // 3 % 4 @ m >> 1 << 2 & 3 | 4 ^ 5
    s = x if y else z
    del x, y
    global g
    raise ValueError("x") from None


class A(B, metaclass=M):
    x: int

    class Inner:
        pass

    def g(self, *, key): ...


async def h():
    async with a:
        await b
    async for i in c:
        yield i
    try:
        pass
    except (E, F) as e:
        raise
    except E:
        pass
    else:
        pass
    finally:
        pass
    nonlocal_value = [
        1,  # one
        2,
    ]
'''


def _stdlib_sample(count: int = 12) -> list[str]:
    """A few standard library modules (sorted), as more code libcst must agree on."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(stdlib.glob("*.py")):
        if len(out) >= count:
            break
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.count("\n") < 1500:          # (a few small ones keep the test quick)
            out.append(text)
    return out


def _sources() -> list[str]:
    fixtures = [p.read_text() for p in sorted(ROOT.glob("fixtures/keras_to_torch/*.py"))[:8]]
    variants = [SOURCE, SOURCE.replace("\n", "\r\n"), SOURCE.replace("    ", "\t"), SOURCE.rstrip("\n"), "", "\n",
                "# only a comment"]
    return variants + fixtures + _stdlib_sample()


def test_enabled_with_this_libcst():
    assert codegen_fast.ENABLED and codegen_fast._HANDLERS     # else the other tests compare libcst to itself


@pytest.mark.parametrize("source", _sources())
def test_code_and_positions_match_libcst(source):
    module = cst.parse_module(source)
    assert module_code(module) == module.code == source
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert module_lines(module) == {id(node): pos.start.line for node, pos in positions.items()}
    for stmt in module.body:
        assert node_code(stmt) == cst.Module([]).code_for_node(stmt)


def _built_nodes() -> list[cst.CSTNode]:
    """Trees built by hand (defaults and MaybeSentinel everywhere), as the emitters build them."""
    x, y = cst.Name("x"), cst.Name("y")
    params = cst.Parameters(params=[cst.Param(x), cst.Param(y, default=cst.Integer("1"))],
                            kwonly_params=[cst.Param(cst.Name("k"))], star_kwarg=cst.Param(cst.Name("kw")))
    call = cst.Call(cst.Attribute(x, cst.Name("f")), [cst.Arg(y), cst.Arg(x, keyword=cst.Name("k")),
                                                     cst.Arg(y, star="*"), cst.Arg(x, star="**")])
    body = cst.IndentedBlock([
        cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(x)], call), cst.Expr(y)]),
        cst.SimpleStatementLine([cst.Return(cst.Tuple([cst.Element(x)]))]),
        cst.If(cst.Comparison(x, [cst.ComparisonTarget(cst.LessThan(), y)]),
               cst.IndentedBlock([cst.SimpleStatementLine([cst.Pass()])]),
               orelse=cst.If(x, cst.IndentedBlock([]), orelse=cst.Else(cst.IndentedBlock([])))),
        cst.SimpleStatementLine([]),
        cst.SimpleStatementLine([cst.Assert(x, msg=cst.SimpleString('"m"')),
                                 cst.AugAssign(x, cst.AddAssign(), cst.Integer("2"))]),
        cst.For(x, y, cst.IndentedBlock([cst.SimpleStatementLine([cst.Break()])])),
        cst.SimpleStatementLine([cst.Expr(cst.Subscript(x, [cst.SubscriptElement(cst.Slice(None, None)),
                                                            cst.SubscriptElement(cst.Index(y))]))]),
        cst.SimpleStatementLine([cst.Expr(cst.List([cst.Element(x), cst.StarredElement(y)]))]),
        cst.SimpleStatementLine([cst.Expr(cst.Dict([cst.DictElement(x, y)]))]),
        cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Attribute(x, y), cst.AsName(y))])]),
        cst.SimpleStatementLine([cst.ImportFrom(x, [cst.ImportAlias(y), cst.ImportAlias(x)])]),
    ])
    func = cst.FunctionDef(cst.Name("g"), params, body, decorators=[cst.Decorator(x)],
                           returns=cst.Annotation(y))
    cls = cst.ClassDef(cst.Name("C"), cst.IndentedBlock([func]), bases=[cst.Arg(x)],
                       keywords=[cst.Arg(y, keyword=cst.Name("metaclass"))])
    lambda_ = cst.Lambda(cst.Parameters(), x)
    return [func, cls, call, params, lambda_, cst.Tuple([]), cst.Tuple([cst.Element(x), cst.Element(y)]),
            cst.IfExp(x, y, x), cst.UnaryOperation(cst.Minus(), x),
            cst.BinaryOperation(x, cst.Add(), y, lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
            cst.Module([cls], has_trailing_newline=False)]


@pytest.mark.parametrize("node", _built_nodes(), ids=lambda n: type(n).__name__)
def test_built_trees_match_libcst(node):
    if isinstance(node, cst.Module):
        assert module_code(node) == node.code
    else:
        assert node_code(node) == cst.Module([]).code_for_node(node)
