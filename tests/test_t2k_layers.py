"""PyTorch -> Keras, layer by layer: transposed and 3-D convolutions, 3-D pooling, group / instance
normalisation, padding, upsampling, pixel shuffle, Unflatten, the dropout family and the activation
modules (translator/backends/keras_hatches_layers.py, keras_hatches_activations.py).

Each case builds the torch module with random weights (biases, norm scales and running statistics
randomised too), translates it (layout "native" = channels_last interface, "keep" = NCHW interface),
ports the weights and compares (torch eval(), Keras training=False):

    max |torch - keras| <= 1e-5 * max(1, max |torch|)

Cases marked `shape=True` translate with the input shape known (`input_shape=`): sizes the
translation needs (adaptive pooling windows, resize targets, Unflatten) come from it. Constructs Keras
cannot express exactly are left as they were, with a finding (UNSUPPORTED below).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from test_torch_to_keras import ATOL, _np_inputs, model_source
from translator import translate_source
from translator.findings import ERROR

pytestmark = pytest.mark.filterwarnings("ignore:keyword argument `m.._value` is deprecated:FutureWarning")

LAYOUTS = ("native", "keep")
IMG = (2, 4, 8, 8)
VOL = (2, 3, 6, 6, 6)
SEQ = (2, 4, 10)
VEC = (3, 6)

# (id, init, forward, input shapes, layouts, expected Keras snippets (native), input shape known)
CASES = [
    # 3-D and transposed convolutions
    ("conv3d-groups", "self.m = nn.Conv3d(4, 6, 3, groups=2, padding=1)", "return self.m(x)", [(2, 4, 5, 5, 5)],
     LAYOUTS, ["layers.Conv3D(6, 3, padding=\"same\", groups=2)"], False),
    ("conv3d-stride-pad", "self.m = nn.Conv3d(3, 4, (3, 2, 3), stride=2, padding=(1, 0, 1), bias=False)",
     "return self.m(x)", [VOL], ("native",), ["ZeroPadding3D((1, 0, 1))", "strides=2"], False),
    ("convtranspose1d", "self.m = nn.ConvTranspose1d(4, 6, 3)", "return self.m(x)", [SEQ], LAYOUTS,
     ["layers.Conv1DTranspose(6, 3)"], False),
    ("convtranspose1d-stride-pad-outpad", "self.m = nn.ConvTranspose1d(4, 5, 4, stride=3, padding=2, output_padding=1)",
     "return self.m(x)", [SEQ], ("native",), ["output_padding=1", "layers.Cropping1D(2)"], False),
    ("convtranspose2d-dcgan-same", "self.m = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1)", "return self.m(x)",
     [IMG], LAYOUTS, ["layers.Conv2DTranspose(6, 4, strides=2, padding=\"same\")"], False),
    ("convtranspose2d-outpad-crop", "self.m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)",
     "return self.m(x)", [IMG], LAYOUTS, ["output_padding=1", "layers.Cropping2D(1)"], False),
    ("convtranspose2d-k-lt-stride", "self.m = nn.ConvTranspose2d(4, 3, 2, stride=3, bias=False)", "return self.m(x)",
     [IMG], ("native",), ["output_padding=0", "use_bias=False"], False),
    ("convtranspose2d-tuples", "self.m = nn.ConvTranspose2d(4, 3, (3, 5), stride=(2, 1), padding=(0, 2))",
     "return self.m(x)", [IMG], ("native",), ["strides=(2, 1)", "Cropping2D(((0, 0), (2, 2)))"], False),
    ("convtranspose2d-dilation", "self.m = nn.ConvTranspose2d(4, 3, 3, dilation=2)", "return self.m(x)", [IMG],
     ("native",), ["dilation_rate=2"], False),
    ("convtranspose3d", "self.m = nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1, output_padding=1)",
     "return self.m(x)", [VOL], LAYOUTS, ["layers.Conv3DTranspose(2, 3, strides=2, output_padding=1)"], False),
    # 3-D pooling, adaptive pooling to other sizes
    ("maxpool3d", "self.m = nn.MaxPool3d(2)", "return self.m(x)", [VOL], LAYOUTS,
     ["layers.MaxPooling3D(pool_size=2)"], False),
    ("maxpool3d-pad", "self.m = nn.MaxPool3d(3, stride=2, padding=1)", "return self.m(x)", [VOL], ("native",),
     ['constant_values=float("-inf")'], False),
    ("avgpool3d-stride", "self.m = nn.AvgPool3d((2, 3, 3), stride=(1, 2, 2))", "return self.m(x)", [VOL], LAYOUTS,
     ["layers.AveragePooling3D(pool_size=(2, 3, 3), strides=(1, 2, 2))"], False),
    ("avgpool3d-pad-counted", "self.m = nn.AvgPool3d(3, stride=2, padding=1)", "return self.m(x)", [VOL],
     ("native",), ["layers.ZeroPadding3D(1)"], False),
    ("avgpool3d-pad-excluded-same", "self.m = nn.AvgPool3d(3, stride=1, padding=1, count_include_pad=False)",
     "return self.m(x)", [VOL], ("native",), ['padding="same"'], False),
    ("maxpool2d-ceil", "self.m = nn.MaxPool2d(3, stride=2, ceil_mode=True)", "return self.m(x)", [IMG], LAYOUTS,
     ["keras.ops.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], constant_values=float(\"-inf\"))"], True),
    ("maxpool2d-ceil-pad-after-relu", "self.m = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)",
     "return self.m(torch.relu(x))", [(2, 4, 8, 7)], ("native",), ["layers.ZeroPadding2D(((1, 2), (1, 1)))"], True),
    ("maxpool2d-ceil-no-extra-window", "self.m = nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True)",
     "return self.m(x)", [(2, 4, 7, 9)], ("native",), ['constant_values=float("-inf")'], True),
    ("maxpool1d-ceil-last-window-dropped", "self.m = nn.MaxPool1d(2, stride=2, padding=1, ceil_mode=True)",
     "return self.m(x)", [(2, 4, 9)], ("native",), ["constant_values="], True),
    ("maxpool3d-ceil-sequential", "self.seq = nn.Sequential(nn.Conv3d(3, 2, 1), nn.MaxPool3d(2, ceil_mode=True))",
     "return self.seq(x)", [(2, 3, 5, 6, 7)], LAYOUTS, ["layers.Lambda(lambda x: keras.ops.pad(x, [[0, 0], [0, 1], "
                                                         "[0, 0], [0, 1], [0, 0]]"], True),
    ("avgpool2d-ceil-resnet-d", "self.m = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)",
     "return self.m(x)", [(2, 4, 7, 9)], LAYOUTS, ["layers.Lambda(lambda x: keras.ops.average_pool("], True),
    ("avgpool2d-ceil-pad-counted", "self.m = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)", "return self.m(x)",
     [(2, 4, 8, 7)], ("native",), ["constant_values=1.0"], True),
    ("avgpool1d-pad-excluded", "self.m = nn.AvgPool1d(4, 3, padding=2, count_include_pad=False)", "return self.m(x)",
     [SEQ], LAYOUTS, ["keras.ops.ones_like(x)"], False),
    ("avgpool3d-ceil-sequential", "self.seq = nn.Sequential(nn.Conv3d(3, 2, 1), nn.AvgPool3d(2, ceil_mode=True))",
     "return self.seq(x)", [(2, 3, 5, 6, 7)], ("native",), ["layers.Lambda("], True),
    ("adaptive-avg3d-global", "self.m = nn.AdaptiveAvgPool3d(1)", "return self.m(x)", [VOL], LAYOUTS,
     ["layers.GlobalAveragePooling3D(keepdims=True)"], False),
    ("adaptive-max3d-global", "self.m = nn.AdaptiveMaxPool3d((1, 1, 1))", "return torch.flatten(self.m(x), 1)",
     [VOL], ("native",), ["layers.GlobalMaxPooling3D()"], False),
    ("adaptive-avg2d-size", "self.m = nn.AdaptiveAvgPool2d(4)", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.AveragePooling2D(pool_size=2)"], True),
    ("adaptive-max2d-size", "self.m = nn.AdaptiveMaxPool2d((2, 4))", "return self.m(x)", [IMG], ("native",),
     ["layers.MaxPooling2D(pool_size=(4, 2))"], True),
    ("adaptive-avg1d-size", "self.m = nn.AdaptiveAvgPool1d(5)", "return self.m(x)", [SEQ], LAYOUTS,
     ["layers.AveragePooling1D(pool_size=2)"], True),
    ("adaptive-max1d-size", "self.m = nn.AdaptiveMaxPool1d(2)", "return self.m(x)", [SEQ], ("native",),
     ["layers.MaxPooling1D(pool_size=5)"], True),
    ("adaptive-avg2d-not-divisible", "self.m = nn.AdaptiveAvgPool2d((3, 5))", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.AdaptiveAveragePooling2D((3, 5))"], False),
    ("adaptive-max2d-size-unknown", "self.m = nn.AdaptiveMaxPool2d(3)", "return self.m(x)", [(2, 4, 10, 7)], ("native",),
     ["layers.AdaptiveMaxPooling2D(3)"], False),
    ("adaptive-avg1d-not-divisible", "self.m = nn.AdaptiveAvgPool1d(3)", "return self.m(x)", [SEQ], ("native",),
     ["layers.AdaptiveAveragePooling1D(3)"], True),
    ("adaptive-max3d", "self.m = nn.AdaptiveMaxPool3d((2, 4, 3))", "return self.m(x)", [VOL], LAYOUTS,
     ["layers.AdaptiveMaxPooling3D((2, 4, 3))"], False),
    ("adaptive-avg2d-none", "self.m = nn.AdaptiveAvgPool2d((None, 2))", "return self.m(x)", [IMG], ("native",),
     ["layers.AveragePooling2D(pool_size=(1, 4))"], True),
    # normalisation
    ("batchnorm3d", "self.m = nn.BatchNorm3d(3, eps=1e-3, momentum=0.2)", "return self.m(x)", [VOL], LAYOUTS,
     ["layers.BatchNormalization(momentum=0.8, epsilon=0.001)"], False),
    ("groupnorm", "self.m = nn.GroupNorm(2, 4)", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.GroupNormalization(groups=2, epsilon=1e-05)"], True),
    ("groupnorm-no-affine-eps", "self.m = nn.GroupNorm(4, 4, eps=1e-3, affine=False)", "return self.m(x)", [SEQ],
     LAYOUTS, ["groups=4, epsilon=0.001, center=False, scale=False"], True),
    ("groupnorm-vectors", "self.fc = nn.Linear(6, 8)\nself.m = nn.GroupNorm(2, 8)", "return self.m(self.fc(x))",
     [VEC], ("native",), ["layers.GroupNormalization(groups=2"], True),
    ("instancenorm2d", "self.m = nn.InstanceNorm2d(4)", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.GroupNormalization(groups=-1, epsilon=1e-05, center=False, scale=False)"], False),
    ("instancenorm1d-affine", "self.m = nn.InstanceNorm1d(4, affine=True, eps=1e-4)", "return self.m(x)", [SEQ],
     LAYOUTS, ["layers.GroupNormalization(groups=-1, epsilon=0.0001)"], False),
    ("instancenorm3d-affine", "self.m = nn.InstanceNorm3d(3, affine=True)", "return self.m(x)", [VOL], ("native",),
     ["layers.GroupNormalization(groups=-1, epsilon=1e-05)"], False),
    ("instancenorm2d-running-stats", "self.m = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)",
     "return self.m(x)", [IMG], LAYOUTS, ["layers.BatchNormalization(momentum=0.9, epsilon=1e-05)"], False),
    # padding
    ("zeropad2d", "self.m = nn.ZeroPad2d(2)", "return self.m(x)", [IMG], LAYOUTS, ["layers.ZeroPadding2D(2)"], False),
    ("zeropad2d-asymmetric", "self.m = nn.ZeroPad2d((1, 2, 3, 0))", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.ZeroPadding2D(((3, 0), (1, 2)))"], False),
    ("zeropad1d", "self.m = nn.ZeroPad1d((0, 3))", "return self.m(x)", [SEQ], LAYOUTS,
     ["layers.ZeroPadding1D((0, 3))"], False),
    ("zeropad3d", "self.m = nn.ZeroPad3d((1, 1, 0, 2, 1, 0))", "return self.m(x)", [VOL], ("native",),
     ["layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)))"], False),
    ("constantpad2d", "self.m = nn.ConstantPad2d((1, 0, 2, 1), -0.5)", "return self.m(x)", [IMG], LAYOUTS,
     ["keras.ops.pad(x, [[0, 0], [2, 1], [1, 0], [0, 0]], constant_values=-0.5)"], False),
    ("constantpad1d-zero", "self.m = nn.ConstantPad1d(2, 0.0)", "return self.m(x)", [SEQ], ("native",),
     ["layers.ZeroPadding1D(2)"], False),
    ("constantpad3d", "self.m = nn.ConstantPad3d(1, 2.0)", "return self.m(x)", [VOL], ("native",),
     ["constant_values=2.0"], False),
    # upsampling
    ("upsample-nearest2d", "self.m = nn.Upsample(scale_factor=2)", "return self.m(x)", [IMG], LAYOUTS,
     ["layers.UpSampling2D(size=2)"], True),
    ("upsample-bilinear2d", "self.m = nn.Upsample(scale_factor=(2, 3), mode='bilinear')", "return self.m(x)", [IMG],
     LAYOUTS, ['layers.UpSampling2D(size=(2, 3), interpolation="bilinear")'], True),
    ("upsample-bilinear-align-false", "self.conv = nn.Conv2d(4, 4, 1)\nself.m = nn.Upsample(scale_factor=2.0, "
     "mode='bilinear', align_corners=False)", "return self.m(self.conv(x))", [IMG], ("native",),
     ['interpolation="bilinear"'], False),
    ("upsample-size-multiple", "self.m = nn.Upsample(size=(16, 24))", "return self.m(x)", [IMG], ("native",),
     ["layers.UpSampling2D(size=(2, 3))"], True),
    ("upsample-size-resize-bilinear", "self.m = nn.Upsample(size=(12, 10), mode='bilinear')", "return self.m(x)",
     [IMG], LAYOUTS, ['layers.Resizing(12, 10, interpolation="bilinear")'], True),
    ("upsample-size-nearest-exact", "self.m = nn.Upsample(size=(11, 13), mode='nearest-exact')", "return self.m(x)",
     [IMG], ("native",), ['layers.Resizing(11, 13, interpolation="nearest")'], True),
    ("upsample-fractional-bilinear", "self.m = nn.Upsample(scale_factor=1.5, mode='bilinear')", "return self.m(x)",
     [IMG], ("native",), ['layers.Resizing(12, 12, interpolation="bilinear")'], True),
    ("upsample-fractional-nearest-exact", "self.m = nn.Upsample(scale_factor=(1.25, 0.5), mode='nearest-exact')",
     "return self.m(x)", [IMG], ("native",), ['layers.Resizing(10, 4, interpolation="nearest")'], True),
    ("upsample-nearest1d", "self.m = nn.Upsample(scale_factor=3)", "return self.m(x)", [SEQ], LAYOUTS,
     ["layers.UpSampling1D(size=3)"], True),
    ("upsample-linear1d", "self.m = nn.Upsample(scale_factor=3, mode='linear')", "return self.m(x)", [SEQ], LAYOUTS,
     ['keras.ops.squeeze(keras.ops.image.resize(keras.ops.expand_dims(x, 2), (30, 1), interpolation="bilinear"), 2)'],
     True),
    ("upsample-linear1d-size-unknown", "self.conv = nn.Conv1d(4, 3, 1)\nself.m = nn.Upsample(scale_factor=2, "
     "mode='linear')", "return self.m(self.conv(x))", [SEQ], ("native",), ["(x.shape[1] * 2, 1)"], False),
    ("upsample-linear1d-fraction", "self.m = nn.Upsample(size=7, mode='linear')", "return self.m(x)", [SEQ],
     ("native",), ["(7, 1)"], True),
    ("upsample-nearest3d", "self.m = nn.Upsample(scale_factor=2, mode='nearest')", "return self.m(x)", [VOL],
     ("native",), ["layers.UpSampling3D(size=2)"], True),
    ("upsampling-nearest2d-legacy", "self.conv = nn.Conv2d(4, 2, 1)\nself.m = nn.UpsamplingNearest2d(scale_factor=2)",
     "return self.m(self.conv(x))", [IMG], LAYOUTS, ["layers.UpSampling2D(size=2)"], False),
    # pixel shuffle
    ("pixelshuffle", "self.conv = nn.Conv2d(4, 12, 3, padding=1)\nself.m = nn.PixelShuffle(2)",
     "return self.m(self.conv(x))", [IMG], LAYOUTS, ["keras.ops.depth_to_space(keras.ops.take("], False),
    ("pixelunshuffle", "self.m = nn.PixelUnshuffle(2)", "return self.m(x)", [IMG], LAYOUTS,
     ["keras.ops.space_to_depth(x, 2)"], True),
    ("pixelshuffle-roundtrip", "self.a = nn.PixelUnshuffle(2)\nself.conv = nn.Conv2d(16, 16, 1)\n"
     "self.b = nn.PixelShuffle(2)", "return self.b(self.conv(self.a(x)))", [IMG], ("native",),
     ["space_to_depth", "depth_to_space"], True),
    ("pixelshuffle-sequential", "self.seq = nn.Sequential(nn.Conv2d(4, 8, 1), nn.PixelShuffle(2), nn.ReLU())",
     "return self.seq(x)", [IMG], LAYOUTS, ["layers.Lambda(lambda x: keras.ops.depth_to_space("], False),
    ("pixelunshuffle-channels-unknown", "self.m = nn.PixelUnshuffle(2)\nself.conv = nn.Conv2d(16, 4, 1)",
     "return self.conv(self.m(x))", [IMG], LAYOUTS, ["layers.Lambda(lambda x: keras.ops.take(keras.ops.space_to_depth("
                                                    "x, 2), [m * x.shape[-1] + c for c in range(x.shape[-1]) "
                                                    "for m in range(4)], axis=-1))"], False),
    ("pixelshuffle-input-size-unknown", "self.m = nn.PixelShuffle(2)", "return self.m(x)", [(2, 8, 3, 5)], LAYOUTS,
     ["range(x.shape[-1] // 4)"], False),
    # Unflatten, Identity
    ("unflatten-to-conv", "self.fc = nn.Linear(6, 32)\nself.m = nn.Unflatten(1, (2, 4, 4))\n"
     "self.conv = nn.Conv2d(2, 3, 3)", "return self.conv(self.m(self.fc(x)))", [VEC], ("native",),
     ["layers.Reshape((2, 4, 4))"], True),
    ("unflatten-last", "self.m = nn.Unflatten(-1, (5, -1))", "return self.m(x)", [SEQ], ("native",),
     ["layers.Reshape((4, 5, 2))"], True),
    ("unflatten-one-axis", "self.m = nn.Unflatten(1, (10,))", "return self.m(x)", [(3, 10)], ("native",),
     ["layers.Reshape((10,))"], True),
    ("identity", "self.m = nn.Identity()\nself.conv = nn.Conv2d(4, 2, 1)", "return self.conv(self.m(x))", [IMG],
     LAYOUTS, ["layers.Identity()"], False),
    # dropout family: the identity at inference
    ("dropout-family", "self.a = nn.Dropout1d(0.2)\nself.b = nn.AlphaDropout(0.1)",
     "return self.b(self.a(x))", [SEQ], LAYOUTS, ["layers.SpatialDropout1D(0.2)", "layers.AlphaDropout(0.1)"], False),
    ("dropout2d-3d", "self.a = nn.Dropout2d()\nself.conv = nn.Conv3d(3, 2, 1)\nself.b = nn.Dropout3d(0.3)",
     "return self.b(self.conv(x))", [VOL], ("native",), ["layers.SpatialDropout3D(0.3)"], False),
    ("dropout2d", "self.a = nn.Dropout2d(0.4)", "return self.a(x)", [IMG], LAYOUTS, ["layers.SpatialDropout2D(0.4)"],
     False),
    # activation modules
    ("activations-plain", """\
        self.a = nn.SELU()
        self.b = nn.Mish()
        self.c = nn.Softsign()
        self.d = nn.Tanhshrink()
        self.e = nn.LogSigmoid()
        self.f = nn.ReLU6(inplace=True)""", "return self.a(x) + self.b(x) + self.c(x) + self.d(x) + self.e(x) + self.f(x * 4)",
     [IMG], ("native",), ['layers.Activation("selu")', 'layers.Activation("mish")', 'layers.Activation("softsign")',
                          'layers.Activation("tanh_shrink")', 'layers.Activation("log_sigmoid")',
                          'layers.Activation("relu6")'], False),
    ("hardswish-hardsigmoid", "self.a = nn.Hardswish()\nself.b = nn.Hardsigmoid()", "y = x * 4\nreturn self.a(y) - self.b(y)",
     [VEC], ("native",), ['layers.Activation("hard_silu")', 'layers.Activation("hard_sigmoid")'], False),
    ("elu-celu", "self.a = nn.ELU()\nself.b = nn.ELU(alpha=0.5)\nself.c = nn.CELU()\nself.d = nn.CELU(0.7)",
     "return self.a(x) + self.b(x) * self.c(x) - self.d(x)", [VEC], ("native",),
     ["layers.ELU()", "layers.ELU(alpha=0.5)", 'layers.Activation("celu")', "keras.ops.celu(x, alpha=0.7)"], False),
    ("gelu-tanh", "self.a = nn.GELU(approximate='tanh')\nself.b = nn.GELU()", "return self.a(x) + self.b(x)", [IMG],
     ("native",), ["keras.ops.gelu(x, approximate=True)", 'layers.Activation("gelu")'], False),
    ("softplus", "self.a = nn.Softplus()\nself.b = nn.Softplus(beta=2.0, threshold=1.0)\nself.c = nn.Softplus(threshold=0.5)",
     "y = x * 8\nreturn self.a(y) + self.b(y) + self.c(y)", [VEC], ("native",),
     ['layers.Activation("softplus")', "layers.Lambda(lambda x: keras.ops.where(x * 2.0 > 1.0, x, keras.ops.softplus(x * 2.0) / 2.0))"],
     False),
    ("hardtanh-relu6", "self.a = nn.Hardtanh()\nself.b = nn.Hardtanh(-0.5, 2.0)\nself.c = nn.Hardtanh(min_value=0.0, max_value=1.5)",
     "y = x * 3\nreturn self.a(y) + self.b(y) + self.c(y)", [VEC], ("native",),
     ['layers.Activation("hard_tanh")', "keras.ops.clip(y, -0.5, 2.0)", "keras.ops.clip(y, 0.0, 1.5)"], False),
    ("shrinks", "self.a = nn.Hardshrink()\nself.b = nn.Hardshrink(0.2)\nself.c = nn.Softshrink()\nself.d = nn.Softshrink(1.0)",
     "return self.a(x) + self.b(x) + self.c(x) + self.d(x)", [VEC], ("native",),
     ['layers.Activation("hard_shrink")', "keras.ops.hard_shrink(x, threshold=0.2)",
      'layers.Activation("soft_shrink")', "keras.ops.soft_shrink(x, threshold=1.0)"], False),
    ("threshold", "self.a = nn.Threshold(0.1, 20.0)\nself.b = nn.Threshold(-0.5, -2)",
     "return self.a(x) + self.b(x)", [VEC], ("native",), ["keras.ops.threshold(x, 0.1, 20.0)"], False),
    ("glu", "self.a = nn.GLU()\nself.b = nn.GLU(dim=1)\nself.conv = nn.Conv2d(4, 6, 1)",
     "y = self.conv(x)\nreturn self.a(y), self.b(y)", [IMG], LAYOUTS,
     ["keras.ops.glu(y, axis=2)", 'layers.Activation("glu")'], False),
    ("log-softmax-softmin", "self.conv = nn.Conv2d(4, 3, 1)\nself.a = nn.LogSoftmax(dim=1)\nself.b = nn.Softmin(dim=1)\n"
     "self.c = nn.LogSoftmax(dim=-1)", "y = self.conv(x)\nreturn self.a(y), self.b(y), self.c(y)", [IMG], LAYOUTS,
     ['layers.Activation("log_softmax")', "keras.ops.softmax(-y)", "keras.ops.log_softmax(y, axis=2)"], False),
    ("log-softmax-input", "self.a = nn.LogSoftmax(dim=1)", "return self.a(x)", [IMG], LAYOUTS,
     ["keras.ops.log_softmax(x, axis=1)"], True),
    ("softmax2d-rrelu", "self.conv = nn.Conv2d(4, 3, 1)\nself.a = nn.Softmax2d()\nself.b = nn.RReLU(0.1, 0.3)",
     "y = self.conv(x)\nreturn self.a(y) + self.b(y)", [IMG], LAYOUTS,
     ["layers.Softmax()", "layers.LeakyReLU(negative_slope=0.2)"], False),
    ("softmin-vectors", "self.b = nn.Softmin(dim=-1)", "return self.b(x)", [VEC], ("native",),
     ["keras.ops.softmax(-x)"], False),
    ("prelu-shared", "self.conv = nn.Conv2d(4, 3, 1)\nself.a = nn.PReLU()", "return self.a(self.conv(x))", [IMG],
     LAYOUTS, ["layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2, 3])"], False),
    ("prelu-channels", "self.conv = nn.Conv2d(4, 3, 1)\nself.a = nn.PReLU(3, init=0.1)", "return self.a(self.conv(x))",
     [IMG], LAYOUTS, ["layers.PReLU(alpha_initializer=keras.initializers.Constant(0.1), shared_axes=[1, 2])"], False),
    ("prelu-vectors", "self.fc = nn.Linear(6, 5)\nself.a = nn.PReLU(5)", "return self.a(self.fc(x))", [VEC],
     ("native",), ["layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25))"], True),
    ("prelu-sequences", "self.a = nn.PReLU(4)", "return self.a(x)", [SEQ], ("native",), ["shared_axes=[2]"], True),
    ("activations-in-sequential", "self.seq = nn.Sequential(nn.Conv2d(4, 4, 1), nn.CELU(0.5), nn.Softplus(beta=2.0),"
     " nn.Hardtanh(-1.0, 0.5), nn.Softmin(dim=1), nn.ConstantPad2d(1, 0.25), nn.PReLU(4), nn.Threshold(0.1, 0.0))",
     "return self.seq(x)", [IMG], LAYOUTS, ["layers.Lambda(lambda x: keras.ops.celu(x, alpha=0.5))",
                                            "layers.Rescaling(-1.0)", "layers.Softmax()"], False),
]


def _params():
    out = []
    for cid, init, forward, shapes, layouts, snippets, known in CASES:
        for layout in layouts:
            out.append(pytest.param(init, forward, shapes, layout, snippets, known, id=f"{cid}-{layout}"))
    return out


@pytest.mark.parametrize("init, forward, shapes, layout, snippets, known", _params())
def test_layer_numeric(init, forward, shapes, layout, snippets, known):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from translator.verify.port_torch import compare_torch_source
    src = model_source(init, forward)
    input_shape = [tuple(s[1:]) for s in shapes] if known else None
    result = translate_source(src, to="keras", layout=layout, input_shape=input_shape)
    errors = [f.format() for f in result.findings if f.severity == ERROR]
    assert not errors, "\n".join(errors) + "\n" + result.code
    assert "nn." not in result.code.split("class Net", 1)[1], result.code
    if layout == "native":
        for snippet in snippets:
            assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", layout=layout, result=result)
    assert comparison.ok(ATOL), (f"max abs error {comparison.max_abs} for scale {comparison.scale}\n"
                                 f"{result.code}")


def test_instance_norm_with_running_stats_warns():
    src = model_source("self.m = nn.InstanceNorm2d(4, track_running_stats=True)", "return self.m(x)")
    result = translate_source(src, to="keras")
    assert [(f.code, f.severity) for f in result.findings] == [("FWT402", "warning")]
    assert "training mode" in result.findings[0].message


# ---- not translated: left as they were, with a finding --------------------------------------------

UNSUPPORTED = [
    ("convtranspose-dilation-and-stride", "self.m = nn.ConvTranspose2d(4, 4, 3, stride=2, dilation=2)",
     "return self.m(x)", None, "FWT202"),
    ("convtranspose-outpad-ge-stride", "self.m = nn.ConvTranspose2d(4, 4, 3, stride=1, dilation=2, output_padding=1)",
     "return self.m(x)", None, "FWT202"),
    ("avgpool-ceil-size-unknown", "self.m = nn.AvgPool2d(3, stride=2, ceil_mode=True)", "return self.m(x)", None,
     "FWT202"),
    ("maxpool-ceil-size-unknown", "self.m = nn.MaxPool2d(3, stride=2, ceil_mode=True)", "return self.m(x)", None,
     "FWT202"),
    ("adaptive-none-size-unknown", "self.m = nn.AdaptiveMaxPool2d((None, 2))", "return self.m(x)", None, "FWT202"),
    ("upsample-bicubic", "self.m = nn.Upsample(scale_factor=2, mode='bicubic')", "return self.m(x)", (4, 8, 8),
     "FWT202"),
    ("upsample-align-corners", "self.m = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)",
     "return self.m(x)", (4, 8, 8), "FWT202"),
    ("upsample-nearest-not-multiple", "self.m = nn.Upsample(size=(11, 13))", "return self.m(x)", (4, 8, 8), "FWT202"),
    ("upsample-linear-align-corners", "self.m = nn.Upsample(scale_factor=2, mode='linear', align_corners=True)",
     "return self.m(x)", (4, 8), "FWT202"),
    ("upsample-trilinear", "self.m = nn.Upsample(scale_factor=2, mode='trilinear')", "return self.m(x)",
     (3, 4, 4, 4), "FWT202"),
    ("upsampling-bilinear2d-align-corners", "self.m = nn.UpsamplingBilinear2d(scale_factor=2)", "return self.m(x)",
     (4, 8, 8), "FWT202"),
    ("upsample-rank-unknown", "self.m = nn.Upsample(scale_factor=2)", "return self.m(x)", None, "FWT302"),
    ("pixelshuffle-channels-not-multiple", "self.m = nn.PixelShuffle(2)", "return self.m(x)", (6, 4, 4), "FWT202"),
    ("zeropad-negative", "self.m = nn.ZeroPad2d(-1)", "return self.m(x)", None, "FWT202"),
    ("instancenorm-unbatched", "self.m = nn.InstanceNorm1d(4)", "return self.m(x)", (4,), "FWT202"),
    ("prelu-rank-unknown", "self.m = nn.PReLU()", "return self.m(x)", None, "FWT302"),
    ("gelu-unknown-approximation", "self.m = nn.GELU(approximate='erf')", "return self.m(x)", None, "FWT202"),
    ("log-softmax-implicit-dim", "self.m = nn.LogSoftmax()", "return self.m(x)", None, "FWT202"),
    ("symbolic-kernel-tuple", "self.m = nn.ConvTranspose2d(4, 4, (3, self.k))", "return self.m(x)", None, "FWT202"),
    ("unflatten-batch", "self.m = nn.Unflatten(0, (2, -1))", "return self.m(x)", (6,), "FWT202"),
]


@pytest.mark.parametrize("init, forward, shape, code", [pytest.param(i, f, s, c, id=cid) for cid, i, f, s, c in UNSUPPORTED])
def test_unsupported_is_left_as_is_with_a_finding(init, forward, shape, code):
    src = model_source(init, forward)
    result = translate_source(src, to="keras", input_shape=[shape] if shape else None)
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert result.findings[0].severity == ERROR
    assert f"# fwtranslate {code}: " in result.code
    assert "class Net(nn.Module)" in result.code


def test_prelu_weight_inverse_needs_the_keras_shape():
    np = pytest.importorskip("numpy")
    from translator.rules.transforms import INVERSES, WEIGHT_TRANSFORMS, discover_transforms
    discover_transforms()
    alpha = np.arange(6.0).reshape(1, 1, 6)
    flat = WEIGHT_TRANSFORMS["flatten"](alpha)
    back = WEIGHT_TRANSFORMS[INVERSES["flatten"]](flat, {"keras_shape": (1, 1, 6)})
    assert np.array_equal(back, alpha)
    with pytest.raises(ValueError):
        WEIGHT_TRANSFORMS[INVERSES["flatten"]](flat, {"keras_shape": (1, 1, 4)})


GENERATOR = '''\
import torch
import torch.nn as nn


class Generator(nn.Module):
    """DCGAN-style generator, with the other upsampling modules of this file on top."""

    def __init__(self, nz=16, ngf=8, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.InstanceNorm2d(ngf, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Conv2d(ngf, nc * 4, 3, padding=1),
            nn.PixelShuffle(2),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.main(x)
'''


@pytest.mark.parametrize("layout", LAYOUTS)
def test_generator_with_symbolic_channel_counts(layout):
    """Channel counts built from constructor arguments (ngf * 4): the Keras code keeps the expressions and
    PixelShuffle reads its channel count from the tensor."""
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(GENERATOR, to="keras", layout=layout)
    assert not result.findings, [f.format() for f in result.findings]
    assert "layers.Conv2DTranspose(ngf * 2, 4, strides=2, padding=\"same\", use_bias=False)" in result.code
    assert "layers.GroupNormalization(groups=-1, epsilon=1e-05)" in result.code
    comparison = compare_torch_source(GENERATOR, "Generator()", _np_inputs([(2, 16, 1, 1)]), "Generator",
                                      layout=layout, result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_unflatten_with_sizes_from_constructor_arguments():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = GENERATOR.split("class Generator", 1)[0] + '''\
class Head(nn.Module):
    def __init__(self, nz=6, ngf=2):
        super().__init__()
        self.fc = nn.Linear(nz, ngf * 4 * 4 * 4)
        self.unflatten = nn.Unflatten(1, (ngf * 4, 4, 4))
        self.up = nn.ConvTranspose2d(ngf * 4, ngf, 4, 2, 1)

    def forward(self, z):
        return self.up(self.unflatten(self.fc(z)))
'''
    result = translate_source(src, to="keras", input_shape=[(6,)])
    assert [f.code for f in result.findings] == ["FWT401"], [f.format() for f in result.findings]
    assert "layers.Reshape((ngf * 4, 4, 4))" in result.code
    comparison = compare_torch_source(src, "Head()", _np_inputs([(3, 6)]), "Head", result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_depthwise_conv_with_symbolic_channels_becomes_depthwise_conv2d():
    # Conv2d(c, c, 3, groups=c) with c a local variable: depthwise whatever c is
    init = "c = 4 * 2\nself.dw = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)"
    src = model_source(init, "return self.dw(x)")
    result = translate_source(src, to="keras")
    assert "DepthwiseConv2D(3" in result.code and "groups" not in result.code, result.code
    from translator.verify.port_torch import compare_torch_source
    comparison = compare_torch_source(src, "Net()", _np_inputs([(2, 8, 6, 6)]), "Net", layout="native",
                                      result=result)
    assert comparison.ok(ATOL), comparison.max_abs
