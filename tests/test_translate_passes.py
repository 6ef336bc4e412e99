"""A forward pass that will be repeated with other input layouts stops early (backends/torch_passes.py):
the translation must be exactly the one made by running every pass in full."""
from __future__ import annotations

import pytest

from translator import keras_to_torch
from translator.api import translate_source
from translator.backends import torch_passes

CNN = '''import keras
from keras import layers


def build_cnn():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.ReLU()(x)
    x = layers.Conv2D(4, 3)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
'''

SEQUENTIAL = '''import keras
from keras import layers

model = keras.Sequential([
    keras.Input((8, 8, 3)),
    layers.Conv2D(4, 3),
    layers.GlobalAveragePooling2D(),
    layers.Dense(2),
])
'''

TWO_INPUTS = '''import keras
from keras import layers


def build_pair():
    a = keras.Input((8, 8, 3))
    b = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 1)(a)
    y = layers.Add()([x, layers.Conv2D(4, 1)(b)])
    return keras.Model([a, b], layers.Flatten()(y))
'''

ONE_CONVERTED = '''import keras
from keras import layers


def build_mixed():
    image = keras.Input((8, 8, 3))
    extra = keras.Input((5,))
    x = layers.Conv2D(4, 3)(image)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Concatenate()([x, extra])
    return keras.Model([image, extra], layers.Dense(2)(x))
'''

FAILS_AFTER_THE_CONV = '''import keras
from keras import layers


def build_broken():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3)(inputs)
    x = layers.NoSuchLayer(3)(x)
    return keras.Model(inputs, x)
'''

CASES = {"cnn": CNN, "sequential": SEQUENTIAL, "two_inputs": TWO_INPUTS, "one_converted": ONE_CONVERTED,
         "fails_after_the_conv": FAILS_AFTER_THE_CONV}


def _facts(result) -> tuple:
    return (result.code, [f.format() for f in result.findings], [m.to_dict() for m in result.models],
            result.sites, result.failed_sites)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stopping_early_translates_as_every_pass_in_full(name, monkeypatch):
    stops = []
    real = keras_to_torch.stop_when_repeated

    def watched(*args):
        check = real(*args)

        def recording(ft):
            try:
                check(ft)
            except torch_passes.RepeatedPass:
                stops.append(name)
                raise
        return recording
    monkeypatch.setattr(keras_to_torch, "stop_when_repeated", watched)
    fast = translate_source(CASES[name])
    monkeypatch.setattr(keras_to_torch, "stop_when_repeated", lambda *args: (lambda ft: None))
    full = translate_source(CASES[name])
    assert _facts(fast) == _facts(full)
    if name in ("cnn", "sequential", "fails_after_the_conv"):
        assert stops, "the channels-last pass of a CNN is known to be repeated at its first conv"
    if name == "fails_after_the_conv":
        assert [f.code for f in fast.findings] == ["FWT101"]
