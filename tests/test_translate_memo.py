"""Keras -> torch: the memos that keep list-built models fast (issue 6) change no output.

- a list of layers called twice in one forward pass is run once (frontends/keras_seq_lists.py, "a
  repeated call");
- a layer class's outputs-only translation is shared by the passes of one translate_source, and the
  translation class_plans makes of a class with its channels as a parameter is the next pass's
  (translator/outputs_memo.py).

Each source is translated with the memos and with them switched off: the code and the findings must be
the same, and the memos must have been used (else the comparison proves nothing). The twice-called list
is also checked numerically (Keras with random weights vs. its translation with the weights ported).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from translator import translate_source
from translator import keras_to_torch, outputs_memo
from translator.frontends import keras_seq_lists

ROOT = Path(__file__).resolve().parents[1]

TWICE = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self, filters, residual=True, **kwargs):
        super().__init__(**kwargs)
        self.residual = residual
        body = [layers.Conv2D(filters, 1, use_bias=False)]
        body.append(layers.BatchNormalization())
        body.append(layers.ReLU(6.0))
        body.append(layers.DepthwiseConv2D(3, padding="same"))
        self.body = keras.Sequential(body)

    def call(self, x):
        if self.residual:
            return x + self.body(x)
        return self.body(x)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.stem = layers.Conv2D(4, 3, padding="same")
        self.a = Block(4)
        self.b = Block(4, residual=False)
        self.head = layers.Dense(3)

    def call(self, x):
        x = self.b(self.a(self.stem(x)))
        return self.head(keras.ops.mean(x, axis=(1, 2)))
'''

# the same list on two shapes: a finding, with and without the memo
TWO_SHAPES = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = [layers.Conv2D(4, 1)]
        body.append(layers.ReLU())
        self.body = keras.Sequential(body)
        self.widen = layers.Conv2D(5, 1)

    def call(self, x):
        y = self.body(x)
        return self.body(self.widen(x)), y
'''

# a list holding a layer class of the file: its runs are not reused (custom() records each call)
CUSTOM_ITEMS = '''
import keras
from keras import layers


class Unit(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, 3, padding="same")

    def call(self, x):
        return self.conv(x)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = [Unit(3)]
        body.append(layers.ReLU())
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x) + self.body(x)
'''

FILES = ["fixtures/keras_to_torch/mobilenet_v2_keras.keras.py", "fixtures/keras_to_torch/unet_keras.keras.py",
         "tests/sources/custom_layers.py", "fixtures/keras_to_torch/transformer_encoder.keras.py"]


def _outputs(src: str, layout: str, input_shape=None):
    r = translate_source(src, to="torch", layout=layout, input_shape=input_shape)
    return r.code, [f.format() for f in r.findings], r.to_json()


def _both(src: str, layout: str, monkeypatch, input_shape=None):
    """(with the memos, without them, run memo hits, shared-outputs hits)."""
    hits = {"runs": 0, "shared": 0, "class": 0}
    same, take = keras_seq_lists._same_value, outputs_memo.take_translation
    custom_outputs = keras_to_torch.KerasToTorch.custom_outputs

    def counted_take(*args):
        done = take(*args)
        hits["class"] += done is not None
        return done

    def counted_same(a, b):
        found = same(a, b)
        if found and type(a) is tuple and len(a) == 5 and type(a[4]) is dict:      # a whole run key
            hits["runs"] += 1
        return found

    def counted_outputs(self, name, *args):
        before = dict(self.shared_outputs)
        out = custom_outputs(self, name, *args)
        hits["shared"] += any(v[0] is out[0] for v in before.values())
        return out
    with monkeypatch.context() as m:
        m.setattr(keras_seq_lists, "_same_value", counted_same)
        m.setattr(keras_to_torch.KerasToTorch, "custom_outputs", counted_outputs)
        m.setattr(outputs_memo, "take_translation", counted_take)
        memo = _outputs(src, layout, input_shape)
    with monkeypatch.context() as m:
        m.setattr(keras_seq_lists, "_same_value", lambda a, b: False)
        m.setattr(outputs_memo, "shared_key", lambda *a: None)
        m.setattr(outputs_memo, "take_translation", lambda *a: None)
        plain = _outputs(src, layout, input_shape)
    return memo, plain, hits


@pytest.mark.parametrize("layout", ["native", "keep"])
@pytest.mark.parametrize("path", FILES)
def test_memos_change_nothing_on_model_files(path, layout, monkeypatch):
    memo, plain, hits = _both((ROOT / path).read_text(), layout, monkeypatch)
    assert memo == plain
    if "mobilenet" in path or "unet" in path:
        assert hits["shared"] > 0 and hits["class"] > 0
    if "mobilenet" in path:
        assert hits["runs"] > 0


@pytest.mark.parametrize("layout", ["native", "keep"])
@pytest.mark.parametrize("src, runs", [(TWICE, True), (TWO_SHAPES, False), (CUSTOM_ITEMS, False)],
                         ids=["twice", "two_shapes", "custom_items"])
def test_memos_change_nothing_on_repeated_calls(src, runs, layout, monkeypatch):
    memo, plain, hits = _both(src, layout, monkeypatch, input_shape=(8, 8, 3))
    assert memo == plain
    assert (hits["runs"] > 0) == runs
    if src is TWO_SHAPES:
        assert "FWT103" in "".join(memo[1]) and "different shapes" in "".join(memo[1])


def test_a_list_called_twice_numerically():
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from test_layers_numeric import check, img
    r = translate_source(TWICE, to="torch", input_shape=(8, 8, 3))
    assert not [f for f in r.findings if f.severity == "error"], [f.format() for f in r.findings]
    check(TWICE, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")
