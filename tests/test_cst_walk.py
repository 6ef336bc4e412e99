"""The fast CST helpers (translator/cst_walk.py, positions.py, snippets, templates) against the libcst
machinery they replace: same lines, same trees, same code, same callback order."""
from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.helpers import parse_template_expression
from libcst.metadata import MetadataWrapper, PositionProvider

from translator.backends.torch_code import template
from translator.cst_walk import all_names, copy_tree, module_code, node_code, transform, used_names
from translator.positions import index_positions, line_of, module_lines
from translator.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]

TRICKY = '''"""doc"""
import keras  # comment
from keras import (layers,
                   ops)


@decorator(1,
           2)
class A(keras.Model):
    x: int = 3

    def call(self, x, *, training=None):
        s = """multi
line"""
        y = (x +
             1) if training else [a for a in x if a]
        return lambda q=1: q, {"k": x}[0:1, ::2]

    def empty(self): pass


async def f(*args, **kwargs):
    async with a as b:
        await b
    try:
        pass
    except E as e:
        raise
    finally:
        del x
    while x:
        x -= 1
    else:
        global g
'''


def _sources():
    files = sorted(ROOT.glob("fixtures/keras_to_torch/*.keras.py"))[:6] + sorted(
        ROOT.glob("fixtures/torch_to_keras/*.torch.py"))[:3]
    return [TRICKY, TRICKY.replace("\n", "\r\n")] + [p.read_text() for p in files]


@pytest.mark.parametrize("source", _sources())
def test_module_lines_match_position_provider(source):
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    expected = {id(node): pos.start.line for node, pos in positions.items()}
    assert module_lines(module) == expected


def test_line_of_is_lazy_and_keeps_lines_set_by_hand():
    module = index_positions(cst.parse_module(TRICKY))
    from translator.positions import _LINES
    generated = cst.Name("x")
    _LINES.get()[id(generated)] = 42          # a call site's line for generated code
    cls = next(s for s in module.body if isinstance(s, cst.ClassDef))
    assert line_of(cls) == 9                    # the `class` line, not the decorator's
    assert line_of(generated) == 42
    assert line_of(cst.Name("y")) == 0


class _Recorder(cst.CSTTransformer):
    def __init__(self, log):
        self.log = log

    def visit_Attribute(self, node):
        self.log.append(("visit", node.attr.value))
        return node.attr.value != "skip_me"

    def leave_Name(self, original, updated):
        self.log.append(("name", original.value))
        return updated.with_changes(value=updated.value + "_") if len(updated.value) < 3 else updated

    def leave_Arg(self, original, updated):
        self.log.append(("arg",))
        return updated


@pytest.mark.parametrize("source", _sources())
def test_transform_matches_a_libcst_transformer(source):
    module = cst.parse_module(source + "z = ops.skip_me.x(1, k=ab.cd)\n")
    expected_log, log = [], []
    expected = module.visit(_Recorder(expected_log))
    rec = _Recorder(log)
    got = transform(module, {cst.Name: rec.leave_Name, cst.Arg: rec.leave_Arg},
                    {cst.Attribute: rec.visit_Attribute})
    assert got.code == expected.code
    assert got.deep_equals(expected)
    assert log == expected_log
    kept = transform(module, {cst.Name: rec.leave_Name}, keep={cst.Attribute: ("attr",)})
    assert "ops.skip_me.x" in kept.code and kept.code != module.code


def test_copies_are_new_nodes():
    module = index_positions(cst.parse_module(TRICKY))
    stmt = module.body[1]
    assert line_of(stmt) == 2
    for copy in (copy_tree(stmt), transform(stmt, {})):
        assert copy.deep_equals(stmt) and copy is not stmt
        assert line_of(copy) == 0 and line_of(copy.body[0]) == 0


@pytest.mark.parametrize("source", _sources())
def test_codegen_and_name_walks(source):
    module = cst.parse_module(source)
    assert module_code(module) == module.code == source
    for stmt in module.body:
        assert node_code(stmt) == cst.Module([]).code_for_node(stmt)
    names = []

    class V(cst.CSTVisitor):
        def visit_Name(self, node):
            names.append(node.value)
    module.visit(V())
    assert all_names(module) == set(names)
    assert used_names(module) <= set(names)


@pytest.mark.parametrize("text, nodes", [
    ("{x} > {t}", {"x": "a.b(1)", "t": "3"}),
    ("({x}.shape[0], *{x}.shape[2:], {x}.shape[1])", {"x": "(y + 1)"}),
    ("(lambda out, h: (out, h[0]))(*{m})", {"m": "self.rnn(x)"}),
])
def test_template_matches_libcst(text, nodes):
    nodes = {k: cst.parse_expression(v) for k, v in nodes.items()}
    expected = parse_template_expression(text, **nodes)
    for _ in range(2):                                   # the second one comes from the cache
        got = template(text, **nodes)
        assert got.deep_equals(expected)
        assert node_code(got) == node_code(expected)


def test_param_index_matches_a_linear_search():
    rules = load_rules()
    for rule in rules.all_layer_rules():
        names = {p.keras for p in rule.params} | {a for p in rule.params for a in p.keras2} | {"nope"}
        for name in names:
            expected = next((p for p in rule.params if p.keras == name or name in p.keras2), None)
            assert rule.param(name) is expected
