"""Keras -> torch: subclassed models whose call() takes several inputs in one argument.

    def call(self, inputs):   x, y = inputs   /   inputs[0], inputs[1]

forward keeps the one argument (`model([x, y])`, as Keras users call it), each element with the shape
given for it (--input-shape with several shapes, or `model.build([...])` in the file); image elements
are channels-first in torch with a permutation recorded per element (ModelInfo.packed). Each case is
checked numerically in both layouts (tests/test_layers_numeric.py's `check`: Keras model with random
weights, translated, weights ported, outputs compared).
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img, vec  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")


def _model(call_body: str, init_body: str, arg: str = "inputs", tail: str = "") -> str:
    init = "\n".join(f"        {ln}" for ln in init_body.strip().splitlines())
    call = "\n".join(f"        {ln}" for ln in call_body.strip().splitlines())
    return (f"import keras\nfrom keras import layers\n\n\nclass Net(keras.Model):\n"
            f"    def __init__(self):\n        super().__init__()\n{init}\n\n"
            f"    def call(self, {arg}):\n{call}\n{tail}")


UNPACK_VECTORS = _model("""
x, y = inputs
a = self.da(x)
b = self.db(y)
return layers.concatenate([a, b])
""", """
self.da = layers.Dense(4)
self.db = layers.Dense(3, activation="relu")
""")


def test_tuple_unpacking_two_vectors():
    """`x, y = inputs` of two vectors of different sizes: forward unpacks the same list."""
    result = translate_source(UNPACK_VECTORS, input_shape=[(5,), (6,)])
    assert "def forward(self, inputs):" in result.code and "x, y = inputs" in result.code, result.code
    info = result.model("Net")
    assert info.packed and [t.keras_shape for t in info.inputs] == [(None, 5), (None, 6)]
    check(UNPACK_VECTORS, [vec(5), vec(6, seed=1)], entry="Net()", input_shape=[(5,), (6,)])


INDEX_IMAGES = _model("""
a = self.ca(inputs[0])
b = self.cb(inputs[1])
return a + b
""", """
self.ca = layers.Conv2D(4, 3, padding="same")
self.cb = layers.Conv2D(4, 1)
""")


def test_indexing_two_images():
    """`inputs[0]`, `inputs[1]` read by convolutions: each element is channels-first in torch (no permute
    in forward), with its own permutation in the interface."""
    result = translate_source(INDEX_IMAGES, input_shape=[(6, 6, 3), (6, 6, 2)])
    assert "permute" not in result.code, result.code
    info = result.model("Net")
    assert info.packed and [t.permute for t in info.inputs] == [(0, 3, 1, 2)] * 2
    keep = translate_source(INDEX_IMAGES, input_shape=[(6, 6, 3), (6, 6, 2)], layout="keep").model("Net")
    assert [t.permute for t in keep.inputs] == [None, None]
    check(INDEX_IMAGES, [img(6, 6, 3), img(6, 6, 2, seed=1)], entry="Net()",
          input_shape=[(6, 6, 3), (6, 6, 2)])


SIZES = _model("""
x = inputs[0]
y = inputs[1]
x = self.down(x)
h = layers.concatenate([x, y])
return self.head(h)
""", """
self.down = layers.Conv2D(4, 3, strides=2, padding="same")
self.head = layers.Conv2D(5, 1, activation="tanh")
""")


def test_two_images_of_different_sizes():
    """A 8x8x3 image downsampled to 4x4 and joined (channels) with a 4x4x2 image."""
    result = translate_source(SIZES, input_shape=[(8, 8, 3), (4, 4, 2)])
    assert "torch.cat([x, y], dim=1)" in result.code, result.code
    check(SIZES, [img(8, 8, 3), img(4, 4, 2, seed=1)], entry="Net()", input_shape=[(8, 8, 3), (4, 4, 2)])


IMAGE_VECTOR = _model("""
image, features = inputs
h = self.flat(self.conv(image))
return self.out(layers.concatenate([h, self.proj(features)]))
""", """
self.conv = layers.Conv2D(3, 3)
self.flat = layers.Flatten()
self.proj = layers.Dense(4)
self.out = layers.Dense(2)
""")


def test_image_plus_vector():
    """An image (conv, flatten: the next Dense's columns permuted at porting) and a vector; only the image
    element is permuted at the interface."""
    result = translate_source(IMAGE_VECTOR, input_shape=[(5, 5, 2), (7,)])
    info = result.model("Net")
    assert [t.permute for t in info.inputs] == [(0, 3, 1, 2), None], info.to_dict()
    check(IMAGE_VECTOR, [img(5, 5, 2), vec(7, seed=1)], entry="Net()", input_shape=[(5, 5, 2), (7,)])


BUILT = _model("""
x, y = inputs
return self.conv(x) * self.gate(y)
""", """
self.conv = layers.Conv1D(4, 3, padding="same")
self.gate = layers.Dense(4, activation="sigmoid")
""", tail="""

model = Net()
model.build([(None, 6, 3), (None, 1, 2)])
""")


def test_shapes_from_build_in_the_file():
    """`model.build([(None, 6, 3), (None, 1, 2)])`: the shapes come from the file; a sequence and a
    broadcast gate."""
    from test_layers_numeric import seq
    result = translate_source(BUILT)
    assert not [f for f in result.findings if f.severity == "error"], [f.format() for f in result.findings]
    check(BUILT, [seq(6, 3), seq(1, 2, seed=1)], entry="Net()")


def test_unknown_shapes_stay_a_finding():
    """No shapes for the elements: FWT302 naming the cure, the model left as it was."""
    result = translate_source(UNPACK_VECTORS)
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["FWT302"] and "one shape per input" in errors[0].message, \
        [f.format() for f in result.findings]
    assert "def call(self, inputs):" in result.code
    one = translate_source(INDEX_IMAGES, input_shape=(6, 6, 3))      # one shape for two inputs
    assert [f.code for f in one.findings if f.severity == "error"] == ["FWT302"], \
        [f.format() for f in one.findings]


def test_dict_of_inputs_is_a_finding():
    src = _model("""
return self.da(inputs["a"]) + self.db(inputs["b"])
""", """
self.da = layers.Dense(4)
self.db = layers.Dense(4)
""")
    result = translate_source(src, input_shape=[(3,), (5,)])
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["FWT302"], [f.format() for f in result.findings]
    result = translate_source(src)
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["FWT302"] and "dict" in errors[0].message, \
        [f.format() for f in result.findings]


def test_wrong_unpack_count_is_a_finding():
    result = translate_source(UNPACK_VECTORS, input_shape=[(5,), (6,), (2,)])
    assert [f.code for f in result.findings if f.severity == "error"] == ["FWT201"], \
        [f.format() for f in result.findings]


CALLED_ON_INPUTS = _model("""
h = self.cat(inputs)
return self.head(h)
""", """
self.cat = layers.Concatenate()
self.head = layers.Dense(3)
""", tail="""

model = Net()
out = model([keras.Input((4,)), keras.Input(shape=(2,))])
""")


def test_merge_on_the_list_and_shapes_from_keras_inputs():
    """`Concatenate()(inputs)` on the whole list (its items passed one by one); the shapes come from the
    model's call on keras.Input placeholders in the file, a call that goes in torch (FWT105)."""
    result = translate_source(CALLED_ON_INPUTS)
    assert "torch.cat([inputs[0], inputs[1]], dim=-1)" in result.code, result.code
    assert [f.code for f in result.findings] == ["FWT105"], [f.format() for f in result.findings]
    check(CALLED_ON_INPUTS, [vec(4), vec(2, seed=1)], entry="Net()")


def test_merge_on_an_unknown_list_is_a_finding():
    """A merge layer called on a name whose items are not known: FWT302 (never `torch.cat([inputs])`)."""
    src = CALLED_ON_INPUTS.split("\n\nmodel = Net()")[0] + "\n"
    result = translate_source(src)
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == ["FWT302"] and "Concatenate called on 'inputs'" in errors[0].message, \
        [f.format() for f in result.findings]


NESTED = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(3, 3, padding="same")

    def call(self, x):
        return self.conv(x)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.mix = layers.Conv2D(2, 1)

    def call(self, inputs):
        x, y = inputs
        h = layers.add([self.block(x), y])
        return self.mix(h)
'''


def test_nested_layer_class_takes_one_input():
    """The model's two shapes are the packed list of Net; Block (a layer of Net, one tensor) is not packed."""
    result = translate_source(NESTED, input_shape=[(5, 5, 3), (5, 5, 3)])
    assert [m.packed for m in result.models] == [False, True], [m.to_dict() for m in result.models]
    check(NESTED, [img(5, 5, 3), img(5, 5, 3, seed=1)], entry="Net()", model_name="Net",
          input_shape=[(5, 5, 3), (5, 5, 3)])


def test_verify_pipeline_takes_the_list(tmp_path):
    """`fwtranslate verify` (in process, without ONNX and timing): the translated model is called with the
    list its forward takes."""
    from translator.verify.run import Options, verify
    path = tmp_path / "net.py"
    path.write_text(INDEX_IMAGES)
    report = verify(Options(file=str(path), entry="Net()", inputs=["2,6,6,3", "2,6,6,2"], onnx=False,
                            timing=False, isolate=False))
    assert report["errors"] == [] and report["checks"] and all(c["passed"] for c in report["checks"]), report
