"""The torch layer families the torch-model fuzzer generates (`--to keras`): one table entry each.

A `TorchFamily` names the torch classes it needs (`requires`: generated only when the torch -> Keras
direction knows each class, i.e. a rule with a `torch_signature` lists it; families for classes that
gain a rule later switch themselves on), the tensor kinds it applies to, and a `build` function that
draws hyper-parameters for an input shape and returns a `Step`: the module constructor (or None for
a plain expression in `forward`), how it is applied, and the output shape and kind it predicts.
Shapes are torch's, without the batch axis. The harness checks each prediction against torch.

Tensor kinds: "vec" (F,), "seq" (T, F) batch-first sequences, "cl1" (C, L) channels-first
sequences, "img" (C, H, W), "vol" (C, D, H, W), "tok" (T,) int64 token ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

VOCAB = 20
MAX_DIM = 16
MAX_ELEMS = 1024


@dataclass
class Step:
    ctor: str | None            # "nn.Conv2d(3, 8, 3)"; None: an expression in forward only
    call: str                   # "{m}({x})": {m} the module, {x} the input expression
    out: tuple
    kind: str
    in_sequential: bool = True  # may go in an nn.Sequential (a module applied as {m}({x}))


@dataclass(frozen=True)
class TorchFamily:
    name: str
    requires: tuple[str, ...]          # torch.nn class names
    kinds: tuple[str, ...]
    build: Callable                    # (TG, shape, kind, keep) -> Step | None
    weight: int = 10


class TG:
    """Draw helpers over hypothesis' `draw`."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self._draw, self._st = draw, st

    def int(self, lo: int, hi: int) -> int:
        return self._draw(self._st.integers(lo, max(lo, hi)))

    def pick(self, options):
        return self._draw(self._st.sampled_from(list(options)))

    def flag(self, p_true: int = 1, p_false: int = 1) -> bool:
        return self.pick([True] * p_true + [False] * p_false)


def _conv_len(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _kw(args: list, name: str, value, default) -> None:
    if value != default:
        args.append(f"{name}={value!r}")


# ---- builders -------------------------------------------------------------------------------------

def linear(g, shape, kind, keep):
    f = shape[-1]
    out = f if keep == "shape" else g.int(1, 12)
    args = [str(f), str(out)]
    _kw(args, "bias", g.flag(3, 1), True)
    return Step(f"nn.Linear({', '.join(args)})", "{m}({x})", shape[:-1] + (out,), kind)


def conv(n):
    cls = f"Conv{n}d"

    def build(g, shape, kind, keep):
        c, spatial = shape[0], shape[1:]
        groups = g.pick([1, 1, 1] + [d for d in (2, 3, 4) if c % d == 0])
        out_c = c if keep == "shape" else groups * g.int(1, max(1, 8 // groups))
        k = g.int(1, 4)
        stride = 1 if keep == "shape" else g.pick([1, 1, 2])
        dilation = g.pick([1, 1, 1, 2]) if stride == 1 else 1
        eff = dilation * (k - 1) + 1
        args = [str(c), str(out_c), str(k)]
        if stride != 1:
            args.append(f"stride={stride}")
        if keep == "shape" or (stride == 1 and g.flag(1, 2)):       # output size = input size
            if eff % 2 == 1 and g.flag():
                args.append(f"padding={(eff - 1) // 2}") if eff > 1 else None
            else:
                args.append("padding='same'")
            out_sp = tuple(spatial)
        else:
            padding = g.int(0, k // 2)
            if padding:
                args.append(f"padding={padding}")
            out_sp = tuple(_conv_len(d, k, stride, padding, dilation) for d in spatial)
        if any(d < 1 for d in out_sp):
            return None
        if dilation != 1:
            args.append(f"dilation={dilation}")
        if groups != 1:
            args.append(f"groups={groups}")
        _kw(args, "bias", g.flag(3, 1), True)
        return Step(f"nn.{cls}({', '.join(args)})", "{m}({x})", (out_c,) + out_sp, kind)
    return build


def pool(n, kind_):
    cls = f"{'Max' if kind_ == 'max' else 'Avg'}Pool{n}d"

    def build(g, shape, kind, keep):
        if keep == "shape":
            return None
        c, spatial = shape[0], shape[1:]
        k = g.int(1, min(3, min(spatial)))
        stride = g.pick([None, 1, 2])
        s = stride or k
        padding = g.int(0, k // 2) if g.flag(1, 2) else 0
        out_sp = tuple((d + 2 * padding - k) // s + 1 for d in spatial)
        if any(d < 1 for d in out_sp):
            return None
        args = [str(k)]
        if stride is not None:
            args.append(f"stride={stride}")
        if padding:
            args.append(f"padding={padding}")
            if kind_ == "avg":
                _kw(args, "count_include_pad", g.flag(), True)
        return Step(f"nn.{cls}({', '.join(args)})", "{m}({x})", (c,) + out_sp, kind)
    return build


def adaptive_avg(g, shape, kind, keep):
    if keep == "shape":
        return None
    return Step("nn.AdaptiveAvgPool2d(1)" if g.flag() else "nn.AdaptiveAvgPool2d((1, 1))", "{m}({x})",
                (shape[0], 1, 1), kind)


def batchnorm(n):
    def build(g, shape, kind, keep):
        args = [str(shape[0] if kind != "vec" else shape[-1])]
        _kw(args, "eps", g.pick([1e-5, 1e-5, 1e-3]), 1e-5)
        _kw(args, "momentum", g.pick([0.1, 0.1, 0.01]), 0.1)
        _kw(args, "affine", g.flag(3, 1), True)
        return Step(f"nn.BatchNorm{n}d({', '.join(args)})", "{m}({x})", shape, kind)
    return build


def layernorm(g, shape, kind, keep):
    args = [str(shape[-1])]
    _kw(args, "eps", g.pick([1e-5, 1e-6]), 1e-5)
    _kw(args, "elementwise_affine", g.flag(3, 1), True)
    return Step(f"nn.LayerNorm({', '.join(args)})", "{m}({x})", shape, kind)


ACTIVATION_MODULES = {
    "ReLU": ["nn.ReLU()", "nn.ReLU(inplace=True)"], "LeakyReLU": ["nn.LeakyReLU()", "nn.LeakyReLU(0.2)"],
    "Sigmoid": ["nn.Sigmoid()"], "Tanh": ["nn.Tanh()"], "GELU": ["nn.GELU()"], "SiLU": ["nn.SiLU()"],
    "ELU": ["nn.ELU()", "nn.ELU(alpha=0.5)"], "ReLU6": ["nn.ReLU6()"], "Softplus": ["nn.Softplus()"],
    "Hardtanh": ["nn.Hardtanh()"], "Softsign": ["nn.Softsign()"], "SELU": ["nn.SELU()"], "Mish": ["nn.Mish()"],
    "Hardswish": ["nn.Hardswish()"], "Hardsigmoid": ["nn.Hardsigmoid()"],
}


def activation(cls):
    def build(g, shape, kind, keep):
        return Step(g.pick(ACTIVATION_MODULES[cls]), "{m}({x})", shape, kind)
    return build


def softmax(g, shape, kind, keep):
    dim = g.pick([-1, 1] if len(shape) >= 1 else [-1])
    return Step(f"nn.Softmax(dim={dim})", "{m}({x})", shape, kind)


FUNCTIONAL = ["F.relu({x})", "torch.relu({x})", "{x}.relu()", "torch.sigmoid({x})", "{x}.sigmoid()",
              "torch.tanh({x})", "{x}.tanh()", "F.gelu({x})", "F.silu({x})", "F.leaky_relu({x}, 0.1)",
              "F.softmax({x}, dim=-1)", "F.elu({x})", "{x} * 0.5", "{x} + 1.0", "-{x}"]


def functional(g, shape, kind, keep):
    return Step(None, g.pick(FUNCTIONAL), shape, kind, in_sequential=False)


def dropout(g, shape, kind, keep):
    p = g.pick([None, 0.1, 0.5])
    return Step("nn.Dropout()" if p is None else f"nn.Dropout({p})", "{m}({x})", shape, kind)


def flatten(g, shape, kind, keep):
    if keep:
        return None
    n = 1
    for d in shape:
        n *= d
    form = g.pick(["module", "module", "torch", "view", "reshape", "method"])
    if form == "module":
        return Step("nn.Flatten()", "{m}({x})", (n,), "vec")
    call = {"torch": "torch.flatten({x}, 1)", "view": "{x}.view({x}.size(0), -1)",
            "reshape": "{x}.reshape({x}.shape[0], -1)", "method": "{x}.flatten(1)"}[form]
    return Step(None, call, (n,), "vec", in_sequential=False)


def spatial_mean(g, shape, kind, keep):
    if keep:
        return None
    dims = "(2, 3)" if kind == "img" else "2"
    return Step(None, g.pick([f"{{x}}.mean(dim={dims})", f"torch.mean({{x}}, dim={dims})"]), (shape[0],), "vec",
                in_sequential=False)


def embedding(g, shape, kind, keep):
    dim = g.int(2, 8)
    return Step(f"nn.Embedding({VOCAB}, {dim})", "{m}({x})", shape + (dim,), "seq")


def rnn(cls):
    def build(g, shape, kind, keep):
        t, f = shape
        hidden = f if keep == "shape" else g.int(2, 8)
        args = [str(f), str(hidden)]
        layers = g.pick([1, 1, 1, 2])
        bidir = keep != "shape" and g.pick([False, False, False, True])
        if layers != 1:
            args.append(f"num_layers={layers}")
        args.append("batch_first=True")
        if bidir:
            args.append("bidirectional=True")
        _kw(args, "bias", g.flag(3, 1), True)
        out = hidden * (2 if bidir else 1)
        if g.flag(3, 1):
            return Step(f"nn.{cls}({', '.join(args)})", "{m}({x})[0]", (t, out), "seq", in_sequential=False)
        return Step(f"nn.{cls}({', '.join(args)})", "{m}({x})[0][:, -1]", (out,), "vec", in_sequential=False)
    return build


def to_sequence(g, shape, kind, keep):
    """(C, L) -> (L, C) for a recurrent layer or a Linear, and back."""
    if keep:
        return None
    call = g.pick(["{x}.permute(0, 2, 1)", "{x}.transpose(1, 2)"])
    return Step(None, call, (shape[1], shape[0]), "seq" if kind == "cl1" else "cl1", in_sequential=False)


def conv_transpose(n):
    cls = f"ConvTranspose{n}d"

    def build(g, shape, kind, keep):
        if keep:
            return None
        c, spatial = shape[0], shape[1:]
        out_c = g.int(1, 8)
        k = g.int(1, 4)
        stride = g.pick([1, 2, 2])
        padding = g.int(0, (k - 1) // 2)
        output_padding = g.int(0, stride - 1) if g.flag(1, 2) else 0
        args = [str(c), str(out_c), str(k)]
        if stride != 1:
            args.append(f"stride={stride}")
        if padding:
            args.append(f"padding={padding}")
        if output_padding:
            args.append(f"output_padding={output_padding}")
        _kw(args, "bias", g.flag(3, 1), True)
        out_sp = tuple((d - 1) * stride - 2 * padding + (k - 1) + output_padding + 1 for d in spatial)
        if any(d < 1 for d in out_sp):
            return None
        return Step(f"nn.{cls}({', '.join(args)})", "{m}({x})", (out_c,) + out_sp, kind)
    return build


def groupnorm(g, shape, kind, keep):
    c = shape[0]
    groups = g.pick([d for d in (1, 2, 3, 4) if c % d == 0])
    args = [str(groups), str(c)]
    _kw(args, "eps", g.pick([1e-5, 1e-3]), 1e-5)
    _kw(args, "affine", g.flag(3, 1), True)
    return Step(f"nn.GroupNorm({', '.join(args)})", "{m}({x})", shape, kind)


def instancenorm(n):
    def build(g, shape, kind, keep):
        if math.prod(shape[1:]) < 2:        # torch: "Expected more than 1 spatial element"
            return None
        args = [str(shape[0])]
        _kw(args, "affine", g.flag(), False)
        _kw(args, "eps", g.pick([1e-5, 1e-3]), 1e-5)
        return Step(f"nn.InstanceNorm{n}d({', '.join(args)})", "{m}({x})", shape, kind)
    return build


def upsample(g, shape, kind, keep):
    if keep:
        return None
    f = g.pick([2, 2, 3])
    return Step(f"nn.Upsample(scale_factor={f})", "{m}({x})", (shape[0],) + tuple(d * f for d in shape[1:]), kind)


def zeropad2d(g, shape, kind, keep):
    if keep:
        return None
    if g.flag():
        p = g.int(1, 2)
        return Step(f"nn.ZeroPad2d({p})", "{m}({x})", (shape[0], shape[1] + 2 * p, shape[2] + 2 * p), kind)
    l, r, t, b = (g.int(0, 2) for _ in range(4))
    return Step(f"nn.ZeroPad2d(({l}, {r}, {t}, {b}))", "{m}({x})", (shape[0], shape[1] + t + b, shape[2] + l + r), kind)


def pixel_shuffle(g, shape, kind, keep):
    c, h, w = shape
    if keep or c % 4:
        return None
    return Step("nn.PixelShuffle(2)", "{m}({x})", (c // 4, h * 2, w * 2), kind)


def adaptive_max(g, shape, kind, keep):
    if keep:
        return None
    return Step("nn.AdaptiveMaxPool2d(1)", "{m}({x})", (shape[0], 1, 1), kind)


FAMILIES: list[TorchFamily] = [
    TorchFamily("linear", ("Linear",), ("vec", "seq"), linear, 14),
    TorchFamily("conv1d", ("Conv1d",), ("cl1",), conv(1), 10),
    TorchFamily("conv2d", ("Conv2d",), ("img",), conv(2), 14),
    TorchFamily("conv3d", ("Conv3d",), ("vol",), conv(3), 6),
    TorchFamily("maxpool1d", ("MaxPool1d",), ("cl1",), pool(1, "max"), 5),
    TorchFamily("avgpool1d", ("AvgPool1d",), ("cl1",), pool(1, "avg"), 4),
    TorchFamily("maxpool2d", ("MaxPool2d",), ("img",), pool(2, "max"), 7),
    TorchFamily("avgpool2d", ("AvgPool2d",), ("img",), pool(2, "avg"), 5),
    TorchFamily("maxpool3d", ("MaxPool3d",), ("vol",), pool(3, "max"), 3),
    TorchFamily("avgpool3d", ("AvgPool3d",), ("vol",), pool(3, "avg"), 3),
    TorchFamily("adaptive_avgpool2d", ("AdaptiveAvgPool2d",), ("img",), adaptive_avg, 4),
    TorchFamily("batchnorm1d", ("BatchNorm1d",), ("vec", "cl1"), batchnorm(1), 6),
    TorchFamily("batchnorm2d", ("BatchNorm2d",), ("img",), batchnorm(2), 7),
    TorchFamily("batchnorm3d", ("BatchNorm3d",), ("vol",), batchnorm(3), 3),
    TorchFamily("layernorm", ("LayerNorm",), ("vec", "seq"), layernorm, 6),
    TorchFamily("softmax", ("Softmax",), ("vec", "seq", "cl1", "img"), softmax, 3),
    TorchFamily("functional", (), ("vec", "seq", "cl1", "img", "vol"), functional, 8),
    TorchFamily("dropout", ("Dropout",), ("vec", "seq", "cl1", "img"), dropout, 4),
    TorchFamily("flatten", ("Flatten",), ("cl1", "img", "vol"), flatten, 8),
    TorchFamily("spatial_mean", (), ("cl1", "img"), spatial_mean, 3),
    TorchFamily("embedding", ("Embedding",), ("tok",), embedding, 10),
    TorchFamily("lstm", ("LSTM",), ("seq",), rnn("LSTM"), 6),
    TorchFamily("gru", ("GRU",), ("seq",), rnn("GRU"), 6),
    TorchFamily("rnn", ("RNN",), ("seq",), rnn("RNN"), 3),
    TorchFamily("permute", (), ("cl1", "seq"), to_sequence, 3),
    TorchFamily("conv_transpose1d", ("ConvTranspose1d",), ("cl1",), conv_transpose(1), 4),
    TorchFamily("conv_transpose2d", ("ConvTranspose2d",), ("img",), conv_transpose(2), 6),
    TorchFamily("groupnorm", ("GroupNorm",), ("cl1", "img"), groupnorm, 4),
    TorchFamily("instancenorm1d", ("InstanceNorm1d",), ("cl1",), instancenorm(1), 3),
    TorchFamily("instancenorm2d", ("InstanceNorm2d",), ("img",), instancenorm(2), 3),
    TorchFamily("upsample", ("Upsample",), ("img",), upsample, 3),
    TorchFamily("zeropad2d", ("ZeroPad2d",), ("img",), zeropad2d, 3),
    TorchFamily("pixel_shuffle", ("PixelShuffle",), ("img",), pixel_shuffle, 2),
    TorchFamily("adaptive_maxpool2d", ("AdaptiveMaxPool2d",), ("img",), adaptive_max, 2),
] + [TorchFamily(f"act_{cls.lower()}", (cls,), ("vec", "seq", "cl1", "img", "vol"), activation(cls), 2)
     for cls in ACTIVATION_MODULES]


def torch_classes(rules) -> set[str]:
    """torch.nn class names the torch -> Keras direction knows (rules with a torch_signature)."""
    from ..frontends.torch_models import TorchIndex
    return {path.rsplit(".", 1)[-1] for path in TorchIndex.build(rules).classes}


def active_families(rules) -> list[TorchFamily]:
    known = torch_classes(rules)
    return [f for f in FAMILIES if all(c in known for c in f.requires)]
