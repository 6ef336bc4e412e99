"""Numerical tests for the tensor-op rules (rules/ops.yaml): keras.ops.*, tf.*, keras.activations.*
and the Keras 2 backend K.* used inside `call` (and, for keras.ops, in functional models).

Each case builds a Keras model whose `call` applies ops to the output of a Conv2D (channels-first in
the native torch layout, so every axis is remapped) and to other tensors, translates it with both
layouts, ports the weights and compares every output (tests/test_layers_numeric.check). K.* cases run
on tf_keras (Keras 3's keras.backend has no K.mean etc.).

Also here: ops that cannot be translated exactly are reported, and every op rule is checked against
the live signature of each path it names (parameter order, names, defaults).
"""
from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from test_layers_numeric import case, check, functional, img, seq

from translator.api import translate_source
from translator.rules import load_rules

TF = "import tensorflow as tf\nimport keras\nfrom keras import layers, ops, activations\n"
K2 = "import tf_keras as keras\nfrom tf_keras import layers\nfrom tf_keras import backend as K\n"
ENGINE_ACTIVATIONS = ("engine: the forward translator maps keras.ops/tf.nn/K/keras.activations calls whose "
                      "name is an activation string through the activation path before the op rules, "
                      "dropping their arguments (axis, alpha, approximate)")

pytestmark = pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")


def subclassed(body: str, outputs: str, shape=(5, 5, 3), head: str = TF, filters: int = 4,
               extra_init: str = "") -> str:
    """A subclassed model: `c` is a Conv2D output (NCHW in native torch), `x` the input."""
    body = textwrap.indent(textwrap.dedent(body).strip(), " " * 8)
    return (f"{head}\n\nclass Net(keras.Model):\n    def __init__(self):\n        super().__init__()\n"
            f"        self.conv = layers.Conv2D({filters}, 3, padding='same')\n{extra_init}"
            f"\n    def call(self, x):\n        c = self.conv(x)\n{body}\n        return {outputs}\n\n\n"
            f"model = Net()\nmodel.build((None, {', '.join(map(str, shape))}))\n")


def run_sub(body, outputs, x=None, **kw):
    code = subclassed(body, outputs, **kw)
    return check(code, [img(5, 5, 3) if x is None else x], model_name="Net")


def run_fn(body, outputs, shape=(5, 5, 3), x=None):
    code = functional(shape, "c = layers.Conv2D(4, 3, padding='same')(x)\n" + textwrap.dedent(body).strip(),
                      outputs=outputs, imports="import keras\nfrom keras import layers, ops")
    return check(code, [img(*shape) if x is None else x])


def run_k2(body, outputs, x=None, shape=(5, 5, 3), **kw):
    pytest.importorskip("tf_keras")
    code = subclassed(body, outputs, head=K2, shape=shape, **kw)
    return check(code, [img(*shape) if x is None else x], model_name="Net")


# ---- reductions ---------------------------------------------------------------------------------

REDUCE_TF = ["tf.reduce_mean", "tf.reduce_sum", "tf.reduce_max", "tf.reduce_min", "tf.math.reduce_std",
             "tf.math.reduce_variance", "tf.math.reduce_logsumexp", "tf.math.reduce_mean",
             "tf.math.reduce_sum", "tf.math.reduce_max", "tf.math.reduce_min", "tf.reduce_logsumexp"]
REDUCE_OPS = ["ops.mean", "ops.sum", "ops.max", "ops.min", "ops.std", "ops.var", "ops.logsumexp"]


def _reduce_body(fn, all_axes=True):
    """Channel axis, a spatial axis, several axes (incl. batch), keepdims, positional, all axes."""
    lines = [f"r1 = {fn}(c, axis=-1)", f"r2 = {fn}(c, axis=1)", f"r3 = {fn}(c, axis=[1, 2])",
             f"r4 = {fn}(c, axis=2, keepdims=True)", f"r5 = {fn}(c, axis=(0, 3))", f"r7 = {fn}(c, 3, True)"]
    return "\n".join(lines + ([f"r6 = {fn}(c)"] if all_axes else []))


@pytest.mark.parametrize("fn", REDUCE_TF)
def test_reduce_tf_subclassed(fn):
    run_sub(_reduce_body(fn), "r1, r2, r3, r4, r5, r6, r7")


@pytest.mark.parametrize("fn", REDUCE_OPS)
def test_reduce_keras_ops_functional(fn):
    run_fn(_reduce_body(fn, all_axes=False), "[r1, r2, r3, r4, r5, r7]")


def test_reduce_prod_any_all():
    """prod over several axes (chained in torch), any/all on comparisons (cast to float)."""
    body = """
        p1 = tf.reduce_prod(c, axis=[1, 2])
        p2 = ops.prod(c, axis=-1, keepdims=True)
        p3 = tf.math.reduce_prod(c, axis=(3, 1))
        a1 = tf.cast(tf.reduce_any(tf.greater(c, 1.0), axis=[1, 2]), tf.float32)
        a2 = ops.cast(ops.all(ops.less(c, 2.0), axis=3), "float32")
        a3 = tf.cast(tf.reduce_all(tf.greater(c, -3.0), axis=1, keepdims=True), tf.float32)
        a4 = ops.cast(ops.any(ops.greater(c, 0.5)), "float32")
        a5 = tf.cast(tf.math.reduce_any(tf.greater_equal(c, 1.0), axis=-1), tf.float32)
        a6 = tf.cast(tf.math.reduce_all(tf.greater(c, -2.0), axis=(1, 2)), tf.float32)
    """
    run_sub(body, "p1, p2, p3, a1, a2, a3, a4, a5, a6")


def test_argmax_argmin():
    """tf.argmax's axis=None is axis 0; keras.ops.argmax's is the flattened tensor (Keras order)."""
    body = """
        i1 = tf.argmax(c, axis=-1)
        i2 = tf.math.argmin(c, axis=1)
        i3 = tf.argmax(c)
        i4 = ops.argmax(c)
        i5 = ops.argmin(c, axis=2, keepdims=True)
        i6 = tf.argmin(c, 3)
        i7 = ops.argmax(c, axis=1)
        i8 = tf.math.argmax(c, 2)
    """
    run_sub(body, "i1, i2, i3, i4, i5, i6, i7, i8")


def test_reductions_functional_after_dense_and_sequence():
    """On a rank-3 sequence (Conv1D output, channels-first in native torch) and a Dense output."""
    code = functional((7, 3), """
        c = layers.Conv1D(4, 3)(x)
        d = layers.Dense(5)(x)
        r1 = ops.mean(c, axis=1)
        r2 = ops.max(c, axis=-1)
        r3 = ops.sum(d, axis=1, keepdims=True)
        r4 = ops.argmax(c, axis=-1)
        r5 = ops.logsumexp(d, axis=-1)
        p1 = ops.pad(c, ((0, 0), (2, 1), (0, 0)), mode="reflect")
        p2 = ops.pad(d, ((0, 0), (1, 2), (0, 0)), mode="reflect")
        p3 = ops.pad(c, ((0, 0), (0, 0), (1, 1)))
        t1 = ops.transpose(c, (0, 2, 1))
        s1 = ops.softmax(ops.concatenate([c, d[:, :5]], axis=-1), axis=-1)
    """, outputs="[r1, r2, r3, r4, r5, p1, p2, p3, t1, s1]", imports="import keras\nfrom keras import layers, ops")
    check(code, [seq(7, 3)])


# ---- elementwise ----------------------------------------------------------------------------------

UNARY_TF = ["tf.exp", "tf.math.exp", "tf.math.log(tf.abs(c) + 1.0)", "tf.sqrt(tf.math.abs(c))",
            "tf.math.sqrt(tf.square(c))", "tf.math.rsqrt(tf.math.square(c) + 0.5)", "tf.negative",
            "tf.math.negative", "tf.math.reciprocal(tf.abs(c) + 1.0)", "tf.floor", "tf.math.floor",
            "tf.math.ceil", "tf.round", "tf.math.round", "tf.sign", "tf.math.sign", "tf.math.sin",
            "tf.math.cos", "tf.math.erf", "tf.math.log1p(tf.abs(c))", "tf.math.expm1", "tf.sigmoid",
            "tf.math.sigmoid", "tf.nn.sigmoid", "tf.tanh", "tf.math.tanh", "tf.nn.tanh", "tf.nn.relu",
            "tf.nn.relu6", "tf.nn.elu", "tf.nn.selu", "tf.nn.softplus", "tf.math.softplus", "tf.nn.softsign",
            "tf.math.log_sigmoid", "tf.nn.silu", "tf.nn.swish", "tf.nn.gelu", "tf.nn.leaky_relu",
            "tf.zeros_like", "tf.ones_like", "tf.identity", "tf.stop_gradient"]
UNARY_OPS = ["ops.exp", "ops.log(ops.abs(c) + 1.0)", "ops.sqrt(ops.absolute(c))", "ops.rsqrt(ops.square(c) + 0.5)",
             "ops.negative", "ops.reciprocal(ops.abs(c) + 1.0)", "ops.floor", "ops.ceil", "ops.round",
             "ops.sign", "ops.sin", "ops.cos", "ops.erf", "ops.log1p(ops.abs(c))", "ops.expm1", "ops.sigmoid",
             "ops.tanh", "ops.relu", "ops.relu6", "ops.elu", "ops.selu", "ops.softplus", "ops.softsign",
             "ops.hard_sigmoid", "ops.hard_silu", "ops.hard_swish", "ops.log_sigmoid", "ops.silu", "ops.swish",
             "ops.leaky_relu", "ops.zeros_like", "ops.ones_like", "ops.stop_gradient",
             "ops.logical_not(ops.greater(c, 0.0))", "ops.celu", "ops.hard_tanh", "ops.hard_shrink",
             "ops.soft_shrink", "ops.tanh_shrink", "ops.glu", "ops.threshold(c, 0.3, -1.0)"]
UNARY_ACTIVATIONS = ["activations.exponential", "activations.sigmoid", "activations.tanh", "activations.relu6",
                     "activations.selu", "activations.softplus", "activations.softsign", "activations.hard_sigmoid",
                     "activations.hard_silu", "activations.hard_swish", "activations.mish", "activations.silu",
                     "activations.swish", "activations.leaky_relu", "activations.elu", "activations.relu",
                     "activations.gelu", "activations.celu", "activations.hard_tanh", "activations.hard_shrink",
                     "activations.soft_shrink", "activations.tanh_shrink", "activations.glu",
                     "activations.threshold(c, threshold=-0.2, default_value=0.5)"]


def _unary_outputs(exprs):
    lines, names = [], []
    for i, e in enumerate(exprs):
        call = e if "(" in e else f"{e}(c)"
        if "logical_not" in call:
            call = f"ops.cast({call}, 'float32')"
        lines.append(f"u{i} = {call}")
        names.append(f"u{i}")
    return "\n".join(lines), ", ".join(names)


@pytest.mark.parametrize("group", [
    case("tf", UNARY_TF), case("keras-ops", UNARY_OPS), case("keras-activations", UNARY_ACTIVATIONS)])
def test_unary_subclassed(group):
    body, outs = _unary_outputs(group)
    run_sub(body, outs, x=img(5, 5, 3) * 2.0)


def test_unary_keras_ops_functional():
    body, outs = _unary_outputs(UNARY_OPS)
    run_fn(body, f"[{outs}]", x=img(5, 5, 3) * 2.0)


def test_activation_arguments_that_match_the_engine_path():
    """Arguments that equal what the activation path emits anyway (defaults)."""
    body = """
        a = tf.nn.leaky_relu(c)
        b = ops.leaky_relu(c, negative_slope=0.2)
        e = ops.elu(c, alpha=1.0)
    """
    run_sub(body, "a, b, e", x=img(5, 5) * 2.0)


@pytest.mark.parametrize("expr", [
    case("tf-leaky-relu-alpha", "tf.nn.leaky_relu(c, alpha=0.05)"),
    case("ops-leaky-relu-slope", "ops.leaky_relu(c, 0.1)"),
    case("ops-elu-alpha", "ops.elu(c, alpha=0.5)"),
    case("ops-gelu-default-tanh", "ops.gelu(c)"),
    case("activations-gelu-approximate", "activations.gelu(c, approximate=True)"),
    case("tf-gelu-approximate", "tf.nn.gelu(c, approximate=True)"),
    case("tf-silu-beta", "tf.nn.silu(c, beta=2.0)"),
    case("activations-relu-max-value", "activations.relu(c, max_value=1.5)"),
    case("activations-relu-slope-threshold", "activations.relu(c, negative_slope=0.1, threshold=0.5)"),
    case("activations-relu-threshold-max", "activations.relu(c, threshold=-0.5, max_value=1.0)"),
    case("tf-softmax-axis-1", "tf.nn.softmax(c, axis=1)"),
    case("ops-softmax-axis-2", "ops.softmax(c, axis=2)"),
    case("activations-softmax-axis-1", "activations.softmax(c, axis=1)"),
    case("tf-log-softmax-axis-1", "tf.nn.log_softmax(c, axis=1)"),
    case("ops-log-softmax-axis-2", "ops.log_softmax(c, 2)"),
    case("activations-log-softmax-axis-1", "activations.log_softmax(c, axis=1)"),
    case("ops-celu-alpha", "ops.celu(c, alpha=0.5)"),
    case("ops-hard-shrink-threshold", "ops.hard_shrink(c, 1.0)"),
    case("activations-soft-shrink-threshold", "activations.soft_shrink(c, threshold=0.2)"),
    case("ops-glu-axis-1", "ops.glu(tf.concat([c, c * 2.0], axis=1), axis=1)"),
])
def test_activation_functions_with_arguments(expr):
    run_sub(f"y = {expr}", "y", x=img(5, 5) * 2.0)


def test_softmax_without_axis_on_channels_first():
    body = """
        a = tf.nn.softmax(c)
        b = ops.softmax(c)
        d = tf.math.softmax(c)
        e = tf.nn.log_softmax(c)
        f = tf.math.log_softmax(c, axis=-1)
        g = ops.log_softmax(c)
        h = activations.log_softmax(c)
        i = activations.softmax(c)
    """
    run_sub(body, "a, b, d, e, f, g, h, i", x=img(5, 5) * 2.0)


BINARY = [
    case("tf", """
        y = tf.reduce_mean(c, axis=[1, 2], keepdims=True)
        b1 = tf.add(c, y)
        b2 = tf.subtract(c, 1.5)
        b3 = tf.multiply(c, tf.reduce_mean(c, axis=[0, 1, 2]))
        b4 = tf.divide(c, tf.abs(y) + 1.0)
        b5 = tf.maximum(c, y)
        b6 = tf.math.minimum(c, 0.25)
        b7 = tf.pow(tf.abs(c), 1.5)
        b8 = tf.math.squared_difference(c, y)
        b9 = tf.add_n([c, c * 2.0, tf.abs(c)])
        b10 = tf.math.floordiv(c, 0.7)
        b11 = tf.math.floormod(c, 0.7)
        b12 = tf.truediv(c, 2.0)
        b13 = tf.math.add(c, tf.math.subtract(c, tf.math.multiply(c, 2.0)))
        b14 = tf.math.maximum(tf.minimum(c, 1.0), -1.0)
        b15 = tf.math.divide(1.0, tf.abs(c) + 1.0)
        b16 = tf.math.pow(2.0, c)
        b17 = tf.math.add_n([c, tf.square(c)])
        b18 = tf.math.truediv(c, y)
    """, "b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16, b17, b18"),
    case("tf-comparisons-where-clip", """
        m = tf.reduce_mean(c, axis=-1, keepdims=True)
        w1 = tf.where(tf.greater(c, m), c, tf.zeros_like(c))
        w2 = tf.where(tf.less(c, 0.0), -1.0, c)
        w3 = tf.where(tf.math.greater_equal(c, 0.0), 1.0, 0.0)
        k1 = tf.clip_by_value(c, -0.5, 0.5)
        k2 = tf.clip_by_value(c, clip_value_min=m, clip_value_max=1.0)
        e1 = tf.cast(tf.equal(tf.round(c), 0.0), tf.float32)
        e2 = tf.cast(tf.not_equal(tf.round(c), 0.0), "float32")
        e3 = tf.cast(tf.logical_and(tf.greater(c, -1.0), tf.less_equal(c, 1.0)), tf.float32)
        e4 = tf.cast(tf.logical_or(tf.math.less(c, -1.0), tf.math.greater(c, 1.0)), tf.float32)
        e5 = tf.cast(tf.math.logical_not(tf.math.equal(c, m)), tf.float32)
        e6 = tf.cast(tf.math.logical_and(tf.math.not_equal(c, m), tf.math.less_equal(c, m)), tf.float32)
        e7 = tf.cast(tf.math.logical_or(tf.math.greater_equal(c, 2.0), tf.logical_not(tf.less(c, -2.0))), tf.float32)
        i1 = tf.cast(c * 3.0, tf.int32)
    """, "w1, w2, w3, k1, k2, e1, e2, e3, e4, e5, e6, e7, i1"),
    case("keras-ops", """
        y = ops.mean(c, axis=(1, 2), keepdims=True)
        b1 = ops.add(c, y)
        b2 = ops.subtract(c, 1.5)
        b3 = ops.multiply(c, ops.mean(c, axis=(0, 1, 2)))
        b4 = ops.divide(c, ops.abs(y) + 1.0)
        b5 = ops.maximum(c, y)
        b6 = ops.minimum(c, 0.25)
        b7 = ops.power(ops.abs(c), 1.5)
        b8 = ops.true_divide(c, 2.0)
        b9 = ops.floor_divide(c, 0.7)
        b10 = ops.mod(c, 0.7)
        w1 = ops.where(ops.greater(c, y), c, 0.0)
        w2 = ops.where(ops.less_equal(c, 0.0), y, c)
        k1 = ops.clip(c, -0.5, 0.5)
        e1 = ops.cast(ops.logical_and(ops.greater_equal(c, -1.0), ops.less(c, 1.0)), "float32")
        e2 = ops.cast(ops.logical_or(ops.equal(ops.round(c), 0.0), ops.not_equal(c, y)), "float32")
        r1 = ops.round(c * 10.0, decimals=0)
    """, "b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, w1, w2, k1, e1, e2, r1"),
]


@pytest.mark.parametrize("body, outputs", BINARY)
def test_binary_and_where(body, outputs):
    """Broadcasting against keepdims reductions (same rank, channels-first) and a channel vector
    (lower rank: both operands go to Keras order)."""
    run_sub(body, outputs, x=img(5, 5) * 2.0)


def test_binary_keras_ops_functional():
    body, outputs = BINARY[2].values
    run_fn(body, f"[{outputs}]", x=img(5, 5) * 2.0)


# ---- joining, splitting ---------------------------------------------------------------------------

def test_concat_stack_split_tf():
    body = """
        d = self.conv2(x)
        j1 = tf.concat([c, d], axis=-1)
        j2 = tf.concat([c, d], 1)
        j3 = tf.concat([c, d], axis=0)
        s1 = tf.stack([c, d], axis=1)
        s2 = tf.stack([c, d], axis=-1)
        s3 = tf.stack([c, d])
        a, b = tf.split(c, 2, axis=-1)
        e, f, g = tf.split(c, [1, 3, -1], axis=1)
        u0, u1, u2, u3 = tf.unstack(c, axis=3)
        v0, v1, v2, v3, v4 = tf.unstack(c, axis=2)
        h, k = tf.split(c, num_or_size_splits=[2, 2], axis=3)
    """
    run_sub(body, "j1, j2, j3, s1, s2, s3, a, b, e, f, g, u0, u3, v0, v4, h, k",
            extra_init="        self.conv2 = layers.Conv2D(4, 1)\n")


def test_concat_stack_split_keras_ops_functional():
    body = """
        d = layers.Conv2D(4, 1)(x)
        j1 = ops.concatenate([c, d], axis=-1)
        j2 = ops.concatenate([c, d], axis=2)
        j3 = ops.concatenate([c, d])
        s1 = ops.stack([c, d], axis=2)
        s2 = ops.stack([c, d], axis=-1)
        a, b = ops.split(c, 2, axis=-1)
        e, f, g = ops.split(c, [1, 3], axis=1)
        u0, u1, u2, u3, u4 = ops.unstack(c, axis=1)
    """
    run_fn(body, "[j1, j2, j3, s1, s2, a, b, e, f, g, u0, u4]")


def test_split_of_a_dense_output_feeds_layers():
    """Split heads of a Dense output, each through its own layer (the multi-output metas)."""
    code = subclassed("""
        h = self.dense(tf.reduce_mean(c, axis=[1, 2]))
        a, b = tf.split(h, 2, axis=-1)
        return_a = self.head_a(a)
        return_b = self.head_b(b)
    """, "return_a, return_b", extra_init="        self.dense = layers.Dense(6)\n        self.head_a = "
         "layers.Dense(2)\n        self.head_b = layers.Dense(3)\n")
    check(code, [img(5, 5)], model_name="Net")


# ---- reshaping ----------------------------------------------------------------------------------

def test_reshape_transpose_tf():
    body = """
        r1 = tf.reshape(c, (-1, 25, 4))
        r2 = tf.reshape(c, [-1, 100])
        r3 = tf.reshape(c, (2, 5, 20))
        t1 = tf.transpose(c, perm=[0, 3, 1, 2])
        t2 = tf.transpose(c, [0, 2, 1, 3])
        t3 = tf.transpose(c)
        t4 = tf.transpose(r1, (0, 2, 1))
        e1 = tf.expand_dims(c, 1)
        e2 = tf.expand_dims(c, -1)
        e3 = tf.expand_dims(c, axis=0)
        e4 = tf.expand_dims(r2, 1)
        m = tf.reduce_mean(c, axis=[1, 2], keepdims=True)
        q1 = tf.squeeze(m, axis=[1, 2])
        q2 = tf.squeeze(m, 1)
        q3 = tf.squeeze(tf.reduce_mean(c, axis=-1, keepdims=True), axis=-1)
        q4 = tf.squeeze(m)
    """
    run_sub(body, "r1, r2, r3, t1, t2, t3, t4, e1, e2, e3, e4, q1, q2, q3, q4")


def test_reshape_transpose_keras_ops_functional():
    body = """
        r1 = ops.reshape(c, (-1, 25, 4))
        r2 = ops.reshape(c, (-1, 100))
        t1 = ops.transpose(c, axes=(0, 3, 1, 2))
        t2 = ops.transpose(r1, (0, 2, 1))
        w1 = ops.swapaxes(c, 1, 3)
        w2 = ops.moveaxis(c, -1, 1)
        w3 = ops.moveaxis(c, 1, 2)
        e1 = ops.expand_dims(c, 2)
        e2 = ops.expand_dims(r2, -1)
        m = ops.mean(c, axis=(1, 2), keepdims=True)
        q1 = ops.squeeze(m, axis=(1, 2))
        q2 = ops.squeeze(m, axis=1)
        r3 = ops.reshape(ops.transpose(c, (0, 3, 1, 2)), (-1, 4, 25))
    """
    run_fn(body, "[r1, r2, t1, t2, w1, w2, w3, e1, e2, q1, q2, r3]")


def test_reshape_then_layers():
    """A reshape of a channels-first tensor feeding a Dense, and back to an image feeding a conv."""
    code = subclassed("""
        s = tf.reshape(c, [-1, 25, 4])
        s = self.dense(s)
        i = tf.reshape(s, (-1, 5, 5, 6))
        return_1 = self.conv2(i)
    """, "return_1", extra_init="        self.dense = layers.Dense(6)\n        self.conv2 = layers.Conv2D(3, 3)\n")
    check(code, [img(5, 5)], model_name="Net")


# ---- indexing, tiling, padding --------------------------------------------------------------------

def test_gather_tile_pad_tf():
    body = """
        g1 = tf.gather(c, [0, 2], axis=-1)
        g2 = tf.gather(c, [4, 0, 1], axis=1)
        g3 = tf.gather(c, 2, axis=3)
        g4 = tf.gather(c, [1, 0])
        g5 = tf.gather(c, tf.argmax(tf.reduce_mean(c, axis=[0, 1, 2]), output_type=tf.int32), axis=-1)
        t1 = tf.tile(c, [1, 2, 1, 3])
        t2 = tf.tile(c, (2, 1, 1, 1))
        p1 = tf.pad(c, [[0, 0], [1, 2], [2, 1], [0, 0]])
        p2 = tf.pad(c, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        p3 = tf.pad(c, [[0, 0], [0, 0], [0, 0], [1, 3]], constant_values=0.5)
        p4 = tf.pad(x, [[0, 0], [2, 2], [0, 1], [0, 0]], "REFLECT")
        p5 = tf.pad(c, ((1, 0), (0, 0), (0, 0), (0, 0)))
        f1 = tf.reverse(c, axis=[1])
        f2 = tf.reverse(c, [-1, 2])
        n1 = tf.repeat(c, 2, axis=1)
        n2 = tf.repeat(c, [1, 2, 1, 3], axis=-1)
    """
    run_sub(body, "g1, g2, g3, g4, g5, t1, t2, p1, p2, p3, p4, p5, f1, f2, n1, n2")


def test_gather_tile_pad_keras_ops_functional():
    body = """
        g1 = ops.take(c, [0, 2], axis=-1)
        g2 = ops.take(c, [4, 0, 1], axis=1)
        g3 = ops.take(c, [3, 7, 11])
        t1 = ops.tile(c, (1, 2, 1, 3))
        t2 = ops.tile(c, (2, 1))
        p1 = ops.pad(c, ((0, 0), (1, 2), (2, 1), (0, 0)))
        p2 = ops.pad(c, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        p3 = ops.pad(c, ((0, 0), (2, 1), (0, 0), (0, 0)), mode="reflect")
        p4 = ops.pad(c, ((0, 0), (0, 0), (0, 0), (1, 1)), constant_values=-1.0)
        f1 = ops.flip(c, axis=1)
        f2 = ops.flip(c, axis=(2, 3))
        n1 = ops.repeat(c, 2, axis=2)
        n2 = ops.repeat(c, 3)
    """
    run_fn(body, "[g1, g2, g3, t1, t2, p1, p2, p3, p4, f1, f2, n1, n2]")


def test_one_hot_cumsum_cast():
    body = """
        i = tf.argmax(c, axis=-1)
        o1 = tf.one_hot(i, 4)
        o2 = tf.one_hot(i, depth=6, axis=1)
        o3 = ops.one_hot(ops.argmax(c, axis=1), 5)
        o4 = ops.one_hot(i, 4, axis=2)
        s1 = tf.cumsum(c, axis=1)
        s2 = tf.math.cumsum(c, -1)
        s3 = tf.math.cumprod(c * 0.5, axis=2)
        s4 = ops.cumsum(c, axis=3)
        s5 = ops.cumsum(c)
        s6 = ops.cumprod(c * 0.5, axis=1)
        k1 = tf.cast(c * 4.0, tf.int32)
        k2 = ops.cast(ops.cast(c * 4.0, "int32"), "float32")
        k3 = tf.dtypes.cast(tf.cast(c, tf.float16), tf.float32)
        k4 = tf.cast(tf.greater(c, 0.0), c.dtype) * c
        k5 = tf.zeros_like(c, dtype=tf.int32)
        k6 = ops.ones_like(c, dtype=c.dtype)
    """
    run_sub(body, "o1, o2, o3, o4, s1, s2, s3, s4, s5, s6, k1, k2, k3, k4, k5, k6", x=img(5, 5) * 2.0)


def test_one_hot_of_integer_input():
    """One-hot of an int32 model input (a Keras int tensor: torch needs int64 indices)."""
    code = textwrap.dedent("""
        import tensorflow as tf
        import keras
        from keras import layers, ops


        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.dense = layers.Dense(3)

            def call(self, x):
                h = tf.one_hot(x, 7)
                return self.dense(tf.reshape(h, (-1, 5 * 7)))


        model = Net()
        model.build((None, 5))
    """)
    from translator.verify.compare import random_input
    check(code, [random_input((2, 5), "int32", 0, 7)], model_name="Net")


def test_shapes_in_keras_order():
    """tf.shape / keras.ops.shape of a channels-first tensor are in Keras order."""
    body = """
        b, h, w, ch = ops.shape(c)
        n, hh, ww, cc = tf.shape(c)
        flat = tf.reshape(c, (b, h * w * ch))
        cols = ops.reshape(c, (n, hh * ww, cc))
        rows = tf.reshape(c, (-1, c.shape[1] * c.shape[2], c.shape[3]))
        last = ops.reshape(c, (-1, c.shape[-1]))
    """
    run_sub(body, "flat, cols, rows, last")


def test_subscripted_shapes():
    body = """
        ch = K.int_shape(c)[-1]
        y = K.reshape(c, (-1, K.int_shape(c)[1] * K.int_shape(c)[2], ch))
        z = K.reshape(c, (K.shape(c)[0], -1))
    """
    run_k2(body, "y, z")


# ---- products -----------------------------------------------------------------------------------

def test_matmul_einsum_tensordot():
    body = """
        s = tf.reshape(c, (-1, 25, 4))
        a1 = tf.matmul(s, s, transpose_b=True)
        a2 = tf.linalg.matmul(s, s, transpose_a=True)
        a3 = ops.matmul(c, tf.transpose(c, (0, 1, 3, 2)))
        a4 = tf.matmul(c, tf.ones((4, 3)))
        e1 = tf.einsum("bhwc,bhwd->bcd", c, c)
        e2 = ops.einsum("bhwc->bch", c)
        e3 = tf.einsum("...c,c->...", c, tf.reduce_mean(c, axis=[0, 1, 2]))
        e4 = tf.linalg.einsum("bij,bkj->bik", s, s)
        d1 = tf.tensordot(s, tf.ones((4, 2)), axes=1)
        d2 = ops.tensordot(c, tf.ones((4, 2)), axes=[[3], [0]])
        z1 = c + tf.zeros((5, 5, 4))
        z2 = ops.add(c, ops.zeros((4,)))
        z3 = ops.matmul(s, ops.ones((4, 3), dtype="float32"))
    """
    run_sub(body, "a1, a2, a3, a4, e1, e2, e3, e4, d1, d2, z1, z2, z3")


def test_matmul_einsum_keras_ops_functional():
    body = """
        s = ops.reshape(c, (-1, 25, 4))
        a1 = ops.matmul(s, ops.transpose(s, (0, 2, 1)))
        e1 = ops.einsum("bhwc,bhwd->bcd", c, c)
        d1 = ops.tensordot(s, ops.ones_like(ops.mean(s, axis=(0, 1))), axes=1)
    """
    run_fn(body, "[a1, e1, d1]")


def test_arange():
    """keras.ops.arange -> torch.arange with Keras' dtype (int32 from ints, float32 from floats)."""
    body = """
        r1 = c + ops.cast(ops.arange(ops.shape(c)[3]), "float32")
        r2 = c * ops.arange(1, 5, dtype="float32")
        r3 = c + ops.arange(0.0, 2.0, 0.5)
        r4 = c - ops.cast(ops.arange(3, 11, 2) // 2, "float32")
    """
    run_sub(body, "r1, r2, r3, r4")


# ---- images ----------------------------------------------------------------------------------------

def test_image_resize():
    body = """
        r1 = tf.image.resize(c, (10, 7))
        r2 = tf.image.resize(c, [3, 4], method="bilinear")
        r3 = tf.image.resize(c, (10, 10), method="nearest")
        r4 = tf.image.resize(c, (3, 8), method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        r5 = ops.image.resize(c, (9, 6))
        r6 = ops.image.resize(x, (7, 7), interpolation="nearest")
        r7 = tf.image.resize(x, (4, 4))
    """
    run_sub(body, "r1, r2, r3, r4, r5, r6, r7")


def test_image_resize_keras_ops_functional():
    run_fn("""
        r1 = ops.image.resize(c, (8, 11))
        r2 = ops.image.resize(c, (2, 3), interpolation="nearest")
        r3 = ops.image.resize(x, (6, 6))
    """, "[r1, r2, r3]")


def test_pooling_ops():
    """keras.ops.max_pool / average_pool (valid padding) -> F.max_pool{1,2}d / F.avg_pool{1,2}d."""
    body = """
        r1 = ops.max_pool(c, 2)
        r2 = ops.average_pool(c, (2, 3), strides=1)
        r3 = ops.max_pool(x, pool_size=3, strides=(1, 2), padding="valid") + 1.0
        r4 = ops.average_pool(ops.mean(c, axis=1), 2, 1)
    """
    run_sub(body, "r1, r2, r3, r4")
    result = translate_source(subclassed("y = ops.max_pool(c, 2, padding='same')", "y"))
    assert [f.code for f in result.findings if f.severity == "error"] == ["FWT202"]


def test_l2_normalize():
    body = """
        n1 = tf.math.l2_normalize(c, axis=-1)
        n2 = tf.nn.l2_normalize(c, axis=[1, 2])
        n3 = tf.math.l2_normalize(c)
        n4 = ops.normalize(c, axis=1)
        n5 = ops.normalize(c)
        n6 = tf.nn.l2_normalize(c * 1e-4, axis=-1, epsilon=1e-3)
        b1 = tf.nn.bias_add(c, tf.reduce_mean(c, axis=[0, 1, 2]))
    """
    run_sub(body, "n1, n2, n3, n4, n5, n6, b1")


# ---- Keras 2 backend (tf_keras) -------------------------------------------------------------------

K2_CASES = [
    case("reductions", """
        r1 = K.mean(c, axis=-1)
        r2 = K.sum(c, axis=[1, 2])
        r3 = K.max(c, axis=1, keepdims=True)
        r4 = K.min(c)
        r5 = K.prod(c * 0.5, axis=(1, 2))
        r6 = K.std(c, axis=2)
        r7 = K.var(c, axis=-1, keepdims=True)
        r8 = K.cast(K.any(K.greater(c, 1.0), axis=1), "float32")
        r9 = K.cast(K.all(K.less(c, 1.5), axis=-1), K.floatx())
        i1 = K.argmax(c)
        i2 = K.argmin(c, axis=1)
        s1 = K.cumsum(c, axis=2)
        s2 = K.cumprod(c * 0.5, 1)
    """, "r1, r2, r3, r4, r5, r6, r7, r8, r9, i1, i2, s1, s2"),
    case("elementwise", """
        e1 = K.sqrt(c)
        e2 = K.exp(c)
        e3 = K.log(K.abs(c) + K.epsilon())
        e4 = K.square(c)
        e5 = K.pow(K.abs(c), 1.5)
        e6 = K.clip(c, -0.5, 0.5)
        e7 = K.clip(c, 1.0, 0.5)
        e8 = K.sigmoid(c)
        e9 = K.tanh(c)
        e10 = K.softplus(c)
        e11 = K.softsign(c)
        e13 = K.maximum(c, K.mean(c, axis=-1, keepdims=True))
        e14 = K.minimum(c, 0.0)
        e15 = K.sign(c)
        e16 = K.round(c)
        e17 = K.switch(K.greater(c, 0.0), c, K.zeros_like(c))
        e18 = K.cast(K.equal(K.round(c), 0.0), "float32") + K.cast(K.not_equal(c, 0.0), "float32")
        e19 = K.cast(K.greater_equal(c, 0.0), "float32") * K.cast(K.less_equal(c, 1.0), "float32")
        e20 = K.ones_like(c) + K.relu(c) + K.elu(c)
        e21 = K.l2_normalize(c, axis=-1)
        e22 = K.stop_gradient(c)
        e23 = K.switch(K.greater(K.mean(c, axis=-1), 0.0), c, -c)
    """, "e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e13, e14, e15, e16, e17, e18, e19, e20, e21, "
         "e22, e23"),
    case("shapes", """
        b, h, w, ch = K.int_shape(c)
        j1 = K.concatenate([c, c * 2.0])
        j2 = K.concatenate([c, c], axis=1)
        s1 = K.stack([c, c], axis=-1)
        r1 = K.reshape(c, (-1, h * w, ch))
        p1 = K.permute_dimensions(c, (0, 3, 1, 2))
        t1 = K.transpose(K.batch_flatten(c))
        e1 = K.expand_dims(c)
        e2 = K.expand_dims(c, 1)
        q1 = K.squeeze(K.mean(c, axis=1, keepdims=True), 1)
        f1 = K.flatten(c)
        f2 = K.batch_flatten(c)
        t2 = K.tile(c, (1, 1, 2, 1))
        g1 = K.gather(c, [1, 0])
        o1 = K.one_hot(K.argmax(c), 4)
        n1 = K.repeat_elements(c, 2, axis=1)
        z1 = K.spatial_2d_padding(c, ((1, 0), (2, 1)))
        z2 = K.temporal_padding(K.reshape(c, (-1, 25, 4)), (2, 1))
        u1 = K.resize_images(c, 2, 3, "channels_last")
        u2 = K.resize_images(c, 2, 2, "channels_last", interpolation="bilinear")
        sh = K.shape(c)
        f3 = K.reshape(c, (sh[0], -1))
    """, "j1, j2, s1, r1, p1, t1, e1, e2, q1, f1, f2, t2, g1, o1, n1, z1, z2, u1, u2, f3"),
    case("products", """
        s = K.reshape(c, (-1, 25, 4))
        v = K.mean(c, axis=[1, 2])
        d1 = K.dot(s, K.ones((4, 3))) + K.zeros((3,))
        d2 = K.dot(v, K.transpose(v))
        d3 = K.dot(s, K.permute_dimensions(s, (1, 2, 0)))
        b1 = K.batch_dot(s, s, axes=[2, 2])
        b2 = K.batch_dot(s, s, axes=1)
        b3 = K.batch_dot(v, v, axes=1)
        b4 = K.batch_dot(s, v)
        b5 = K.batch_dot(v, s, axes=[1, 2])
    """, "d1, d2, d3, b1, b2, b3, b4, b5"),
]


@pytest.mark.parametrize("body, outputs", K2_CASES)
def test_keras2_backend(body, outputs):
    run_k2(body, outputs, x=img(5, 5) * 2.0)


@pytest.mark.parametrize("expr", [
    case("softmax-axis", "K.softmax(c, axis=1)"),
    case("relu-alpha-max", "K.relu(c, alpha=0.1, max_value=1.0)"),
    case("relu-threshold", "K.relu(c, threshold=0.3)"),
    case("relu-all", "K.relu(c, alpha=0.2, max_value=1.5, threshold=-0.4)"),
    case("relu-max-6-alpha", "K.relu(c, alpha=0.1, max_value=6)"),
    case("relu-max", "K.relu(c, max_value=2.0)"),
    case("elu-alpha", "K.elu(c, 0.5)"),
    case("hard-sigmoid-keras2-formula", "K.hard_sigmoid(c)"),
])
def test_keras2_activation_arguments(expr):
    run_k2(f"y = {expr}", "y", x=img(5, 5) * 2.0)


def test_keras2_softmax_default():
    run_k2("y = K.softmax(c)\nz = K.relu(c)", "y, z", x=img(5, 5) * 2.0)


# ---- reported, never silently wrong ---------------------------------------------------------------

REPORTED = [
    case("pad-symmetric", "y = tf.pad(c, [[0, 0], [1, 1], [1, 1], [0, 0]], mode='SYMMETRIC')", "FWT202"),
    case("pad-batch-reflect", "y = tf.pad(c, [[1, 1], [0, 0], [0, 0], [0, 0]], mode='REFLECT')", "FWT202"),
    case("resize-bicubic", "y = tf.image.resize(c, (8, 8), method='bicubic')", "FWT202"),
    case("resize-antialias", "y = tf.image.resize(c, (3, 3), antialias=True)", "FWT202"),
    case("resize-aspect", "y = ops.image.resize(c, (3, 3), crop_to_aspect_ratio=True)", "FWT202"),
    case("gather-batch-dims", "y = tf.gather(c, [[0], [1]], axis=1, batch_dims=1)", "FWT202"),
    case("cumsum-exclusive", "y = tf.cumsum(c, axis=1, exclusive=True)", "FWT202"),
    case("cumsum-reverse", "y = tf.cumsum(c, axis=1, reverse=True)", "FWT202"),
    case("one-hot-on-value", "y = tf.one_hot(tf.argmax(c, axis=-1), 4, on_value=2.0)", "FWT202"),
    case("axis-not-constant", "y = tf.reduce_mean(c, axis=self.axis)", "FWT202"),
    case("dropout-always-active", "y = tf.nn.dropout(c, 0.5)", "FWT102"),
    case("unknown-tf-op", "y = tf.math.bessel_i0(c)", "FWT102"),
    case("unsupported-argument", "y = tf.reduce_mean(c, axis=1, fancy=True)", "FWT201"),
    case("max-initial", "y = ops.max(c, axis=1, initial=0.0)", "FWT202"),
    case("complex-cast", "y = tf.cast(c, tf.complex64)", "FWT202"),
    case("reduce-mean-int", "y = tf.reduce_mean(tf.cast(c, tf.int32), axis=1)", "FWT202"),
    case("normalize-order-1", "y = ops.normalize(c, order=1)", "FWT202"),
    case("split-not-divisible", "y, z = tf.split(c, 3, axis=-1)", "FWT202"),
]


@pytest.mark.parametrize("body, code", REPORTED)
def test_untranslatable_ops_are_reported(body, code):
    src = subclassed(body, "y")
    result = translate_source(src)
    codes = {f.code for f in result.findings}
    assert code in codes, (codes, result.code)
    assert f"# fwtranslate {code}" in result.code
    compile(result.code, "out", "exec")


# ---- rules against live signatures, and coverage --------------------------------------------------

RULES = load_rules()
OP_RULES = [r for r in RULES.by_id.values() if type(r).__name__ == "OpRule"]


def _live(path: str):
    """The live function of a canonical op path (keras.backend.X on tf_keras, Keras 2)."""
    import importlib
    if path.startswith("keras.backend."):
        mod = pytest.importorskip("tf_keras").backend
        name = path[len("keras.backend."):]
        return getattr(mod, name, None) or getattr(importlib.import_module("keras").backend, name)
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


_PLAIN = (type(None), bool, int, float, str, tuple, list)


@pytest.mark.parametrize("rule", OP_RULES, ids=[r.id for r in OP_RULES])
def test_op_rule_matches_live_signatures(rule):
    """Every path exists; the live positional parameters are the rule's, in order (by name or Keras 2
    spelling); plain defaults agree; parameters the rule does not list are optional."""
    params = [p for p in rule.params if p.keras]
    for path in rule.keras:
        fn = _live(path)
        assert callable(fn), f"{rule.id}: {path} is not callable"
        live = [p for p in inspect.signature(fn).parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "name"]
        for i, lp in enumerate(live):
            if i >= len(params):
                assert lp.default is not inspect.Parameter.empty, (
                    f"{rule.id}: {path} requires '{lp.name}', which the rule does not list")
                continue
            p = params[i]
            assert lp.name == p.keras or lp.name in p.keras2, (
                f"{rule.id}: {path} parameter {i} is '{lp.name}', the rule's is '{p.keras}' {p.keras2}")
            if lp.default is not inspect.Parameter.empty and isinstance(lp.default, _PLAIN):
                expected = lp.default
                got = p.default
                if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)):
                    expected, got = np.asarray(expected).tolist(), np.asarray(got).tolist()
                assert got == expected and type(got) is type(expected) or (
                    isinstance(got, float) and isinstance(expected, float) and got == expected), (
                    f"{rule.id}: {path}({lp.name}=...) default is {lp.default!r}, the rule's {p.default!r}")


def _spellings(path: str) -> list[str]:
    for prefix, local in (("tensorflow.", "tf."), ("keras.ops.", "ops."), ("keras.backend.", "K."),
                          ("keras.activations.", "activations.")):
        if path.startswith(prefix):
            return [local + path[len(prefix):]]
    return [path]


def test_every_op_rule_has_a_numerical_test():
    """One of each rule's paths is called in this file's numerical cases; tf.*, keras.ops.* and K.*
    paths each appear at least once over all rules (aliases of one function may share a test)."""
    source = Path(__file__).read_text()
    numeric = source.split("# ---- reported, never silently wrong")[0]
    called = set(re.findall(r"\b((?:tf|ops|K|activations)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\(", numeric))
    called |= set(re.findall(r"\"((?:tf|ops|K|activations)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\"", numeric))  # UNARY_*
    missing = sorted(r.id for r in OP_RULES
                     if not any(s in called for path in r.keras for s in _spellings(path)))
    assert not missing, f"op rules without a numerical test: {missing}"
    untested = sorted(path for r in OP_RULES for path in r.keras
                      if not any(s in called for s in _spellings(path)))
    assert not untested, f"op paths never called in a numerical test: {untested}"
