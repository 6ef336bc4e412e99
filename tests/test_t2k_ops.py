"""PyTorch -> Keras: torch functions, tensor methods, operators and attention inside `forward`.

Each case is a small torch module; it is translated, the Keras model gets the torch weights, and both
run on the same random input (translator/verify/port_torch.compare_torch_source):

    max |torch - keras| <= 1e-5 * max(1, max |torch|)

Image cases run in both layouts (channels_last interface, and "keep": NCHW at the interface), so a
wrongly remapped axis fails. Constructs that cannot be translated exactly are checked to be reported.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from test_torch_to_keras import ATOL, LAYOUTS, _np_inputs, model_source
from translator import translate_source
from translator.findings import ERROR

SEQ = (2, 5, 6)
IMG = (2, 3, 6, 4)          # H != W: a swapped spatial axis fails
NATIVE = ("native",)

# (id, init, forward, input shapes, layouts, expected Keras snippets, input_shape for the translation)
CASES = [
    # products
    ("matmul-operator-bmm", "self.q = nn.Linear(6, 8)\nself.k = nn.Linear(6, 8)",
     "q, k = self.q(x), self.k(x)\ns = q @ k.transpose(-2, -1) / 8 ** 0.5\n"
     "return torch.matmul(s.softmax(dim=-1), k) + torch.bmm(s, k) + s.matmul(k)",
     [SEQ], NATIVE, ["keras.ops.matmul(q, keras.ops.swapaxes(k, -2, -1))"], None),
    ("einsum", "", "a = torch.einsum('btd,bsd->bts', x, x)\nreturn torch.einsum('bij,bjk->bik', [a, x])",
     [SEQ], NATIVE, ['keras.ops.einsum("btd,bsd->bts", x, x)'], None),
    ("matmul-image", "self.conv = nn.Conv2d(3, 4, 1)", "y = self.conv(x)\nreturn y @ y.transpose(2, 3)",
     [IMG], LAYOUTS, ["keras.ops.matmul("], None),
    ("functional-linear", "self.fc = nn.Linear(6, 4)", "return F.linear(x, x[0, :4], None) + self.fc(x)",
     [SEQ], NATIVE, ["keras.ops.transpose(x[0, :4])"], None),
    # shapes
    ("unsqueeze-squeeze", "self.fc = nn.Linear(6, 4)",
     "y = self.fc(x).unsqueeze(1)\nz = torch.unsqueeze(y, -1).squeeze(-1).squeeze(1)\nreturn z.unsqueeze(2).squeeze()",
     [SEQ], NATIVE, ["keras.ops.expand_dims(self.fc(x), 1)"], (5, 6)),
    ("unsqueeze-image", "self.conv = nn.Conv2d(3, 4, 3, padding=1)",
     "y = self.conv(x).unsqueeze(2)\nreturn y.squeeze(2) + y.mean(dim=2, keepdim=True).squeeze(2)",
     [IMG], LAYOUTS, ["keras.ops.expand_dims(self.conv(x), 1)"], None),
    ("chunk-split-unpack", "self.fc = nn.Linear(6, 12)",
     "a, b = self.fc(x).chunk(2, dim=-1)\nc, d, e = torch.split(x, [1, 2, 3], dim=2)\nf, g = x.split(3, dim=-1)\n"
     "h = x.chunk(4, dim=-1)\nreturn torch.cat([a * b, c, d + f[..., :2], e * g, h[2]], dim=-1)",
     [SEQ], NATIVE, ["a, b = keras.ops.split(self.fc(x), 2, axis=-1)", "keras.ops.split(x, [1, 3], axis=2)",
                     "keras.ops.split(x, 3, axis=-1)"], (5, 6)),
    ("chunk-image-channels", "self.conv = nn.Conv2d(3, 8, 1)",
     "a, b = self.conv(x).chunk(2, dim=1)\nc, d = torch.chunk(a, 2, dim=2)\nreturn torch.cat([a * torch.sigmoid(b), torch.cat([d, c], 2)], 1)",
     [IMG], LAYOUTS, ["keras.ops.split(self.conv(x), 2, axis=-1)", "keras.ops.split(a, 2, axis=1)"], None),
    ("stack", "self.fc = nn.Linear(6, 6)", "y = torch.stack([x, self.fc(x)], dim=1)\nreturn torch.stack((y, y * 2), -1)",
     [SEQ], NATIVE, ["keras.ops.stack([x, self.fc(x)], axis=1)"], None),
    ("stack-images", "self.conv = nn.Conv2d(3, 3, 1)", "return torch.stack([x, self.conv(x)], dim=2)",
     [IMG], LAYOUTS, ["keras.ops.stack("], None),
    ("cat-edge-cases", "self.conv = nn.Conv2d(3, 2, 1)",
     "y = self.conv(x)\nparts = y.chunk(2, dim=1)\nz = torch.cat(parts, dim=-3)\n"
     "return torch.cat([z], 1) + torch.cat((y, y), dim=-1)[..., :4] + torch.cat(tensors=[z], dim=0)",
     [IMG], LAYOUTS, ["keras.ops.concatenate(parts, axis=-1)"], None),
    ("expand-repeat", "self.fc = nn.Linear(6, 1)",
     "y = self.fc(x)\nreturn y.expand(-1, -1, 6) + y.expand_as(x) + x.repeat(1, 2, 1)[:, :5] + y.repeat(1, 1, 6)",
     [SEQ], NATIVE, ["keras.ops.broadcast_to(", "keras.ops.tile(x, (1, 2, 1))"], (5, 6)),
    ("repeat-image", "self.conv = nn.Conv2d(3, 2, 1)", "return self.conv(x).repeat(1, 2, 1, 3)",
     [IMG], LAYOUTS, ["keras.ops.tile(self.conv(x), (1, 1, 3, 2))"], None),
    ("transpose-permute-functions", "self.fc = nn.Linear(6, 6)",
     "y = torch.transpose(self.fc(x), 1, 2)\nreturn y.transpose(-1, -2) + x.swapaxes(1, 2).swapaxes(1, 2)",
     [SEQ], NATIVE, ["keras.ops.swapaxes(self.fc(x), 1, 2)"], None),
    ("transpose-known-rank", "self.fc = nn.Linear(6, 6)",
     "y = torch.transpose(self.fc(x), 1, 2)\nreturn torch.permute(y, (0, 2, 1)) + y.transpose(-1, -2) + x[0].t().t()",
     [SEQ], NATIVE, ["keras.ops.transpose(self.fc(x), (0, 2, 1))"], (5, 6)),
    ("unflatten", "self.fc = nn.Linear(6, 12)",
     "y = self.fc(x).unflatten(-1, (3, 4))\nz = x.unflatten(2, (2, -1)).flatten(2)\nreturn y.sum(-2)[..., :3] + z[..., :3]",
     [SEQ], NATIVE, ["keras.ops.reshape(self.fc(x), keras.ops.shape(self.fc(x))[:-1] + (3, 4))"], None),
    ("unflatten-known-rank", "self.fc = nn.Linear(6, 12)",
     "return self.fc(x).unflatten(2, (3, -1)).permute(0, 2, 1, 3)",
     [SEQ], NATIVE, ["keras.ops.reshape(self.fc(x), (keras.ops.shape(self.fc(x))[0], 5, 3, -1))"], (5, 6)),
    # indexing
    ("indexing-sequences", "self.fc = nn.Linear(6, 4)",
     "y = self.fc(x)\nreturn y[:, -1] + y[:, 0, :] + x[..., :4][:, 1] + y[:, 1:3].sum(1) + y[:, None, 2, ::2].mean(1).repeat(1, 2)",
     [SEQ], NATIVE, ["y[:, -1]", "y[:, None, 2, ::2]"], None),
    ("indexing-images", "self.conv = nn.Conv2d(3, 4, 3, padding=1)",
     "y = self.conv(x)\nreturn y[:, 1:3, :, 1:] * y[:, :2, 2:, 1:].sum(2, keepdim=True) + y[:, 0].unsqueeze(1)[:, :, :, 1:]",
     [IMG], LAYOUTS, ["y[:, :, 1:, 1:3]", "y[:, 2:, 1:, :2]", "y[:, :, :, 0]"], None),
    ("indexing-image-channel-last-index", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn y[:, :, -1] + y[..., 0, None].mean(-1)[..., :4]",
     [IMG], LAYOUTS, ["y[:, -1]"], None),
    ("shape-sizes", "self.fc = nn.Linear(6, 6)",
     "B, T, C = x.shape\ny = self.fc(x).view(B, T, 2, C // 2)\nreturn y.reshape(x.size(0), x.shape[1], -1) + y.flatten(2)[:, :, :x.size(-1)]",
     [SEQ], NATIVE, ["B, T, C = keras.ops.shape(x)"], None),
    ("shape-image-unpack", "self.conv = nn.Conv2d(3, 4, 1)",
     "N, C, H, W = self.conv(x).shape\nreturn x.mean(dim=(2, 3)) * (H * 10 + W) + C",
     [IMG], LAYOUTS, ["keras.ops.shape(self.conv(x))[-1]"], None),
    # elementwise, broadcasting
    ("arithmetic-broadcast", "self.fc = nn.Linear(6, 6)",
     "y = self.fc(x)\nreturn (2 - y) * 0.5 + x / (y.abs() + 1) - y[:, :1] ** 2 + y.pow(2) - (-y) + y[0]",
     [SEQ], NATIVE, [], None),
    ("broadcast-vector-over-image", "self.conv = nn.Conv2d(3, 4, 1)\nself.fc = nn.Linear(4, 4)",
     "y = self.conv(x)\nw = self.fc(y.mean(dim=(1, 2)))\nreturn y * w[0] + y[0, 0] + y[0, :, :1, :]",
     [IMG], LAYOUTS, ["keras.ops.expand_dims("], None),
    ("unary-math", "", "a = x.abs() + 0.1\nreturn torch.exp(-a) + torch.log(a) + a.sqrt() + torch.rsqrt(a) + a.neg() + torch.abs(x).pow(1.5) + torch.neg(x)",
     [SEQ], NATIVE, ["keras.ops.rsqrt(a)"], None),
    ("clamp-clip", "",
     "return x.clamp(-0.5, 0.5) + torch.clamp(x, min=0) + x.clip(max=0.2) + torch.clip(x, 0.3, -0.3) + x.clamp_min(0.1) + x.clamp(x * 0.5) + torch.clamp(x, max=x * 0.5)",
     [SEQ], NATIVE, ["keras.ops.clip(x, -0.5, 0.5)", "keras.ops.maximum(x, 0)"], None),
    ("max-min-dims", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nv, i = y.max(dim=1)\nm = torch.min(y, 2, keepdim=True)\n"
     "return v + i + m[0].squeeze(2).mean(1, keepdim=True) + m.values.sum() + torch.max(y, torch.zeros_like(y)).amax(1) + y.max() + y.min(1)[1]",
     [IMG], LAYOUTS, ["keras.ops.argmax(y, axis=-1)"], None),
    ("argmax-argmin", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn torch.argmax(y, dim=1) + y.argmin(dim=1, keepdim=True).squeeze(1), y.argmin(-1), y.argmax()",
     [IMG], LAYOUTS, ["keras.ops.argmax(y, axis=-1)"], None),
    ("softmax-log-softmax", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn F.softmax(y, dim=2) + F.log_softmax(y, dim=1) + y.softmax(-1) + torch.log_softmax(y, -3)",
     [IMG], LAYOUTS, ["keras.ops.softmax(y, axis=1)", "keras.ops.log_softmax(y)"], None),
    ("normalize", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn F.normalize(y) + F.normalize(y, dim=-1) + F.normalize(y, p=1, dim=2, eps=1e-6)",
     [IMG], LAYOUTS, ["keras.ops.normalize(y, axis=-1, epsilon=1e-12)"], None),
    ("where-masked-fill", "self.fc = nn.Linear(6, 6)",
     "y = self.fc(x)\nmask = y > 0\nz = torch.where(mask, y, x * 0.1)\n"
     "s = z.masked_fill(mask == 0, float('-inf')).softmax(-1)\nreturn s + torch.where(x < y, 1.0, 0.0) + z.masked_fill(~mask, 0.5)",
     [SEQ], NATIVE, ["keras.ops.where(mask, y, x * 0.1)", "keras.ops.where(keras.ops.equal(mask, 0), float('-inf'), z)"],
     None),
    ("masked-fill-image-channel-mask", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nm = y.mean(dim=1, keepdim=True) > 0\nreturn y.masked_fill(m, 0.0) + torch.where(y[:, :1] > 0, y, -y)",
     [IMG], LAYOUTS, [], None),
    ("new-tensors", "self.emb = nn.Embedding(10, 6)",
     "B, T = x.shape\npos = torch.arange(T, device=x.device)\nz = torch.zeros(B, T, 6, dtype=torch.float32)\n"
     "o = torch.ones((B, 1, 6)) + torch.ones_like(z) * 2 + torch.zeros_like(z) + torch.full((1, T, 1), 0.5)\n"
     "c = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)\n"
     "return self.emb(x) + self.emb(pos) + o + z + c.float().sum(-1, keepdim=True)",
     [("int64", (2, 5), 10)], NATIVE, ["keras.ops.arange(T, dtype=\"int64\")", "keras.ops.zeros((B, T, 6), dtype=\"float32\")"],
     None),
    ("casts-detach-clone", "", "y = (x > 0).float() + x.detach() + x.clone() + x.to(torch.float32) + x.type_as(x)\n"
     "return y + (x > 0.5).long() + x.long().float()",
     [SEQ], NATIVE, ['keras.ops.cast(keras.ops.greater(x, 0), "float32")'], None),
    ("inplace-methods", "self.fc = nn.Linear(6, 6)",
     "s = self.fc(x)\ns.masked_fill_(s > 0.5, float('-inf'))\ns.clamp_(min=-1.0)\ns.mul_(2)\ns.relu_()\nreturn s.softmax(-1)",
     [SEQ], NATIVE, ["s = keras.ops.where(keras.ops.greater(s, 0.5), float('-inf'), s)", "s = s * 2"], None),
    # the rest of the op rules' torch functions
    ("elementwise-functions", "",
     "a = torch.square(x) + torch.reciprocal(x.abs() + 1) + torch.floor(x) + torch.ceil(x) + torch.round(x * 3)\n"
     "return a + torch.sign(x) + torch.sin(x) + torch.cos(x) + torch.erf(x) + torch.log1p(x.abs()) + torch.expm1(x)",
     [SEQ], NATIVE, ["keras.ops.erf(x)"], None),
    ("activation-functionals", "self.conv = nn.Conv2d(3, 4, 1)",
     "a = F.relu6(x * 4) + F.elu(x) + F.selu(x) + F.softplus(x) + F.softsign(x) + F.hardsigmoid(x * 3)\n"
     "a = a + F.hardswish(x * 3) + F.logsigmoid(x) + F.mish(x) + F.celu(x, 0.5) + F.hardtanh(x)\n"
     "a = a + F.hardshrink(x) + F.softshrink(x, 0.3) + F.tanhshrink(x) + F.threshold(x, 0.1, -1.0)\n"
     "return a, F.glu(x, dim=-1), F.glu(self.conv(x.reshape(2, 3, 5, 2)), 1)",
     [SEQ], NATIVE, ["keras.ops.glu(x)", "keras.ops.glu(self.conv(", "keras.ops.tanh(keras.ops.softplus(x))"], None),
    ("binary-functions", "self.fc = nn.Linear(6, 6)",
     "y = self.fc(x)\na = torch.add(x, y) + torch.sub(x, 1) + torch.mul(x, y) + torch.div(x, y.abs() + 1)\n"
     "a = a + torch.floor_divide(x, 0.3) + torch.remainder(x, 0.7) + torch.minimum(x, y) + torch.amin(x, dim=1, keepdim=True)\n"
     "b = (torch.eq(x, y) | torch.ne(x, x)).float() + torch.gt(x, y).float() + torch.ge(x, 0).float() + x.lt(y).float()\n"
     "b = b + torch.le(x, 0).float() + torch.logical_or(x > 0, y > 0).float() + torch.logical_and(x > 0, y.gt(0)).float()\n"
     "return a + b, torch.tensordot(x, y, dims=([1, 2], [1, 2]))",
     [SEQ], NATIVE, ["keras.ops.floor_divide(x, 0.3)", "keras.ops.tensordot("], None),
    ("reductions-more", "",
     "return (torch.prod(x, 1), x.any(dim=-1).float(), torch.all(x > -1, 1).float(), x.std(1), torch.var(x, dim=(1, 2), keepdim=True),\n"
     "        x.std(dim=-1, correction=0), x.var(unbiased=False), torch.logsumexp(x, dim=2), torch.cumsum(x, 1), x.cumprod(dim=-1))",
     [SEQ], NATIVE, ["keras.ops.std(x, axis=1) * ((5 / 4) ** 0.5))", "keras.ops.cumprod(x, axis=-1)"], (5, 6)),
    ("image-scans-flips-reductions", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn y.cumsum(1) + torch.flip(y, dims=(1, 3)) + y.flip(2), torch.prod(y, dim=1), y.var(dim=(2, 3)), y.logsumexp(1)",
     [IMG], LAYOUTS, ["keras.ops.cumsum(y, axis=-1)", "keras.ops.flip(y, axis=(-1, 2))"], (3, 6, 4)),
    ("tile-repeat-interleave-index-select", "self.conv = nn.Conv2d(3, 2, 1)",
     "y = self.conv(x)\nidx = torch.arange(0, 4, 2)\n"
     "return (torch.tile(y, (2, 1, 3)), y.repeat_interleave(2, dim=1), torch.repeat_interleave(y, 3),\n"
     "        torch.index_select(y, 3, idx), y.index_select(1, torch.arange(1)), y.tile((1, 1, 2, 1)))",
     [IMG], LAYOUTS, ["keras.ops.tile(y, (1, 1, 3, 2))", "keras.ops.repeat(y, 2, axis=-1)", "keras.ops.take(y, idx, axis=2)"],
     None),
    ("unbind-tensor-split", "self.conv = nn.Conv2d(3, 2, 1)",
     "a, b, c, d, e = x.unbind(1)\np, q = torch.tensor_split(x, 2, dim=2)\nr, s, t, u = x.tensor_split(4, dim=-1)\n"
     "f, g = torch.unbind(self.conv(x.reshape(2, 3, 5, 2)), dim=1)\n"
     "return a * e, p + q, torch.cat([u, t, s, r], -1), x.tensor_split([1, 4], dim=2)[1], f - g",
     [SEQ], NATIVE, ["keras.ops.unstack(x, num=5, axis=1)", "keras.ops.split(x, [2, 4, 5], axis=-1)"], (5, 6)),
    ("one-hot", "", "return F.one_hot(x, num_classes=4), F.one_hot(x[:, 1:], 5).float() * 2",
     [("int64", (2, 5), 4)], NATIVE, ['keras.ops.cast(keras.ops.one_hot(x, 4), "int64")'], None),
    # functional
    ("interpolate-nearest", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn F.interpolate(y, scale_factor=2) + F.interpolate(y, size=(12, 8), mode='nearest')",
     [IMG], LAYOUTS, ["keras.ops.repeat(keras.ops.repeat(y, 2, axis=1), 2, axis=2)"], (3, 6, 4)),
    ("interpolate-bilinear", "self.conv = nn.Conv2d(3, 4, 1)",
     "y = self.conv(x)\nreturn F.interpolate(y, size=(9, 5), mode='bilinear', align_corners=False)",
     [IMG], LAYOUTS, ['keras.ops.image.resize(y, (9, 5), interpolation="bilinear")'], (3, 6, 4)),
    ("interpolate-bilinear-down", "", "return F.interpolate(x, scale_factor=0.5, mode='bilinear')",
     [(2, 3, 8, 6)], LAYOUTS, ['keras.ops.image.resize(x, (4, 3), interpolation="bilinear")'], (3, 8, 6)),
    ("dropout-functional", "self.fc = nn.Linear(6, 6)",
     "y = F.dropout(self.fc(x), p=0.3, training=self.training)\nreturn F.dropout(y, 0.2, False) + F.dropout2d(y.unsqueeze(-1), 0.1, self.training).squeeze(-1)",
     [SEQ], NATIVE, ["y = self.fc(x)"], None),
    ("sdpa", "self.qkv = nn.Linear(6, 24)",
     "B, T, C = x.shape\nq, k, v = self.qkv(x).view(B, T, 3, 2, 4).permute(2, 0, 3, 1, 4)\n"
     "y = F.scaled_dot_product_attention(q, k, v)\n"
     "mask = torch.ones(T, T).tril() > 0\nz = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)\n"
     "w = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=0.1 if self.training else 0.0)\n"
     "return (y + z + w).transpose(1, 2).reshape(B, T, 8)",
     [SEQ], NATIVE, ["keras.ops.softmax(keras.ops.matmul(q, keras.ops.swapaxes(k, -2, -1)) * "], (5, 6)),
    ("sdpa-unknown-rank", "", "if x.size(0) > 0:\n    x = F.scaled_dot_product_attention(x, x * 0.5, x)\nreturn x",
     [SEQ], NATIVE, ['keras.ops.cast(keras.ops.shape(x)[-1], "float32") ** -0.5'], None),
]


def _params():
    out = []
    for cid, init, forward, shapes, layouts, snippets, ishape in CASES:
        for layout in layouts:
            out.append(pytest.param(init, forward, shapes, layout, snippets, ishape, id=f"{cid}-{layout}"))
    return out


def _check(src, shapes, layout, snippets=(), input_shape=None, params="x"):
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(src, to="keras", layout=layout, input_shape=input_shape)
    errors = [f.format() for f in result.findings if f.severity == ERROR]
    assert not errors, "\n".join(errors) + "\n" + result.code
    assert "torch" not in result.code.split("class Net", 1)[1], result.code
    if layout == "native":
        for snippet in snippets:
            assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", layout=layout, result=result)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for scale {comparison.scale}\n{result.code}"
    return result


@pytest.mark.parametrize("init, forward, shapes, layout, snippets, input_shape", _params())
def test_op_numeric(init, forward, shapes, layout, snippets, input_shape):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    _check(model_source(init, forward), shapes, layout, snippets, input_shape)


# ---- nn.MultiheadAttention -> keras.layers.MultiHeadAttention ----------------------------------------

MHA_CASES = [
    ("self-attention-batch-first", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "out, _ = self.attn(x, x, x)\nreturn out", "x", [(2, 5, 8)],
     ["self.attn = layers.MultiHeadAttention(2, 4)", "out = self.attn(x, x)"]),
    ("seq-first-weights-used", "self.attn = nn.MultiheadAttention(8, 2, dropout=0.1)",
     "out, w = self.attn(q, k, v)\nreturn out, w", "q, k, v", [(4, 2, 8), (6, 2, 8), (6, 2, 8)],
     ["layers.MultiHeadAttention(2, 4, dropout=0.1)", "return_attention_scores=True",
      "w = keras.ops.mean(w, axis=1)", "out = keras.ops.transpose(out, (1, 0, 2))"]),
    ("masks-and-per-head-weights", "self.attn = nn.MultiheadAttention(8, 4, batch_first=True, bias=False)",
     "B, T, E = x.shape\npad = (x[:, :, 0] > 0) & (torch.arange(T) > 0)\nfuture = torch.triu(torch.ones(T, T), diagonal=1).bool()\n"
     "out, w = self.attn(x, x, x, key_padding_mask=pad, attn_mask=future, average_attn_weights=False)\n"
     "return out + self.attn(x, x, x, attn_mask=future)[0], w", "x", [(2, 5, 8)],
     ["use_bias=False", "keras.ops.logical_and(keras.ops.logical_not(pad)[:, None, :], keras.ops.logical_not(future))"]),
    ("kdim-vdim-index", "self.attn = nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=True)",
     "return self.attn(x, k, v, need_weights=False)[0] + self.attn(x, k, v)[1].sum(-1, keepdim=True)", "x, k, v",
     [(2, 4, 8), (2, 3, 6), (2, 3, 5)], ["self.attn(x, v, key=k)"]),
]


ENCODER_CASES = [
    ("encoder-layer-post-norm", "self.enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)",
     "y = self.enc(x)\nreturn y", "x", [(2, 5, 8)],
     ["self.enc = layers.MultiHeadAttention(2, 4, dropout=0.1)", "self.enc_linear1 = layers.Dense(16)",
      "y = self.enc_norm1(x + self.enc_dropout(self.enc(x, x)))"]),
    ("encoder-layer-pre-norm-seq-first-masks",
     "self.enc = nn.TransformerEncoderLayer(8, 4, 12, 0.0, 'gelu', norm_first=True)",
     "T, B, E = x.shape\npad = (x[:, :, 0] > 0).transpose(0, 1) & (torch.arange(T) > 0)\n"
     "causal = torch.triu(torch.ones(T, T), 1).bool()\nx = self.enc(x, src_mask=causal, src_key_padding_mask=pad)\n"
     "return x", "x", [(5, 2, 8)], ["keras.ops.gelu(", "x = keras.ops.transpose(x, (1, 0, 2))"]),
    ("encoder-layer-function-activation-no-bias",
     "self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=F.gelu, layer_norm_eps=1e-6, "
     "batch_first=True, norm_first=True, bias=False)\nself.head = nn.Linear(8, 3)",
     "h = self.enc(self.head(x).repeat(1, 1, 3)[..., :8])\nreturn self.head(h)", "x", [(2, 4, 8)],
     ["center=False", "use_bias=False"]),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets",
                         [pytest.param(*c[1:], id=c[0]) for c in MHA_CASES + ENCODER_CASES])
def test_multihead_attention_numeric(init, forward, params, shapes, snippets):
    pytest.importorskip("torch")
    _check(model_source(init, forward, params=params), shapes, "native", snippets)


UNSUPPORTED = [
    ("mha-weights-not-computed", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "out, w = self.attn(x, x, x, need_weights=False)\nreturn out + w.sum()", "FWT202"),
    ("add-bias-kv", "self.attn = nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True)",
     "return self.attn(x, x, x)[0]", "FWT202"),
    ("dropout-always-on", "", "return F.dropout(x, 0.5)", "FWT202"),
    ("nearest-downscale", "self.conv = nn.Conv2d(3, 4, 1)", "return F.interpolate(self.conv(x), scale_factor=0.5)",
     "FWT202"),
    ("bilinear-align-corners", "", "return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)",
     "FWT202"),
    ("advanced-indexing", "", "return x[:, x[0, 0] > 0]", "FWT103"),
    ("inplace-on-an-alias", "", "y = x\nx.add_(1)\nreturn x + y", "FWT202"),
    ("where-one-argument", "", "return torch.where(x > 0)", "FWT202"),
    ("split-unknown-length", "", "a, b = x.split(3, dim=-1)\nreturn a", "FWT302"),
    ("encoder-layer-in-expression", "self.enc = nn.TransformerEncoderLayer(8, 2, batch_first=True)",
     "return self.enc(x)", "FWT202"),
    ("encoder-layer-in-sequential", "self.seq = nn.Sequential(nn.TransformerEncoderLayer(8, 2, batch_first=True))",
     "return self.seq(x)", "FWT202"),
    ("encoder-layer-custom-activation", "self.enc = nn.TransformerEncoderLayer(8, 2, activation=torch.tanh)",
     "y = self.enc(x)\nreturn y", "FWT202"),
]


@pytest.mark.parametrize("init, forward, code", [pytest.param(*c[1:], id=c[0]) for c in UNSUPPORTED])
def test_not_translatable_is_reported(init, forward, code):
    src = model_source(init, forward)
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert result.findings[0].severity == ERROR
    assert f"# fwtranslate {code}: " in result.code and "class Net(nn.Module)" in result.code


def test_torch_to_keras_translation_of_ops_imports_no_framework():
    import subprocess
    import sys
    src = model_source("self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
                       "y = self.attn(x, x, x)[0]\nreturn F.normalize(y.chunk(2, -1)[0], dim=-1)")
    code = ("import sys\nfrom translator import translate_source\n"
            f"r = translate_source({src!r}, to='keras')\nassert r.models and not r.findings, r.findings\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras'))\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_transformer_fixture_pre_norm():
    """The fixture's encoder layer with norm_first=True (the other branch of its forward)."""
    pytest.importorskip("torch")
    from pathlib import Path
    from translator.verify.port_torch import compare_torch_source
    src = (Path(__file__).resolve().parents[1] / "fixtures" / "torch_to_keras" / "transformer_encoder.torch.py").read_text()
    comparison = compare_torch_source(src, "TransformerClassifier(norm_first=True)",
                                      _np_inputs([("int64", (2, 7), 50)]), "TransformerClassifier")
    assert comparison.ok(ATOL), comparison.max_abs
