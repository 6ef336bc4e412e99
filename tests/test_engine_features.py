"""Engine features across model forms: each case translates, ports weights and compares outputs.

Sources live in tests/sources/; every case runs Keras (or tf_keras) and torch and compares outputs
after porting weights, with the default layout and with --layout keep.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from translator import translate_source
from translator.verify.compare import compare_source, random_input, randomize_weights

SOURCES = Path(__file__).parent / "sources"

# (source file, entry expression, model name, input specs [(shape, dtype, low, high)])
CASES = {
    "sequential-dense": ("mixed_models.py", "seq", "seq", [((2, 20), "float32")]),
    "sequential-add-rnn": ("mixed_models.py", "model", "model", [((2, 12), "int64", 0, 100)]),
    "functional-merge-multi-output": ("mixed_models.py", "unet", "unet", [((2, 16, 16, 3), "float32")]),
    "subclassed-ops-control-flow": ("subclassed_ops.py", "model", "Net", [((2, 28, 28, 1), "float32")]),
    "legacy-shared-layer-two-inputs": ("legacy_siamese.py", "build_siamese()", "build_siamese",
                                       [((2, 10, 4), "float32"), ((2, 10, 4), "float32")]),
    "helper-functions-inlined": ("helper_functions.py", "build_resnet(width=4)", "build_resnet",
                                 [((2, 32, 32, 3), "float32")]),
    "legacy-backend-ops": ("legacy_backend_ops.py", "model", "Head", [((2, 12, 12, 3), "float32")]),
    "lambda-layers": ("lambda_layers.py", "model", "model", [((2, 8, 8, 3), "float32")]),
    "custom-layer-classes-build-weights": ("custom_layers.py", "model", "Net", [((2, 16, 16, 3), "float32")]),
    "nested-sequential-in-class": ("nested_sequential.py", "model", "FeedForward", [((2, 5, 8), "float32")]),
    "functional-shared-sequential-encoder": ("functional_nested_sequential.py", "build_two_tower()",
                                             "build_two_tower", [((2, 5), "float32"), ((2, 5), "float32")]),
    "layer-lists-module-list": ("layer_lists.py", "model", "Tower", [((2, 6, 5), "float32")]),
    "custom-layers-in-functional": ("custom_layers.py", "build_functional(units=3)", "build_functional",
                                    [((2, 10, 4), "float32")]),
}


def _inputs(specs):
    out = []
    for i, spec in enumerate(specs):
        shape, dtype = spec[0], spec[1]
        low, high = (spec[2], spec[3]) if len(spec) > 2 else (0, 10)
        out.append(random_input(shape, dtype, low, high, seed=i))
    return out


@pytest.mark.parametrize("layout", ["native", "keep"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_case_matches_numerically(case, layout):
    source, entry, name, specs = CASES[case]
    code = (SOURCES / source).read_text()
    comparison = compare_source(code, entry, _inputs(specs), model_name=name, layout=layout,
                                prepare=randomize_weights)
    assert comparison.ok(), (comparison.max_abs, comparison.scale, comparison.result.code)


def test_loop_keeps_shapes_and_flags_untranslated_methods():
    code = (SOURCES / "subclassed_loop.py").read_text()
    result = translate_source(code, input_shape=(7,))
    assert "nn.Linear(12, 5)" in result.code          # shape known after a shape-preserving loop
    codes = {f.code for f in result.findings}
    assert "FWT104" in codes and "FWT105" in codes    # decode() uses tf; get_config is Keras-only
    assert "# fwtranslate FWT104: decode() still uses tensorflow.argmax" in result.code
    compile(result.code, "out", "exec")


LAZY_SOURCE = """\
import keras


class Mlp(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.out = keras.layers.Dense(5)

    def call(self, x):
        return self.out(self.hidden(x))
"""


def test_subclassed_without_shape_falls_back_to_lazy_with_finding():
    result = translate_source(LAZY_SOURCE)
    assert "self.hidden = nn.LazyLinear(16)" in result.code
    assert "self.out = nn.Linear(16, 5)" in result.code   # the feature size is known after hidden
    assert [f.line for f in result.findings if f.code == "FWT301"] == [7]
    assert result.exit_code == 1


def test_input_shape_option_gives_concrete_sizes():
    result = translate_source(LAZY_SOURCE, input_shape=(12,))
    assert "self.hidden = nn.Linear(12, 16)" in result.code
    assert result.exit_code == 0


def test_inlined_helpers_are_removed_and_names_kept():
    result = translate_source((SOURCES / "helper_functions.py").read_text())
    assert "def conv_bn_relu" not in result.code and "def residual_block" not in result.code
    assert "def build_resnet(num_classes=10, width=8):\n    return Resnet(num_classes, width)" in result.code
    assert "keras" not in result.code


def test_build_call_is_commented_not_lost():
    result = translate_source((SOURCES / "subclassed_ops.py").read_text())
    assert "# model.build((None, 28, 28, 1))" in result.code
    assert any(f.code == "FWT105" for f in result.findings)


LAYER_PASSED_AROUND = """\
import keras


def apply_twice(layer, x):
    return layer(layer(x))


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(4, activation="relu")

    def call(self, x):
        return apply_twice(self.dense, x)
"""


def test_layer_used_other_than_by_calling_it_is_reported_not_mistranslated():
    result = translate_source(LAYER_PASSED_AROUND, input_shape=(4,))
    assert [f.code for f in result.findings if f.severity == "error"] == ["FWT103"]
    assert "# fwtranslate FWT103: layer 'self.dense' used other than by calling it" in result.code
    assert "class Net(keras.Model):" in result.code      # left as it was
    compile(result.code, "out", "exec")


CUSTOM_USER_FAILS = """\
import keras


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.scale = Scale()
        self.conv = keras.layers.ConvLSTM2D(4, 3)

    def call(self, x):
        return self.conv(self.scale(x))
"""


def test_layer_class_stays_keras_when_its_user_cannot_be_translated():
    result = translate_source(CUSTOM_USER_FAILS)
    assert "class Scale(keras.layers.Layer):" in result.code and "class Net(keras.Model):" in result.code
    codes = sorted(f.code for f in result.findings if f.severity == "error")
    assert codes == ["FWT101", "FWT103"], result.findings
    assert "Scale is kept in Keras: it works with Net, which could not be translated" in result.code


def test_a_variable_read_twice_in_one_statement_is_not_rebound_between_the_reads():
    code = """\
import keras
from keras import layers

inp = keras.Input(shape=(6, 6, 3))
out = layers.Flatten()(inp) * 1.0
both = layers.Concatenate()([layers.GlobalAveragePooling2D()(layers.Conv2D(4, 1)(inp)), layers.Dense(2)(layers.Flatten()(inp))])
model = keras.Model(inp, both)
"""
    result = translate_source(code)
    comparison = compare_source(code, "model", [random_input((2, 6, 6, 3))], prepare=randomize_weights)
    assert comparison.ok(), (comparison.max_abs, result.code)


def test_a_builder_parameter_named_like_the_forward_input_stays_the_input():
    # def main(x, y): forward's own `x` (its input, then its running variable) must not become self.x
    code = """\
import keras
from keras import layers


def main(x, y):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)])
    return model
"""
    result = translate_source(code)
    assert "self.x" not in result.code, result.code
    comparison = compare_source(code, "main(None, None)", [random_input((2, 4))], prepare=randomize_weights)
    assert comparison.ok(), (comparison.max_abs, result.code)
