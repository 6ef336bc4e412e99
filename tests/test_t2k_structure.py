"""PyTorch -> Keras: the structure of module classes -- lists and dicts of modules, modules built in
loops and methods, other methods of a class (issue 4, scope item 1).

Every model here is translated, built in both frameworks, gets the torch weights ported, and its
outputs are compared (max |torch - keras| <= 1e-5 * max(1, max |torch|)), in both layouts where the
model takes images.
"""
from __future__ import annotations

import os
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from test_torch_to_keras import ATOL, HEADER, _np_inputs
from translator import translate_source
from translator.findings import ERROR

LAYOUTS = ("native", "keep")
IMG = (2, 3, 8, 8)


def _src(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def _compare(src, entry, shapes, layout="native", expect=(), codes=()):
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(src, to="keras", layout=layout)
    assert [f.code for f in result.findings] == list(codes), [f.format() for f in result.findings] + [result.code]
    for snippet in expect:
        assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, entry, _np_inputs(shapes), entry.split("(")[0], layout=layout,
                                      result=result)
    assert comparison.ok(ATOL), f"{comparison.max_abs} for scale {comparison.scale}\n{result.code}"
    return result


# ---- nn.ModuleList / nn.ModuleDict ------------------------------------------------------------------

MODULE_LIST_LITERAL = _src("""\
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1)])
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x.mean((2, 3)))
    """)

MODULE_LIST_COMPREHENSION = _src("""\
    class Net(nn.Module):
        def __init__(self, width=6, n_layers=3):
            super().__init__()
            self.inp = nn.Linear(4, width)
            self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(n_layers)])
            self.out = nn.Linear(width, 2)

        def forward(self, x):
            x = self.inp(x)
            for i, layer in enumerate(self.layers):
                x = F.relu(layer(x)) + x * 0.5
            return self.out(x)
    """)

MODULE_LIST_APPEND_ZIP = _src("""\
    class Net(nn.Module):
        def __init__(self, in_channels=3, width=4, depth=2):
            super().__init__()
            self.convs = nn.ModuleList()
            self.norms = nn.ModuleList()
            for i in range(depth):
                self.convs.append(nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1, bias=False))
                self.norms.append(nn.BatchNorm2d(width))

        def forward(self, x):
            for conv, bn in zip(self.convs, self.norms):
                x = F.relu(bn(conv(x)))
            return x
    """)

MODULE_LIST_INDEX = _src("""\
    class Net(nn.Module):
        def __init__(self, n=3):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(5, 5) for _ in range(n)])
            self.first = nn.ModuleList([nn.Linear(4, 5), nn.Tanh()])

        def forward(self, x):
            x = self.first[1](self.first[0](x))
            for i in range(len(self.layers)):
                x = self.layers[i](x) - x
            return x
    """)

MODULE_DICT = _src("""\
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({"a": nn.Linear(4, 4), "b": nn.Linear(4, 4)})
            self.heads = nn.ModuleDict({
                "score": nn.Linear(4, 1),
                "logits": nn.Linear(4, 3),
            })

        def forward(self, x):
            for name, m in self.blocks.items():
                x = x + torch.tanh(m(x))
            for m in self.blocks.values():
                x = m(x)
            return self.heads["score"](x), self.heads["logits"](x)
    """)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_module_list_literal_loop(layout):
    _compare(MODULE_LIST_LITERAL, "Net()", [IMG], layout,
             expect=["self.layers_ = [layers.Conv2D(4, 3, padding=\"same\"), layers.ReLU(), keras.Sequential(",
                     "for layer in self.layers_:\n            x = layer(x)"])


def test_module_list_comprehension_enumerate():
    _compare(MODULE_LIST_COMPREHENSION, "Net(n_layers=4)", [(3, 4)],
             expect=["self.layers_ = [layers.Dense(width) for _ in range(n_layers)]",
                     "for i, layer in enumerate(self.layers_):"])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_module_list_append_in_a_loop_and_zip(layout):
    _compare(MODULE_LIST_APPEND_ZIP, "Net(depth=3)", [IMG], layout,
             expect=["self.convs = []", "self.convs.append(layers.Conv2D(width, 3, padding=\"same\", use_bias=False))",
                     "for conv, bn in zip(self.convs, self.norms):"])


def test_module_list_indexing():
    _compare(MODULE_LIST_INDEX, "Net()", [(2, 4)], expect=["self.first[1](self.first[0](x))", "self.layers_[i](x)"])


def test_module_dict_items_values_and_keys():
    _compare(MODULE_DICT, "Net()", [(2, 4)],
             expect=['self.blocks = {"a": layers.Dense(4), "b": layers.Dense(4)}', "for name, m in self.blocks.items():",
                     'self.heads["score"](x)'])


# ---- nn.Sequential(*layers), _make_layer, cfg loops ---------------------------------------------------

RESNET_MAKE_LAYER = _src("""\
    def conv3x3(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


    def conv1x1(in_planes, out_planes, stride=1):
        return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)


    class ResNet(nn.Module):
        def __init__(self, block=BasicBlock, layers=(2, 1), num_classes=5):
            super().__init__()
            self.inplanes = 8
            self.conv1 = nn.Conv2d(3, self.inplanes, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(self.inplanes)
            self.layer1 = self._make_layer(block, 8, layers[0])
            self.layer2 = self._make_layer(block, 16, layers[1], stride=2)
            self.fc = nn.Linear(16 * block.expansion, num_classes)

        def _make_layer(self, block, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    conv1x1(self.inplanes, planes * block.expansion, stride),
                    nn.BatchNorm2d(planes * block.expansion),
                )
            layers = []
            layers.append(block(self.inplanes, planes, stride, downsample))
            self.inplanes = planes * block.expansion
            for _ in range(1, blocks):
                layers.append(block(self.inplanes, planes))
            return nn.Sequential(*layers)

        def _forward_features(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer1(x)
            return self.layer2(x)

        def forward(self, x):
            x = self._forward_features(x)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.fc(x)
    """)

VGG_CFG = _src("""\
    cfgs = {"tiny": [4, "M", 8, 8, "M"]}


    class VGG(nn.Module):
        def __init__(self, cfg="tiny", batch_norm=True, num_classes=3):
            super().__init__()
            self.features = self._make_features(cfgs[cfg], batch_norm)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Linear(8, num_classes)

        def _make_features(self, cfg, batch_norm):
            layers = []
            in_channels = 3
            for v in cfg:
                if v == "M":
                    layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
                else:
                    conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                    if batch_norm:
                        layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                    else:
                        layers += [conv2d, nn.ReLU(inplace=True)]
                    in_channels = v
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.avgpool(self.features(x))
            x = torch.flatten(x, 1)
            return self.classifier(x)
    """)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_resnet_make_layer_method_and_forward_helper(layout):
    _compare(RESNET_MAKE_LAYER, "ResNet(layers=(2, 2))", [IMG], layout,
             expect=["return keras.Sequential(layers)", "downsample = keras.Sequential([",
                     "layers.append(block(self.inplanes, planes, stride, downsample))",
                     "x = self._forward_features(x)", "def _forward_features(self, x):"])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("entry", ["VGG()", "VGG(batch_norm=False)"])
def test_vgg_cfg_loop_in_a_method(entry, layout):
    _compare(VGG_CFG, entry, [IMG], layout,
             expect=["conv2d = keras.layers.Conv2D(v, 3, padding=\"same\")", "return keras.Sequential(layers)"])


def test_public_names_and_constructor_arguments_stay():
    result = translate_source(MODULE_LIST_COMPREHENSION, to="keras")
    assert "def __init__(self, width=6, n_layers=3):" in result.code
    assert "class Net(keras.Model):" in result.code


# ---- other methods of a module class ---------------------------------------------------------------

METHODS = _src("""\
    class Net(nn.Module):
        def __init__(self, hidden=6, num_layers=2):
            super().__init__()
            self.hidden = hidden
            self.num_layers = num_layers
            self.fc = nn.Linear(4, hidden)
            self.out = nn.Linear(hidden, 4)
            self.apply(self._init_weights)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

        def _init_weights(self, m):
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)

        def init_hidden(self, batch_size):
            return (torch.zeros(self.num_layers, batch_size, self.hidden),
                    torch.zeros(self.num_layers, batch_size, self.hidden))

        def generate(self, x, steps=3):
            outs = []
            for _ in range(steps):
                x = self.forward(x)
                outs.append(x)
            return outs

        def forward(self, x):
            return self.out(torch.tanh(self.fc(x)))
    """)


def _both(src, result, entry):
    from translator.verify.compare import exec_source
    from translator.verify.port_torch import port_weights_to_keras, randomize_torch
    tnet = eval(entry, exec_source(src, "t"))
    randomize_torch(tnet)
    tnet.eval()
    knet = eval(entry, exec_source(result.code, "k"))
    return tnet, knet, port_weights_to_keras


def test_weight_init_init_hidden_and_generate():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    result = _compare(METHODS, "Net()", [(3, 4)], codes=["FWT402", "FWT402", "FWT402"],
                      expect=["return (keras.ops.zeros((self.num_layers, batch_size, self.hidden)),",
                              "def generate(self, x, steps=3):", "x = self(x)",
                              "# fwtranslate FWT402: weight initialisation"])
    code_lines = "\n".join(line for line in result.code.splitlines() if not line.strip().startswith("#"))
    assert "nn.init" not in code_lines and "_init_weights" not in code_lines and "self.apply" not in code_lines
    messages = " ".join(f.message for f in result.findings)
    assert "ported weights replace both" in messages and "self.apply(self._init_weights)" in messages
    tnet, knet, port = _both(METHODS, result, "Net()")
    x = _np_inputs([(3, 4)])[0]
    knet(x)
    port(tnet, knet, result.model("Net"))
    h, c = knet.init_hidden(5)
    assert tuple(h.shape) == tuple(tnet.init_hidden(5)[0].shape) == (2, 5, 6) and float(np.abs(np.asarray(c)).max()) == 0
    with torch.no_grad():
        t_outs = tnet.generate(torch.from_numpy(x), steps=3)
    k_outs = knet.generate(x, steps=3)
    assert len(k_outs) == len(t_outs) == 3
    for t, k in zip(t_outs, k_outs):
        assert np.abs(np.asarray(k) - t.numpy()).max() <= ATOL * max(1.0, float(np.abs(t.numpy()).max()))


def test_a_method_that_does_not_translate_is_flagged_alone():
    src = _src("""\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def sample(self, x):
                return torch.multinomial(F.softmax(self.fc(x), -1), 1)

            def forward(self, x):
                return self.fc(x)
        """)
    result = translate_source(src, to="keras")
    assert [(f.code, f.severity) for f in result.findings] == [("FWT102", ERROR)], [f.format() for f in result.findings]
    assert "Net.sample" in result.findings[0].message
    assert "class Net(keras.Model):" in result.code and "self.fc = layers.Dense(3)" in result.code
    assert "# fwtranslate FWT102:" in result.code and "torch.multinomial(" in result.code
    assert "import torch\n" in result.code             # still used by the method left as it was


# ---- what is reported instead of guessed -------------------------------------------------------------

@pytest.mark.parametrize("init, forward, code", [
    pytest.param("self.layers = nn.ModuleList([nn.Conv2d(3, 4, 3), nn.Flatten()])",
                 "for layer in self.layers:\n    x = layer(x)\nreturn x", "FWT202", id="elements-of-different-kinds"),
    pytest.param("self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])",
                 "for layer in self.layers:\n    x = x.view(-1, 2, 2)\nreturn x", "FWT202", id="loop-changes-rank"),
    pytest.param("layers = []\nfor i in range(3):\n    layers.append(nn.Conv2d(3, 3, 3))\nself.f = nn.Sequential(*layers)\n"
                 "self.fc = nn.Linear(3 * 2 * 2, 2)", "return self.fc(torch.flatten(self.f(x), 1))", "FWT302",
                 id="flatten-after-a-loop-of-convolutions"),
    pytest.param("self.layers = nn.ModuleList()\nself.layers.insert(0, nn.Linear(4, 4))",
                 "return self.layers[0](x)", "FWT103", id="list-method-not-translated"),
    pytest.param("self.f = nn.Sequential(*self.make())", "return self.f(x)", "FWT103", id="sequential-of-unknown"),
    pytest.param("self.f = nn.Sequential(nn.Linear(4, 4), nn.ReLU())", "for m in self.f:\n    x = m(x)\nreturn x",
                 "FWT103", id="loop-over-a-sequential"),
    pytest.param("self.f = nn.Sequential(nn.Linear(4, 4), nn.ReLU())", "return self.f[0](x)", "FWT103",
                 id="index-into-a-sequential"),
    pytest.param("self.f = nn.Linear(4, 4)\nfor p in self.parameters():\n    p.requires_grad = False",
                 "return self.f(x)", "FWT102", id="module-api-in-init"),
])

def test_unsupported_forms_are_reported(init, forward, code):
    from test_torch_to_keras import model_source
    src = model_source(init, forward)
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert f"# fwtranslate {code}:" in result.code and "class Net(nn.Module):" in result.code


def test_a_method_using_the_module_api_is_flagged_alone():
    src = _src("""\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def freeze(self):
                for p in self.parameters():
                    p.requires_grad = False

            def forward(self, x):
                return self.fc(x)
        """)
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == ["FWT102"], [f.format() for f in result.findings]
    assert "Net.freeze" in result.findings[0].message and "self.parameters() has no Keras equivalent" in \
        result.findings[0].message
    assert "class Net(keras.Model):" in result.code


VGG_HELPER = _src("""\
    def make_layers(cfg, batch_norm=False):
        layers = []
        in_channels = 3
        for v in cfg:
            if v == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
                if batch_norm:
                    layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                else:
                    layers += [conv2d, nn.ReLU(inplace=True)]
                in_channels = v
        return nn.Sequential(*layers)


    class VGG(nn.Module):
        def __init__(self, cfg=(4, "M", 8, "M"), batch_norm=True, num_classes=3):
            super().__init__()
            self.features = make_layers(cfg, batch_norm=batch_norm)
            self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(8, num_classes))

        def forward(self, x):
            x = self.features(x)
            x = x.mean((2, 3))
            return self.classifier(x)
    """)


def test_a_module_passed_to_the_model_constructor_is_reported():
    src = VGG_HELPER.replace("def __init__(self, cfg=(4, \"M\", 8, \"M\"), batch_norm=True, num_classes=3):",
                             "def __init__(self, features, num_classes=3):").replace(
        "self.features = make_layers(cfg, batch_norm=batch_norm)", "self.features = features")
    assert "self.features = features" in src
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == ["FWT202"], [f.format() for f in result.findings]
    assert "passed to the model's constructor" in result.findings[0].message


@pytest.mark.parametrize("layout", LAYOUTS)
def test_vgg_make_layers_helper_function(layout):
    _compare(VGG_HELPER, "VGG()", [IMG], layout,
             expect=["def make_layers(cfg, batch_norm=False):", "return keras.Sequential(layers)",
                     "conv2d = keras.layers.Conv2D(v, 3, padding=\"same\")"])


SUPER_RESOLUTION = """\
import torch
import torch.nn as nn
import torch.nn.init as init


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()

        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))

        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.conv3(x)

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight)
"""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_constructor_expression_stays_and_init_method_is_removed(layout):
    result = _compare(SUPER_RESOLUTION, "Net(upscale_factor=3)", [(2, 1, 8, 8)], layout, codes=["FWT402", "FWT402"],
                      expect=["def __init__(self, upscale_factor):", "layers.Conv2D(upscale_factor ** 2, 3, padding=\"same\")",
                              "# fwtranslate FWT402: weight initialisation (self._initialize_weights()) removed"])
    assert "def _initialize_weights" not in result.code and "init.orthogonal_" not in result.code
    assert result.code.rstrip().endswith("removed: the Keras layers initialise with their own defaults (ported "
                                         "weights replace both)")


MODULE_LIST_OF_A_LIST = _src("""\
    class Net(nn.Module):
        def __init__(self, sizes=(4, 6, 3)):
            super().__init__()
            layers = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers.append(nn.Linear(a, b))
            self.layers = nn.ModuleList(layers)
            layers.append(nn.Linear(3, 3))         # not in the ModuleList: it copied the list

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < len(self.layers) - 1:
                    x = F.relu(x)
            return x
    """)


def test_module_list_copies_the_list_it_is_given():
    _compare(MODULE_LIST_OF_A_LIST, "Net()", [(2, 4)], expect=["self.layers_ = list(layers)"])


BLOCKS_WITH_TWO_INPUTS = _src("""\
    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, d)
            self.gate = nn.Linear(d, d)

        def forward(self, x, context):
            return x + self.fc(x) * torch.sigmoid(self.gate(context))


    class Net(nn.Module):
        def __init__(self, d=6, depth=3):
            super().__init__()
            self.blocks = nn.ModuleList([Block(d) for _ in range(depth)])
            self.out = nn.Linear(d, 2)

        def forward(self, x, context):
            x = self.blocks[0](x, context)
            for blk in self.blocks[1:]:
                x = blk(x, context)
            return self.out(x)
    """)


def test_blocks_with_two_inputs_and_a_slice_of_the_list():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(BLOCKS_WITH_TWO_INPUTS, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "for blk in self.blocks[1:]:\n            x = blk(x, context)" in result.code
    comparison = compare_torch_source(BLOCKS_WITH_TWO_INPUTS, "Net()", _np_inputs([(2, 6), (2, 6)]), "Net",
                                      result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_mapping_names_the_elements_whose_index_is_known():
    result = translate_source(MODULE_LIST_INDEX, to="keras")
    paths = {(m.torch_path, m.keras_name) for m in result.model("Net").layers}
    assert {("first.0", "first.0")} <= paths, paths


MODULES_FROM_LOCALS_AND_METHODS = _src("""\
    class Net(nn.Module):
        def __init__(self, channels=4, num_classes=3):
            super().__init__()
            conv = nn.Conv2d(3, channels, 3, stride=2, padding=1)
            self.conv = conv
            self.head = self._make_head(channels, num_classes)
            self.aux = self._make_head(channels, num_classes)

        def _make_head(self, channels, num_classes):
            return nn.Linear(channels, num_classes)

        def forward(self, x):
            x = F.relu(self.conv(x)).mean((2, 3))
            return self.head(x) + 0.5 * self.aux(x)
    """)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_modules_built_in_a_local_or_returned_by_a_method(layout):
    _compare(MODULES_FROM_LOCALS_AND_METHODS, "Net()", [IMG], layout,
             expect=["conv = keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(channels, 3, strides=2)])",
                     "self.conv = conv", "return layers.Dense(num_classes)"])
