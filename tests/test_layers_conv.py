"""Numerical tests of the convolution / pooling / reshaping family (issue 3).

Conv3D, Conv1D/2D/3DTranspose (output_padding, 'valid' and 'same' with strides), DepthwiseConv1D/2D
(depth_multiplier), SeparableConv1D/2D, 3D pooling and global pooling, ZeroPadding1D/3D,
UpSampling1D/3D, Cropping1D/2D/3D. Each case goes through `check` from test_layers_numeric.py:
random weights, Keras (training=False) vs both translations ("native" channels-first and "keep"),
max |keras - torch| <= 1e-5 * max(1, max |keras|), every Keras weight ported.
"""
from __future__ import annotations

import itertools

import pytest

from test_layers_numeric import case, check, functional, img, seq  # noqa: F401  (pytest puts tests/ on sys.path)
from translator.verify.compare import random_input

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")


def vol(d=5, h=6, w=4, c=3, n=2, seed=0):
    return random_input((n, d, h, w, c), seed=seed)


# ---- Conv3D ---------------------------------------------------------------------------------------

CONV3D = [
    case("k3-valid", "layers.Conv3D(4, 3)", (5, 6, 4)),
    case("k3-same", "layers.Conv3D(4, 3, padding='same')", (5, 6, 4)),
    case("k2-same-even-kernel", "layers.Conv3D(4, 2, padding='same')", (5, 6, 4)),
    case("k3-stride2-same-asymmetric", "layers.Conv3D(4, 3, strides=2, padding='same')", (6, 5, 4)),
    case("k3x2x1-stride-2x1x2-same", "layers.Conv3D(4, (3, 2, 1), strides=(2, 1, 2), padding='same')", (5, 6, 4)),
    case("k2-stride2-valid", "layers.Conv3D(4, 2, strides=2)", (5, 6, 4)),
    case("dilation2", "layers.Conv3D(4, 2, dilation_rate=(2, 1, 1))", (5, 6, 4)),
    case("groups3", "layers.Conv3D(6, 2, groups=3)", (5, 6, 4)),
    case("no-bias-relu", "layers.Conv3D(4, 3, use_bias=False, activation='relu')", (5, 6, 4)),
    case("convolution3d-alias", "layers.Convolution3D(4, 3)", (5, 6, 4)),
]


@pytest.mark.parametrize("layer, dhw", CONV3D)
def test_conv3d(layer, dhw):
    check(functional(dhw + (3,), f"out = {layer}(x)"), [vol(*dhw)])


# ---- transposed convolutions ------------------------------------------------------------------------
# 'same' with an odd kernel and stride 2 is the case most converters get wrong (torch padding=1,
# output_padding=1 shifts the output by one cell against TF): here it is padding=0 plus a crop.

CONV2D_TRANSPOSE = [
    case("k3-valid", "layers.Conv2DTranspose(4, 3)", (4, 5)),
    case("k3-stride2-valid", "layers.Conv2DTranspose(4, 3, strides=2)", (4, 5)),
    case("k2-stride2-valid", "layers.Conv2DTranspose(4, 2, strides=2)", (4, 5)),
    case("k1-stride2-valid-default-output-padding", "layers.Conv2DTranspose(4, 1, strides=2)", (4, 5)),
    case("k3-stride3-valid-output-padding-2", "layers.Conv2DTranspose(4, 3, strides=3, output_padding=2)", (4, 5)),
    case("k3-stride2-valid-output-padding-1", "layers.Conv2DTranspose(4, 3, strides=2, output_padding=1)", (4, 5)),
    case("k3-same", "layers.Conv2DTranspose(4, 3, padding='same')", (4, 5)),
    case("k2-same-even-kernel", "layers.Conv2DTranspose(4, 2, padding='same')", (4, 5)),
    case("k4-stride2-same-dcgan", "layers.Conv2DTranspose(4, 4, strides=2, padding='same')", (4, 5)),
    case("k3-stride2-same", "layers.Conv2DTranspose(4, 3, strides=2, padding='same')", (4, 5)),
    case("k5-stride2-same", "layers.Conv2DTranspose(4, 5, strides=2, padding='same')", (4, 5)),
    case("k2-stride3-same", "layers.Conv2DTranspose(4, 2, strides=3, padding='same')", (4, 5)),
    case("k3-stride3-same", "layers.Conv2DTranspose(4, 3, strides=3, padding='same')", (4, 5)),
    case("k3-stride2-same-output-padding-0",
         "layers.Conv2DTranspose(4, 3, strides=2, padding='same', output_padding=0)", (4, 5)),
    case("k3-stride2-same-output-padding-1",
         "layers.Conv2DTranspose(4, 3, strides=2, padding='same', output_padding=1)", (4, 5)),
    case("k4-stride2-same-output-padding-1",
         "layers.Conv2DTranspose(4, 4, strides=2, padding='same', output_padding=1)", (4, 5)),
    case("k4-stride3-same-output-padding-2",
         "layers.Conv2DTranspose(4, 4, strides=3, padding='same', output_padding=2)", (4, 5)),
    case("mixed-k3x4-stride-2x1-same",
         "layers.Conv2DTranspose(4, (3, 4), strides=(2, 1), padding='same')", (4, 5)),
    case("mixed-output-padding-1x0",
         "layers.Conv2DTranspose(4, 3, strides=(2, 3), output_padding=(1, 0))", (4, 5)),
    case("dilation2-valid", "layers.Conv2DTranspose(4, 3, dilation_rate=2)", (4, 5)),
    case("dilation2-same", "layers.Conv2DTranspose(4, 2, dilation_rate=2, padding='same')", (4, 5)),
    case("no-bias", "layers.Conv2DTranspose(4, 3, strides=2, padding='same', use_bias=False)", (4, 5)),
    case("activation-tanh", "layers.Conv2DTranspose(4, 3, strides=2, activation='tanh')", (4, 5)),
    case("convolution2dtranspose-alias", "layers.Convolution2DTranspose(4, 3)", (4, 5)),
]


@pytest.mark.parametrize("layer, hw", CONV2D_TRANSPOSE)
def test_conv2d_transpose(layer, hw):
    check(functional(hw + (3,), f"out = {layer}(x)"), [img(*hw, 3)])


CONV1D_TRANSPOSE = [
    case("k3-valid", "layers.Conv1DTranspose(4, 3)"),
    case("k3-stride2-valid", "layers.Conv1DTranspose(4, 3, strides=2)"),
    case("k1-stride3-valid", "layers.Conv1DTranspose(4, 1, strides=3)"),
    case("k3-stride2-valid-output-padding-1", "layers.Conv1DTranspose(4, 3, strides=2, output_padding=1)"),
    case("k2-same", "layers.Conv1DTranspose(4, 2, padding='same')"),
    case("k3-stride2-same", "layers.Conv1DTranspose(4, 3, strides=2, padding='same')"),
    case("k4-stride2-same", "layers.Conv1DTranspose(4, 4, strides=2, padding='same')"),
    case("k5-stride3-same-output-padding-1",
         "layers.Conv1DTranspose(4, 5, strides=3, padding='same', output_padding=1)"),
    case("dilation3-same", "layers.Conv1DTranspose(4, 3, dilation_rate=3, padding='same')"),
    case("convolution1dtranspose-alias", "layers.Convolution1DTranspose(4, 3, strides=2, padding='same')"),
]


@pytest.mark.parametrize("layer", CONV1D_TRANSPOSE)
def test_conv1d_transpose(layer):
    check(functional((5, 3), f"out = {layer}(x)"), [seq(5, 3)])


CONV3D_TRANSPOSE = [
    case("k3-stride2-same", "layers.Conv3DTranspose(4, 3, strides=2, padding='same')"),
    case("k2-stride2-valid", "layers.Conv3DTranspose(4, 2, strides=2)"),
    case("mixed-output-padding",
         "layers.Conv3DTranspose(4, 3, strides=(2, 1, 2), padding='same', output_padding=(1, 0, 0))"),
    case("k4-stride2-same-relu", "layers.Conv3DTranspose(4, 4, strides=2, padding='same', activation='relu')"),
    case("convolution3dtranspose-alias", "layers.Convolution3DTranspose(4, 2)"),
]


@pytest.mark.parametrize("layer", CONV3D_TRANSPOSE)
def test_conv3d_transpose(layer):
    check(functional((3, 4, 3, 3), f"out = {layer}(x)"), [vol(3, 4, 3)])


def _keras_transpose_window(k, s, d, padding, output_padding):
    """Keras' own spec of a transposed conv along one axis, from its JAX/torch backend helper: the
    cells cropped from the natural output (length N = (I - 1) * s + ke) at the start and the end."""
    from keras.src.backend.common.backend_utils import _convert_conv_transpose_padding_args_from_keras_to_jax
    left, right = _convert_conv_transpose_padding_args_from_keras_to_jax(k, s, d, padding, output_padding)
    ke = (k - 1) * d + 1
    return ke - 1 - left, ke - 1 - right


def test_transpose_padding_matches_keras_spec():
    """The hatch's (padding, output_padding, crop) keeps exactly Keras' window for every combination
    Keras accepts (strides > 1 with dilation > 1 is refused by Keras; output_padding < strides),
    including 'same' + even kernel + output_padding=0, which Keras' TF backend refuses to run and the
    numerical tests above therefore cannot cover."""
    from translator.backends.torch_hatches_conv import transpose_padding

    checked = 0
    for k, s, d, padding, op in itertools.product(range(1, 8), range(1, 5), range(1, 4), ("valid", "same"),
                                                  (None, 0, 1, 2, 3)):
        if (s > 1 and d > 1) or (op is not None and op >= s):
            continue
        p, torch_op, crop = transpose_padding(k, s, d, padding, op)
        start, end = _keras_transpose_window(k, s, d, padding, op)
        assert torch_op < max(s, d) and p >= 0 and crop >= 0
        # torch keeps natural cells [p, N - p + torch_op), then `crop` fewer at the end
        assert (p, p - torch_op + crop) == (start, end), (k, s, d, padding, op)
        checked += 1
    assert checked > 200


# ---- depthwise convolutions ---------------------------------------------------------------------

DEPTHWISE2D = [
    case("k3-valid", "layers.DepthwiseConv2D(3)"),
    case("k3-same", "layers.DepthwiseConv2D(3, padding='same')"),
    case("k2-same-even-kernel", "layers.DepthwiseConv2D(2, padding='same')"),
    case("k3-stride2-same-even-input", "layers.DepthwiseConv2D(3, strides=2, padding='same')"),
    case("multiplier2", "layers.DepthwiseConv2D(3, depth_multiplier=2)"),
    case("multiplier3-stride2-valid", "layers.DepthwiseConv2D((3, 2), strides=2, depth_multiplier=3)"),
    case("multiplier2-same-keyword", "layers.DepthwiseConv2D(kernel_size=3, padding='same', depth_multiplier=2)"),
    case("dilation2-same", "layers.DepthwiseConv2D(3, dilation_rate=2, padding='same')"),
    case("stride2-dilation2-valid", "layers.DepthwiseConv2D(2, strides=2, dilation_rate=2)"),
    case("stride2-dilation2-same", "layers.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding='same')"),
    case("no-bias-relu6", "layers.DepthwiseConv2D(3, use_bias=False, activation='relu6')"),
]


@pytest.mark.parametrize("layer", DEPTHWISE2D)
def test_depthwise_conv2d(layer):
    check(functional((8, 6, 3), f"out = {layer}(x)"), [img(8, 6, 3)])


DEPTHWISE1D = [
    case("k3-valid", "layers.DepthwiseConv1D(3)"),
    case("k3-same-multiplier2", "layers.DepthwiseConv1D(3, padding='same', depth_multiplier=2)"),
    case("k4-stride2-same", "layers.DepthwiseConv1D(4, strides=2, padding='same')"),
    case("dilation2-no-bias", "layers.DepthwiseConv1D(2, dilation_rate=2, use_bias=False)"),
]


@pytest.mark.parametrize("layer", DEPTHWISE1D)
def test_depthwise_conv1d(layer):
    check(functional((8, 3), f"out = {layer}(x)"), [seq(8, 3)])


# ---- separable convolutions ---------------------------------------------------------------------

SEPARABLE2D = [
    case("k3-valid", "layers.SeparableConv2D(5, 3)"),
    case("k3-same", "layers.SeparableConv2D(5, 3, padding='same')"),
    case("k3-stride2-same-even-input", "layers.SeparableConv2D(5, 3, strides=2, padding='same')"),
    case("multiplier2", "layers.SeparableConv2D(5, 3, depth_multiplier=2)"),
    case("k2-same-even-kernel-multiplier3", "layers.SeparableConv2D(4, 2, padding='same', depth_multiplier=3)"),
    case("dilation2-same", "layers.SeparableConv2D(5, 3, dilation_rate=2, padding='same')"),
    case("no-bias", "layers.SeparableConv2D(5, 3, use_bias=False)"),
    case("activation-relu", "layers.SeparableConv2D(5, 3, activation='relu')"),
    case("separableconvolution2d-alias", "layers.SeparableConvolution2D(5, (3, 2))"),
]


@pytest.mark.parametrize("layer", SEPARABLE2D)
def test_separable_conv2d(layer):
    check(functional((8, 6, 3), f"out = {layer}(x)"), [img(8, 6, 3)])


SEPARABLE1D = [
    case("k3-valid", "layers.SeparableConv1D(5, 3)"),
    case("k3-stride2-same", "layers.SeparableConv1D(5, 3, strides=2, padding='same')"),
    case("multiplier2-no-bias", "layers.SeparableConv1D(5, 3, depth_multiplier=2, use_bias=False)"),
    case("separableconvolution1d-alias", "layers.SeparableConvolution1D(5, 2, padding='same')"),
]


@pytest.mark.parametrize("layer", SEPARABLE1D)
def test_separable_conv1d(layer):
    check(functional((8, 3), f"out = {layer}(x)"), [seq(8, 3)])


# ---- 3D pooling -----------------------------------------------------------------------------------

POOL3D = [
    case("max-default", "layers.MaxPooling3D()", (6, 5, 4)),
    case("max-k3-stride2-valid", "layers.MaxPooling3D(3, strides=2)", (7, 6, 5)),
    case("max-k2-same-odd", "layers.MaxPooling3D(2, padding='same')", (5, 5, 3)),
    case("max-k3-stride2-same-even", "layers.MaxPooling3D(3, strides=2, padding='same')", (6, 6, 4)),
    case("max-k2-stride1-same", "layers.MaxPooling3D(2, strides=1, padding='same')", (4, 5, 3)),
    case("max-mixed-same", "layers.MaxPooling3D((2, 3, 1), strides=(1, 2, 1), padding='same')", (5, 6, 3)),
    case("maxpool3d-alias", "layers.MaxPool3D((1, 2, 2))", (4, 4, 4)),
    case("avg-k2", "layers.AveragePooling3D(2)", (6, 5, 4)),
    case("avg-k3-stride2-valid", "layers.AveragePooling3D(3, strides=2)", (7, 6, 5)),
    case("avg-k2-same-odd", "layers.AveragePooling3D(2, padding='same')", (5, 5, 3)),
    case("avg-k3-stride2-same-even", "layers.AveragePooling3D(3, strides=2, padding='same')", (6, 6, 4)),
    case("avg-k2-stride1-same", "layers.AveragePooling3D(2, strides=1, padding='same')", (4, 5, 3)),
    case("avg-k3-stride1-same", "layers.AveragePooling3D(3, strides=1, padding='same')", (4, 5, 3)),
    case("avg-mixed-same", "layers.AveragePooling3D((2, 3, 1), strides=(1, 2, 1), padding='same')", (5, 6, 3)),
    case("avgpool3d-alias", "layers.AvgPool3D((2, 1, 2))", (4, 4, 4)),
]


@pytest.mark.parametrize("layer, dhw", POOL3D)
def test_pool3d(layer, dhw):
    check(functional(dhw + (3,), f"out = {layer}(x)"), [vol(*dhw)])


GLOBAL_POOL3D = [
    case("average", "layers.GlobalAveragePooling3D()"),
    case("average-keepdims", "layers.GlobalAveragePooling3D(keepdims=True)"),
    case("max", "layers.GlobalMaxPooling3D()"),
    case("max-keepdims", "layers.GlobalMaxPooling3D(keepdims=True)"),
    case("globalavgpool3d-alias", "layers.GlobalAvgPool3D()"),
    case("globalmaxpool3d-alias", "layers.GlobalMaxPool3D()"),
]


@pytest.mark.parametrize("layer", GLOBAL_POOL3D)
def test_global_pool3d(layer):
    """After a Conv3D (channels-first in the native layout), then a Dense."""
    code = functional((4, 5, 4, 3), f"""
        c = layers.Conv3D(4, 2)(x)
        g = {layer}(c)
        out = layers.Dense(3)(g)
    """, outputs="[g, out]")
    check(code, [vol(4, 5, 4)])


# ---- padding, upsampling, cropping ---------------------------------------------------------------

RESHAPING_1D = [
    case("zero-padding-default", "layers.ZeroPadding1D()"),
    case("zero-padding-int", "layers.ZeroPadding1D(2)"),
    case("zero-padding-left-right", "layers.ZeroPadding1D((1, 3))"),
    case("zero-padding-right-only", "layers.ZeroPadding1D(padding=(0, 2))"),
    case("up-sampling-default", "layers.UpSampling1D()"),
    case("up-sampling-3", "layers.UpSampling1D(size=3)"),
    case("cropping-default", "layers.Cropping1D()"),
    case("cropping-start-end", "layers.Cropping1D((2, 1))"),
    case("cropping-end-only", "layers.Cropping1D(cropping=(0, 2))"),
    case("cropping-int", "layers.Cropping1D(2)"),
]


@pytest.mark.parametrize("layer", RESHAPING_1D)
def test_reshaping_1d(layer):
    """Applied to a Conv1D output (channels-first in the native layout), then a Conv1D again."""
    code = functional((7, 3), f"""
        c = layers.Conv1D(4, 1)(x)
        p = {layer}(c)
        out = layers.Conv1D(2, 2)(p)
    """, outputs="[p, out]")
    check(code, [seq(7, 3)])


RESHAPING_2D = [
    case("cropping-default-noop", "layers.Cropping2D()"),
    case("cropping-int", "layers.Cropping2D(1)"),
    case("cropping-symmetric-per-axis", "layers.Cropping2D((1, 2))"),
    case("cropping-asymmetric", "layers.Cropping2D(((1, 0), (0, 2)))"),
    case("cropping-keyword", "layers.Cropping2D(cropping=((2, 1), (1, 1)))"),
]


@pytest.mark.parametrize("layer", RESHAPING_2D)
def test_reshaping_2d(layer):
    code = functional((6, 7, 3), f"""
        c = layers.Conv2D(4, 1)(x)
        p = {layer}(c)
        out = layers.Conv2D(2, 2)(p)
    """, outputs="[p, out]")
    check(code, [img(6, 7, 3)])


RESHAPING_3D = [
    case("zero-padding-default", "layers.ZeroPadding3D()"),
    case("zero-padding-int", "layers.ZeroPadding3D(2)"),
    case("zero-padding-per-axis", "layers.ZeroPadding3D((1, 2, 0))"),
    case("zero-padding-asymmetric", "layers.ZeroPadding3D(((1, 0), (0, 2), (2, 1)))"),
    case("up-sampling-default", "layers.UpSampling3D()"),
    case("up-sampling-per-axis", "layers.UpSampling3D(size=(1, 2, 3))"),
    case("cropping-default", "layers.Cropping3D()"),
    case("cropping-int", "layers.Cropping3D(1)"),
    case("cropping-per-axis", "layers.Cropping3D((0, 1, 2))"),
    case("cropping-asymmetric", "layers.Cropping3D(((1, 0), (0, 2), (2, 1)))"),
]


@pytest.mark.parametrize("layer", RESHAPING_3D)
def test_reshaping_3d(layer):
    code = functional((5, 6, 7, 3), f"""
        c = layers.Conv3D(4, 1)(x)
        p = {layer}(c)
        out = layers.Conv3D(2, 2)(p)
    """, outputs="[p, out]")
    check(code, [vol(5, 6, 7)])


# ---- small models of the family ----------------------------------------------------------------------

def test_dcgan_generator():
    """Dense -> Reshape -> Conv2DTranspose(k4, s2, same) + BatchNorm + ReLU stacks -> tanh image."""
    code = functional((8,), """
        x = layers.Dense(4 * 4 * 8, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU()(x)
        x = layers.Reshape((4, 4, 8))(x)
        x = layers.Conv2DTranspose(6, 5, strides=1, padding='same', use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2DTranspose(4, 4, strides=2, padding='same', use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        out = layers.Conv2DTranspose(3, 5, strides=2, padding='same', activation='tanh')(x)
    """)
    check(code, [random_input((2, 8), seed=2)])


def test_mobilenet_block():
    """Inverted residual: 1x1 expand, DepthwiseConv2D + BatchNorm + ReLU6, 1x1 project, residual add;
    then a strided depthwise block, a separable conv and global pooling."""
    code = functional((8, 8, 4), """
        y = layers.Conv2D(12, 1, use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU(6.0)(y)
        y = layers.DepthwiseConv2D(3, padding='same', use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU(max_value=6)(y)
        y = layers.Conv2D(4, 1, use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        x = layers.Add()([x, y])
        x = layers.DepthwiseConv2D(3, strides=2, padding='same', depth_multiplier=2)(x)
        x = layers.SeparableConv2D(6, 3, padding='same', activation='relu')(x)
        out = layers.GlobalAveragePooling2D()(x)
    """)
    check(code, [img(8, 8, 4)])


def test_sequential_3d_stack():
    code = """
        import keras
        from keras import layers

        model = keras.Sequential([
            keras.Input(shape=(6, 6, 6, 2)),
            layers.ZeroPadding3D(1),
            layers.Conv3D(4, 3, strides=2, padding='same', activation='relu'),
            layers.UpSampling3D(2),
            layers.Cropping3D(((1, 0), (0, 1), (1, 1))),
            layers.MaxPooling3D(2, padding='same'),
            layers.Conv3DTranspose(3, 3, strides=2, padding='same'),
            layers.GlobalMaxPooling3D(),
            layers.Dense(2),
        ])
    """
    check(code, [random_input((2, 6, 6, 6, 2), seed=4)])


def test_builder_parameters():
    """depth_multiplier and filters given as builder parameters stay expressions in the torch code."""
    code = """
        import keras
        from keras import layers


        def build_model(filters=8, mult=2):
            inp = keras.Input(shape=(8, 8, 3))
            x = layers.DepthwiseConv2D(3, depth_multiplier=mult, padding='same')(inp)
            x = layers.SeparableConv2D(filters, 3, depth_multiplier=mult, strides=2, padding='same')(x)
            x = layers.Conv2DTranspose(filters, 3, strides=2, padding='same')(x)
            return keras.Model(inp, x)
    """
    check(code, [img(8, 8, 3)], entry="build_model(filters=5, mult=3)")


def test_transpose_with_unknown_spatial_size():
    """Transposed-conv padding does not depend on the input length: None spatial dims translate."""
    code = functional((None, None, 3), """
        x = layers.Conv2DTranspose(4, 3, strides=2, padding='same')(x)
        out = layers.Conv2DTranspose(2, 4, strides=2, padding='same', output_padding=1)(x)
    """)
    check(code, [img(5, 4, 3)])


def test_legacy_tf_keras():
    """Keras 2 (tf_keras) models: its DepthwiseConv2D names the kernel `depthwise_kernel`."""
    pytest.importorskip("tf_keras")
    code = """
        import tf_keras as keras
        from tf_keras import layers

        model = keras.Sequential([
            layers.DepthwiseConv2D(3, padding='same', depth_multiplier=2, input_shape=(8, 8, 3)),
            layers.SeparableConv2D(4, 3, strides=2, padding='same'),
            layers.Conv2DTranspose(3, 3, strides=2, padding='same', output_padding=1),
            layers.Cropping2D(1),
            layers.ZeroPadding2D(1),
        ])
    """
    check(code, [img(8, 8, 3)])


# ---- findings: what is not translated is reported, never silently wrong -----------------------------

def _findings(code, **kwargs):
    from translator.api import translate_source
    result = translate_source(code, **kwargs)
    return [(f.code, f.message) for f in result.findings], result.code


@pytest.mark.parametrize("layer", ["layers.DepthwiseConv2D(3)", "layers.SeparableConv2D(4, 3)",
                                   "layers.Conv2DTranspose(4, 3)"])
def test_unknown_channels_is_reported(layer):
    """No lazy grouped/transposed conv exists in torch: an unknown channel count is FWT302, and the
    model is left as it was."""
    code = f"""import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = {layer}

    def call(self, x):
        return self.conv(x)
"""
    findings, out = _findings(code)
    assert any(c == "FWT302" for c, _ in findings), findings
    assert "fwtranslate FWT302" in out and layer in out


def test_causal_transposed_padding_is_reported():
    """Padding values other than 'valid'/'same' are FWT202 (Keras itself refuses 'causal' here)."""
    code = functional((5, 3), "out = layers.Conv1DTranspose(4, 3, padding='causal')(x)")
    findings, _ = _findings(code)
    assert any(c == "FWT202" for c, _ in findings), findings
