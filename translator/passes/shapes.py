"""Static shape inference in Keras axis order, one named function per rule family.

A shape function takes (args, input shapes) and returns the output shapes. `args` is an `Args`
view that yields constants (ints or Sym), applying the rule's Keras defaults.
Unknown dimensions are None; a function raises ShapeError when it cannot say anything.
"""
from __future__ import annotations

from typing import Callable

from ..ir import Sym, dim_add, dim_floordiv, dim_mul, dim_prod, dim_sub, is_int

SHAPE_FUNCTIONS: dict[str, Callable] = {}


class ShapeError(Exception):
    pass


def shape_fn(name: str):
    def register(fn):
        SHAPE_FUNCTIONS[name] = fn
        return fn
    return register


def as_tuple(value, rank: int) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != rank:
            raise ShapeError(f"expected {rank} values, got {value!r}")
        return tuple(value)
    return (value,) * rank


def conv_out(size, k, s, d, padding: str):
    """Keras output length of a conv/pool window along one axis."""
    if size is None:
        return None
    if padding == "same":
        return dim_floordiv(dim_add(size, s - 1), s) if is_int(s) else None
    eff = dim_add(dim_mul(dim_sub(k, 1), d), 1)
    return dim_add(dim_floordiv(dim_sub(size, eff), s), 1)


def same_pads(size, k, s, d) -> tuple:
    """TF 'same' padding (before, after) along one axis; needs a known size when s > 1."""
    eff = (k - 1) * d + 1
    if s == 1:
        total = eff - 1
    else:
        if not is_int(size):
            return None
        total = max((-(-size // s) - 1) * s + eff - size, 0)
    return (total // 2, total - total // 2)


@shape_fn("same")
def same(args, shapes):
    return [shapes[0]]


@shape_fn("dense")
def dense(args, shapes):
    return [shapes[0][:-1] + (args["units"],)]


@shape_fn("embedding")
def embedding(args, shapes):
    return [shapes[0] + (args["output_dim"],)]


@shape_fn("flatten")
def flatten(args, shapes):
    s = shapes[0]
    rest = s[1:]
    return [(s[0], dim_prod(rest) if all(d is not None for d in rest) else None)]


@shape_fn("reshape")
def reshape(args, shapes):
    target = tuple(args["target_shape"])
    if -1 in target:
        known = dim_prod([d for d in target if d != -1])
        total = dim_prod(shapes[0][1:]) if None not in shapes[0][1:] else None
        missing = dim_floordiv(total, known) if total is not None else None
        target = tuple(missing if d == -1 else d for d in target)
    return [(shapes[0][0],) + target]


@shape_fn("conv")
def conv(args, shapes):
    s = shapes[0]
    rank = len(s) - 2
    k = as_tuple(args["kernel_size"], rank)
    st = as_tuple(args["strides"], rank)
    d = as_tuple(args["dilation_rate"], rank)
    spatial = tuple(conv_out(s[1 + i], k[i], st[i], d[i], args["padding"]) for i in range(rank))
    return [(s[0],) + spatial + (args["filters"],)]


@shape_fn("pool")
def pool(args, shapes):
    s = shapes[0]
    rank = len(s) - 2
    k = as_tuple(args["pool_size"], rank)
    st = as_tuple(args["strides"] if args["strides"] is not None else k, rank)
    spatial = tuple(conv_out(s[1 + i], k[i], st[i], 1, args["padding"]) for i in range(rank))
    return [(s[0],) + spatial + (s[-1],)]


@shape_fn("adaptive_pool")
def adaptive_pool(args, shapes):
    s = shapes[0]
    return [(s[0],) + as_tuple(args["output_size"], len(s) - 2) + (s[-1],)]


@shape_fn("global_pool")
def global_pool(args, shapes):
    s = shapes[0]
    if args["keepdims"]:
        return [(s[0],) + (1,) * (len(s) - 2) + (s[-1],)]
    return [(s[0], s[-1])]


@shape_fn("rnn")
def rnn(args, shapes):
    s = shapes[0]
    if args["return_sequences"]:
        return [s[:2] + (args["units"],)]
    return [(s[0], args["units"])]


@shape_fn("broadcast")
def broadcast(args, shapes):
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = [x for x in dims if x != 1]
        out.append(known[0] if known else 1)
    return [tuple(out)]


@shape_fn("concat")
def concat(args, shapes):
    axis = args["axis"] % len(shapes[0])
    total = 0
    for s in shapes:
        total = None if total is None or s[axis] is None else dim_add(total, s[axis])
    base = list(shapes[0])
    base[axis] = total
    return [tuple(base)]


def zero_padding_amounts(padding, rank: int) -> tuple:
    """Keras padding spec -> ((before, after), ...) per spatial axis."""
    if isinstance(padding, int) or isinstance(padding, Sym):
        return ((padding, padding),) * rank
    padding = tuple(padding)
    if all(not isinstance(p, (list, tuple)) for p in padding):
        return tuple((p, p) for p in padding)
    return tuple(tuple(p) for p in padding)




@shape_fn("upsampling")
def upsampling(args, shapes):
    s = shapes[0]
    size = as_tuple(args["size"], len(s) - 2)
    spatial = tuple(dim_mul(s[1 + i], size[i]) if s[1 + i] is not None else None for i in range(len(size)))
    return [(s[0],) + spatial + (s[-1],)]


@shape_fn("unknown")
def unknown(args, shapes):
    raise ShapeError("shape not modelled")


@shape_fn("reduce")
def reduce(args, shapes):
    s = shapes[0]
    axis = args["axis"]
    if axis is None:
        return [()] if not args["keepdims"] else [(1,) * len(s)]
    axes = {a % len(s) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    if args["keepdims"]:
        return [tuple(1 if i in axes else d for i, d in enumerate(s))]
    return [tuple(d for i, d in enumerate(s) if i not in axes)]


@shape_fn("matmul")
def matmul(args, shapes):
    if len(shapes) != 2:
        raise ShapeError("matmul with an operand of unknown shape")
    a, b = shapes
    if len(a) < 2 or len(b) < 2:
        raise ShapeError("matmul of vectors")
    return [tuple(a[:-1]) + (b[-1],)]


@shape_fn("transpose")
def transpose(args, shapes):
    perm = args["axes"]
    s = shapes[0]
    if perm is None:
        return [tuple(reversed(s))]
    return [tuple(s[p] for p in perm)]


@shape_fn("reshape_op")
def reshape_op(args, shapes):
    target = tuple(args["newshape"])
    if target and target[0] in (-1, None) and list(target[1:]).count(-1) == 0:
        return [(shapes[0][0],) + target[1:]]
    raise ShapeError("reshape target does not keep the batch dimension")
