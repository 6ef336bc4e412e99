"""The torch -> Keras translation's shortcuts give what the long way gives.

  - translator/cst_visit.py: visits in libcst's visitor order with its skip semantics; tree and code
    comparison (same_tree, same_code, CodeOf);
  - backends/keras_block_memo.py: a block class translated once per input and driver state, reused
    elsewhere: the output (code, findings, models) equals a translation that never reuses one, on
    generated files with blocks used in many ways (lists, loops, twice, with module arguments,
    helpers, failing layers) and both layouts.
No frameworks are needed: these compare translations, the numerical tests prove the translations.
"""
from __future__ import annotations

import random
from pathlib import Path

import libcst as cst
import pytest

from translator.api import translate_source
from translator.backends import keras_block_memo
from translator.backends.keras_block_memo import BlockMemo
from translator.cst_visit import CodeOf, first, Found, nodes_of, same_code, same_tree, skip_node, visit
from translator.cst_walk import node_code

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures" / "torch_to_keras").glob("*.torch.py"))
_SYNTAX = (cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
           cst.RightCurlyBrace, cst.ImportStar)


def _libcst_order(node, skip_types=()):
    """The code nodes libcst's visitor passes, in order (callbacks returning False for skip_types)."""
    seen = []

    class V(cst.CSTVisitor):
        def on_visit(self, n):
            seen.append(n)
            return not isinstance(n, skip_types)
    node.visit(V())
    return [n for n in seen if type(n).__module__.rsplit(".", 1)[-1] not in ("op", "whitespace")
            and not isinstance(n, _SYNTAX)]


class _Every(dict):
    """Callbacks for every node type."""

    def __init__(self, out, skip_types=()):
        super().__init__()
        self.out, self.skip_types = out, skip_types

    def get(self, kind, default=None):
        def record(n):
            self.out.append(n)
            return False if isinstance(n, self.skip_types) else None
        return record


@pytest.mark.parametrize("path", FIXTURES[:6] + [ROOT / "translator" / "torch_to_keras.py"], ids=lambda p: p.name)
def test_visit_order_is_libcsts(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    for skip_types in ((), (cst.Call, cst.FunctionDef)):
        mine = []
        visit(module, _Every(mine, skip_types))
        mine = [n for n in mine if not isinstance(n, _SYNTAX)]
        assert [id(n) for n in mine] == [id(n) for n in _libcst_order(module, skip_types)]


def test_nodes_of_first_and_skip():
    module = cst.parse_module("a = f(b, g(c))\nclass K:\n    def m(self):\n        return h(e)\n")
    assert [node_code(n) for n in nodes_of(module, cst.Call)] == ["f(b, g(c))", "g(c)", "h(e)"]
    assert [node_code(n) for n in nodes_of(module, cst.Call, skip=(cst.Call,))] == ["f(b, g(c))", "h(e)"]
    assert [n.value for n in nodes_of(module, cst.Name, skip=(cst.ClassDef,))] == ["a", "f", "b", "g", "c"]

    def name(n):
        if n.value in ("c", "e"):
            raise Found(n)
    assert first(module, {cst.Name: name}).value == "c"
    assert first(module, {cst.Name: name, cst.Assign: skip_node}).value == "e"
    assert first(module, {cst.Name: name, cst.Assign: skip_node, cst.ClassDef: skip_node}) is None


def test_same_tree_and_code():
    a = cst.parse_expression("f(x, y=1)")
    b = cst.parse_expression("f(x, y=1)")
    c = cst.parse_expression("f(x, y = 1)")
    assert same_tree(a, b) and same_code(a, b)
    assert not same_tree(a, c) and not same_code(a, c)          # whitespace is code
    built = cst.Call(cst.Name("f"), [cst.Arg(cst.Name("x"))])   # () where the parser has []: same code
    assert same_code(built, cst.parse_expression("f(x)"))
    assert CodeOf(a) == CodeOf(b) and CodeOf(a) != CodeOf(c)
    assert CodeOf(a) == "f(x, y=1)" and ("k", CodeOf(a)) != ("k", "f(x)")
    assert ("k", CodeOf(built)) == ("k", CodeOf(cst.parse_expression("f(x)")))


# ---- the block memo ----------------------------------------------------------------------------------

_HELPER = '''
def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
'''


def _block(r, name, others):
    init, fwd = [], []
    main = r.choice(["conv", "seq", "layers", "helper", "mlist"] + (["sub"] * 2 if others else []))
    if main == "conv":
        init, fwd = ["self.conv = nn.Conv2d(cin, cout, 3, padding=1)"], ["y = self.conv(x)"]
    elif main == "seq":
        init, fwd = ["self.seq = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU())"], ["y = self.seq(x)"]
    elif main == "layers":
        init = ["layers = []", "for i in range(2):",
                "    layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1))",
                "    layers.append(nn.ReLU())", "self.body = nn.Sequential(*layers)"]
        fwd = ["y = self.body(x)"]
    elif main == "helper":
        init, fwd = ["self.cb = conv_bn(cin, cout)"], ["y = self.cb(x)"]
    elif main == "sub":
        init, fwd = [f"self.sub = {r.choice(others)}(cin, cout)"], ["y = self.sub(x)"]
    else:
        init = ["self.first = nn.Conv2d(cin, cout, 1)",
                "self.convs = nn.ModuleList([nn.Conv2d(cout, cout, 3, padding=1) for _ in range(2)])"]
        fwd = ["y = self.first(x)", "for c in self.convs:", "    y = c(y)"]
    extras = [(0.4, ["self.bn = nn.BatchNorm2d(cout)"], ["y = self.bn(y)"]),
              (0.3, ["self.unused = nn.Linear(4, 4)"], []),
              (0.3, ["self.down = downsample"], ["if self.down is not None:", "    x = self.down(x)"]),
              (0.4, ["self.res = cin == cout"], ["if self.res:", "    y = y + x"]),
              (0.1, ["self.bad = nn.TransformerDecoderLayer(8, 2)"], ["y = self.bad(y, y)"])]
    for p, i, f in extras:
        if r.random() < p:
            init, fwd = init + i, fwd + f
    body, f = "\n        ".join(init), "\n        ".join(fwd)
    return (f"\n\nclass {name}(nn.Module):\n    def __init__(self, cin, cout, downsample=None):\n"
            f"        super().__init__()\n        {body}\n\n    def forward(self, x):\n        {f}\n        return y\n")


def _root(r, blocks):
    init, fwd = ["self.stem = nn.Conv2d(3, 8, 3, padding=1)"], ["x = self.stem(x)"]
    for i in range(r.randint(2, 4)):
        b = r.choice(blocks)
        how = r.choice(["attr", "twice", "seqlist", "mlist", "down", "helper"])
        if how in ("attr", "twice"):
            init.append(f"self.b{i} = {b}(8, 8)")
            fwd += [f"x = self.b{i}(x)"] * (2 if how == "twice" else 1)
        elif how == "seqlist":
            init += ["feats = []", f"for j in range({r.randint(1, 3)}):", f"    feats.append({b}(8, 8))",
                     f"self.s{i} = nn.Sequential(*feats)"]
            fwd.append(f"x = self.s{i}(x)")
        elif how == "mlist":
            init.append(f"self.m{i} = nn.ModuleList([{b}(8, 8) for _ in range({r.randint(1, 3)})])")
            fwd += [f"for blk in self.m{i}:", "    x = blk(x)"]
        elif how == "down":
            init.append(f"self.d{i} = {b}(8, 8, downsample=nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)))")
            fwd.append(f"x = self.d{i}(x)")
        else:
            init.append(f"self.h{i} = conv_bn(8, 8)")
            fwd.append(f"x = self.h{i}(x)")
    if r.random() < 0.5:
        init.append("self.fc = nn.Linear(8, 5)")
        fwd += ["x = x.mean([2, 3])", "x = self.fc(x)"]
    body, f = "\n        ".join(init), "\n        ".join(fwd)
    return (f"\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        {body}\n\n"
            f"    def forward(self, x):\n        {f}\n        return x\n")


def generated_source(seed: int) -> str:
    r = random.Random(seed)
    names = [f"Block{i}" for i in range(r.randint(1, 3))]
    out = "import torch\nimport torch.nn as nn\n" + _HELPER
    for i, n in enumerate(names):
        out += _block(r, n, names[:i])
    return out + _root(r, names)


def _outcome(result):
    return result.code, result.to_json()


def _without_memo(monkeypatch, src, **kw):
    with monkeypatch.context() as m:
        def plain(self, name, cls, metas, ctx):
            from translator.torch_to_keras import ClassTranslation
            tr = ClassTranslation(self.driver, cls, root=False)
            return tr, tr.translate(metas, ctx, "native")
        m.setattr(BlockMemo, "translate", plain)
        return translate_source(src, to="keras", **kw)


def _counting_replays(monkeypatch):
    replays = []
    original = keras_block_memo._Writes.replay

    def replay(self, driver, ctx):
        replays.append(1)
        return original(self, driver, ctx)
    monkeypatch.setattr(keras_block_memo._Writes, "replay", replay)
    return replays


@pytest.mark.parametrize("layout", ["native", "keep"])
def test_block_memo_gives_the_plain_translation(monkeypatch, layout):
    replays = _counting_replays(monkeypatch)
    codes = set()
    for seed in range(40):
        src = generated_source(seed)
        for shape in (None, (3, 6, 6)):
            got = translate_source(src, to="keras", layout=layout, input_shape=shape)
            want = _without_memo(monkeypatch, src, layout=layout, input_shape=shape)
            assert _outcome(got) == _outcome(want), f"seed {seed}, input_shape {shape}"
            codes |= {f.code for f in got.findings} | ({"ok"} if not got.findings else set())
    assert len(replays) > 50               # the memo was used, and
    assert "ok" in codes and "FWT202" in codes      # translations and failures were both compared


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.name.split(".")[0] in ("unet_small", "mobilenet_v2",
                                                                             "resnet_basic")], ids=lambda p: p.name)
def test_block_memo_on_fixtures(monkeypatch, path):
    replays = _counting_replays(monkeypatch)
    src = path.read_text(encoding="utf-8")
    for layout in ("native", "keep"):
        assert _outcome(translate_source(src, to="keras", layout=layout)) == \
            _outcome(_without_memo(monkeypatch, src, layout=layout))
    assert replays


def test_block_memo_tells_inputs_apart(monkeypatch):
    """A block applied to an image and to a vector is translated for each: the memo keys on the inputs."""
    from translator.torch_to_keras import ClassTranslation
    translated = []
    original = ClassTranslation.translate

    def translate(self, metas, ctx, layout):
        translated.append((self.name, tuple((m.layout, m.rank) for m in metas)))
        return original(self, metas, ctx, layout)
    monkeypatch.setattr(ClassTranslation, "translate", translate)
    src = ("import torch.nn as nn\n\n\nclass Act(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.act = nn.ReLU()\n\n    def forward(self, x):\n        return self.act(x)\n\n\n"
           "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.conv = nn.Conv2d(3, 4, 3)\n        self.a = Act()\n        self.b = Act()\n"
           "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        x = self.a(self.conv(x))\n"
           "        x = x.mean([2, 3])\n        return self.fc(self.b(x))\n")
    got = translate_source(src, to="keras")
    assert _outcome(got) == _outcome(_without_memo(monkeypatch, src))
    assert "class Act(layers.Layer)" in got.code and not got.findings
    assert {("Act", (("cf", 4),)), ("Act", (("same", 2),))} <= set(translated)
