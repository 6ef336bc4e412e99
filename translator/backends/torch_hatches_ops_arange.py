"""Op emitter for keras.ops.arange (rules/ops.yaml: op_arange).

keras.ops.arange(start, stop=None, step=1, dtype=None) is torch.arange(start, stop, step, dtype=...).
Without dtype Keras infers it from the arguments: integers (Python ints, shape entries) give int32,
any float gives float32 -- torch would give int64 / float32, so the dtype is always written. An
argument whose type is not known statically needs an explicit dtype (FWT202).
"""
from __future__ import annotations

import libcst as cst

from ..ir import UNKNOWN, Sym, TensorMeta, is_int
from .torch_code import call
from .torch_ops import DType, Op, op_emitter


def _is_shape_entry(op: Op, node) -> bool:
    """`keras.ops.shape(x)[1]` / `x.shape[1]`: an int."""
    if not (isinstance(node, cst.Subscript) and len(node.slice) == 1):
        return False
    value = node.value
    if isinstance(value, cst.Attribute) and value.attr.value == "shape":
        return True
    return isinstance(value, cst.Call) and (op.ft.table.resolve(value.func) or "") in (
        "keras.ops.shape", "keras.backend.shape", "keras.backend.int_shape", "tensorflow.shape")


def _kind(op: Op, name: str) -> str | None:
    """'int' / 'float' for the argument, None when its type is not known statically."""
    value = op.known(name)
    if isinstance(value, bool):
        return None
    if is_int(value) or isinstance(value, Sym):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is UNKNOWN and _is_shape_entry(op, op.bound[name]):
        return "int"
    return None


@op_emitter("arange")
def emit_arange(op: Op):
    names = [n for n in ("start", "stop", "step") if op.given(n) and op.known(n) is not None]
    dtype = op.dtype("dtype")
    if dtype is None:
        kinds = {_kind(op, n) for n in names}
        if None in kinds:
            op.fail("FWT202", "the type of an argument is not known: pass dtype= (Keras infers int32 "
                              "or float32 from the arguments, torch int64 or float32)")
        dtype = DType("torch.float32" if "float" in kinds else "torch.int32")
    args = [op.value(n) for n in ("start", "stop") if op.given(n) and op.known(n) is not None]
    step = op.known("step")
    if op.given("step") and step not in (None, 1):
        if len(args) == 1:
            args.append(op.value("start"))
            args[0] = cst.Integer("0")
        args.append(op.value("step"))
    expr = call(op.ref("torch.arange"), args, [("dtype", dtype.node(op))])
    return expr, TensorMeta((None,), "cl", dtype.name or "float32")
