"""Op emitters for keras.ops.max_pool / keras.ops.average_pool (rules/ops.yaml: op_max_pool, op_average_pool).

Kept out of torch_ops.py (one concern per module); registered with @op_emitter when the hatch modules
are discovered (translator/backends/torch_layers.discover_hatches imports every torch_hatches*.py).

keras.ops.max_pool(x, pool_size, strides=None, padding="valid") on a channels_last batch of rank
n + 2 is F.max_pool{n}d(x, pool_size, stride) on the channels-first tensor (F.avg_pool{n}d for
average_pool). Only padding="valid" translates: "same" pads asymmetrically in TF (and average
pooling excludes the padded cells), which F.*_pool cannot express (FWT202).
"""
from __future__ import annotations

from ..ir import UNKNOWN, TensorMeta, is_int
from .torch_code import call
from .torch_ops import Op, op_emitter
from ..values import to_node


def _tuple(v, n: int):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _compact(v):
    """(2, 2) -> 2: the spelling a torch user writes."""
    return v[0] if len(set(v)) == 1 else v


@op_emitter("pool")
def emit_pool(op: Op):
    x, m = op.tensor("inputs")
    if m is None or m.rank not in (3, 4, 5):
        op.fail("FWT302", "pooling needs a batch of sequences, images or volumes of known rank (3 to 5)")
    n = m.rank - 2
    k = _tuple(op.need_const("pool_size"), n)
    s = op.const("strides")
    if s is UNKNOWN:
        op.fail("FWT202", "strides must be constant")
    s = k if s is None else _tuple(s, n)
    padding = op.need_const("padding")
    if not isinstance(padding, str) or padding.lower() != "valid":
        op.fail("FWT202", f"padding={padding!r} is not supported (only 'valid': TF pads 'same' asymmetrically)")
    if op.const("data_format") not in (None, "channels_last"):
        op.fail("FWT202", "data_format other than channels_last is not supported")
    if len(k) != n or len(s) != n or not all(is_int(v) and v > 0 for v in k + s):
        op.fail("FWT202", f"pool_size {k} / strides {s} do not fit a rank-{m.rank} tensor")
    x, m = op.convert(x, m, "cf")
    kind = "max" if op.rule.id == "op_max_pool" else "avg"
    args = [x, to_node(_compact(k))]
    if s != k:
        args.append(to_node(_compact(s)))
    expr = call(op.ref(f"torch.nn.functional.{kind}_pool{n}d"), args, [])
    spatial = tuple((d - a) // b + 1 if is_int(d) else None for d, a, b in zip(m.shape[1:-1], k, s))
    return expr, TensorMeta((m.shape[0],) + spatial + (m.shape[-1],), "cf", m.dtype)
