"""Python lists of tensors in forward, torch -> Keras (translator/backends/keras_forward_tlists.py).

U-Net skips, DenseNet feature lists, FPN-style item updates and heads built by a list comprehension:
each torch module gets random weights, is translated, ported and compared in both layouts.
"""
from __future__ import annotations

import pytest

from test_torch_to_keras import ATOL, _np_inputs, model_source
from translator.api import translate_source

LAYOUTS = ("native", "keep")
IMG = (2, 3, 8, 8)

CASES = [
    # U-Net: skips appended in a loop over a ModuleList, read back reversed and zipped with the ups
    ("unet-loop", """
        self.downs = nn.ModuleList([nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)])
        self.ups = nn.ModuleList([nn.Conv2d(12, 4, 3, padding=1), nn.Conv2d(8, 5, 3, padding=1)])
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Conv2d(6, 6, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
    """, """
        skips = []
        for down in self.downs:
            x = torch.relu(down(x))
            skips.append(x)
            x = self.pool(x)
        x = self.mid(x)
        for skip, up in zip(reversed(skips), self.ups):
            x = self.up(x)
            x = torch.cat([x, skip], dim=1)
            x = up(x)
        return x
    """, ["keras.ops.concatenate([x, skip], axis=-1)"]),
    # straight code: append, pop, [-1]
    ("unet-straight", """
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(8, 2, 1)
        self.pool = nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
    """, """
        skips = []
        x = self.c1(x)
        skips.append(x)
        x = self.pool(x)
        skips.append(self.c2(x))
        y = skips.pop()
        x = torch.cat((self.up(y), skips[-1]), 1)
        return self.c3(x)
    """, ["skips.pop()", "skips[-1]"]),
    # DenseNet: a literal list grown in a loop, concatenated along channels each step
    ("densenet", """
        self.layers = nn.ModuleList([nn.Conv2d(3 + 2 * i, 2, 3, padding=1) for i in range(3)])
    """, """
        features = [x]
        for layer in self.layers:
            new = torch.relu(layer(torch.cat(features, 1)))
            features.append(new)
        return torch.cat(features, dim=1)
    """, ["keras.ops.concatenate(features, axis=-1)"]),
    # a reversed slice iterated; FPN-style item updates
    ("fpn", """
        self.lat = nn.ModuleList([nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)])
        self.out = nn.Conv2d(4, 4, 3, padding=1)
    """, """
        feats = [l(x) for l in self.lat]
        for i in range(len(feats) - 1, 0, -1):
            feats[i - 1] = feats[i - 1] + 0.5 * feats[i]
        acc = feats[0]
        for f in feats[::-1]:
            acc = acc * 0.5 + f
        return self.out(acc) + feats[1]
    """, ["feats[::-1]"]),
    # heads by a list comprehension, concatenated on channels and stacked as vectors
    ("heads", """
        self.heads = nn.ModuleList([nn.Conv2d(3, 2, 1), nn.Conv2d(3, 3, 3, padding=1)])
        self.fcs = nn.ModuleList([nn.Linear(5, 4) for _ in range(3)])
    """, """
        outs = [h(x) for h in self.heads]
        y = torch.cat(outs, 1).mean(dim=(2, 3))
        vs = [fc(y) for fc in self.fcs]
        return torch.stack(vs, dim=1).sum(1) + vs[0]
    """, ["for h in self.heads]"]),
]


def _params():
    return [pytest.param(init, fwd, snippets, layout, id=f"{cid}-{layout}")
            for cid, init, fwd, snippets in CASES for layout in LAYOUTS]


def _translates_and_matches(init, forward, shapes, snippets, layout):
    """No error finding, the expected code (native layout), outputs equal after porting."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from translator.verify.port_torch import compare_torch_source
    src = model_source(init, forward)
    result = translate_source(src, to="keras", layout=layout)
    errors = [f.format() for f in result.findings if f.severity == "error"]
    assert not errors, "\n".join(errors) + "\n" + result.code
    if layout == "native":
        for snippet in snippets:
            assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", layout=layout, result=result)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for scale {comparison.scale}\n{result.code}"


@pytest.mark.parametrize("init, forward, snippets, layout", _params())
def test_list_of_tensors(init, forward, snippets, layout):
    _translates_and_matches(init, forward, [IMG], snippets, layout)


@pytest.mark.parametrize("forward, code", [
    # an image and a flattened vector in one list: different layouts
    ("xs = [x]\nxs.append(torch.flatten(x, 1))\nreturn xs[0]", "FWT202"),
    # torch.stack of channels-first images
    ("xs = []\nxs.append(F.max_pool2d(x, 2))\nxs.append(F.avg_pool2d(x, 2))\n"
     "return torch.stack(xs, 1)", "FWT202"),
])
def test_list_cases_that_are_reported(forward, code):
    src = model_source("", forward)
    result = translate_source(src, to="keras")
    codes = [f.code for f in result.findings if f.severity == "error"]
    assert code in codes, (codes, result.code)


# ---- forms the keras -> torch -> keras round trips need (tests/test_roundtrip.py) --------------------

OTHER_CASES = [
    # the rank of a tensor whose rank is not known (a Dense output of the model input) is the number of
    # axes of its permute (dcgan_generator)
    ("permute-gives-rank", """
        self.fc = nn.Linear(5, 2 * 2 * 3)
        self.up = nn.ConvTranspose2d(3, 2, 2, stride=2)
    """, """
        x = self.fc(x)
        x = x.unflatten(1, (2, 2, 3))
        x = x.permute(0, 3, 1, 2)
        return self.up(x)
    """, [(2, 5)], ["keras.ops.transpose(x, (0, 3, 1, 2))"]),
    # keys of an nn.ModuleDict read as attributes (transformer_encoder's attention projections)
    ("moduledict-attribute", """
        self.proj = nn.ModuleDict({"query": nn.Linear(6, 4), "value": nn.Linear(6, 4)})
        self.convs = nn.ModuleDict({"a": nn.Conv2d(3, 2, 3, padding=1), "b": nn.Conv2d(3, 2, 1)})
    """, """
        y = self.convs.a(x) + self.convs.b(x)
        v = y.flatten(2).transpose(1, 2)[:, :, :1].expand(-1, -1, 6)
        return self.proj.query(v) * torch.sigmoid(self.proj.value(v))
    """, [IMG], ['self.proj["query"](', 'self.convs["a"](x)']),
]


def _other_params():
    return [pytest.param(init, fwd, shapes, snippets, layout, id=f"{cid}-{layout}")
            for cid, init, fwd, shapes, snippets in OTHER_CASES for layout in LAYOUTS]


@pytest.mark.parametrize("init, forward, shapes, snippets, layout", _other_params())
def test_round_trip_forms(init, forward, shapes, snippets, layout):
    _translates_and_matches(init, forward, shapes, snippets, layout)


# nn.Parameter -> self.add_weight (translator/backends/keras_params.py; custom_weights)
PARAM_CASES = [
    ("parameter-matmul", """
        self.w = nn.Parameter(nn.init.xavier_uniform_(torch.empty((6, 4))))
        self.b = nn.Parameter(torch.zeros(4))
        self.v = nn.Parameter(torch.randn(6, 4), requires_grad=False)
    """, """
        return torch.matmul(x, self.w) + self.b + torch.sigmoid(x @ self.v)
    """, [(2, 5, 6)], ['self.add_weight(shape=(6, 4), initializer="glorot_uniform", name="w")',
                       'self.add_weight(shape=(4,), initializer="zeros", name="b")', "trainable=False"]),
    # a (1, C, 1, 1) scale on an image: the weight is kept in torch order and moved to channels-last in call
    ("parameter-image-scale", """
        self.gamma = nn.Parameter(nn.init.normal_(torch.empty(1, 2, 1, 1), std=0.5))
        self.beta = nn.Parameter(torch.randn(2, 1, 1))
        self.conv = nn.Conv2d(3, 2, 3)
        self.pool = nn.MaxPool2d(2)
    """, """
        return self.pool(self.conv(x) * self.gamma + self.beta)
    """, [IMG], ["initializers.RandomNormal(mean=0.0, stddev=0.5)"]),
]


@pytest.mark.parametrize("init, forward, shapes, snippets, layout",
                         [pytest.param(i, f, s, sn, lay, id=f"{c}-{lay}")
                          for c, i, f, s, sn in PARAM_CASES for lay in LAYOUTS])
def test_parameters(init, forward, shapes, snippets, layout):
    test_round_trip_forms(init, forward, shapes, snippets, layout)


def test_parameter_in_a_nested_class():
    src = model_source("self.gate = Gate(6)", "return self.gate(x)").replace("class Net", '''class Gate(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * torch.sigmoid(self.scale)


class Net''')
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(src, to="keras")
    assert 'self.scale = self.add_weight(shape=(n,), initializer="ones", name="scale")' in result.code, result.code
    comparison = compare_torch_source(src, "Net()", _np_inputs([(2, 6)]), "Net", result=result)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs}\n{result.code}"


@pytest.mark.parametrize("init", [
    "self.w = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(4, 4)))",     # no Keras twin distribution
    "self.w = nn.Parameter(torch.empty(4, 4))",                                # uninitialised memory
    "self.w = nn.Parameter(torch.tensor([1.0, 2.0]))",                         # not a fill
])
def test_parameters_that_are_reported(init):
    result = translate_source(model_source(init, "return x * self.w"), to="keras")
    codes = [f.code for f in result.findings if f.severity == "error"]
    assert "FWT201" in codes, (codes, result.code)


def test_a_list_never_changed_keeps_each_item():
    """`pair = [a, b]` never appended to: unpacked and concatenated with the facts of each item."""
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.c1 = nn.Conv2d(3, 2, 1)\nself.c2 = nn.Conv2d(3, 4, 3, padding=1)", """
        pair = [self.c1(x), self.c2(x)]
        a, b = pair
        for t in reversed(pair):
            a = a + t[:, :2]
        return torch.cat(pair, 1) * 0.5, a + b[:, 1:3]
    """)
    for layout in LAYOUTS:
        result = translate_source(src, to="keras", layout=layout)
        assert not [f for f in result.findings if f.severity == "error"], result.code
        comparison = compare_torch_source(src, "Net()", _np_inputs([IMG]), "Net", layout=layout, result=result)
        assert comparison.ok(ATOL), f"max abs error {comparison.max_abs}\n{result.code}"
