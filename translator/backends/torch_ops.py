"""Emit tensor ops (keras.ops.*, tf.*, K.*, keras.activations.*) found in a forward pass as torch code.

An op rule (rules/ops.yaml) names the Keras paths, the torch function and the params. Params marked
`tensor` / `tensors` are translated by the forward translator, whose metas say which torch layout each
tensor is in; `axis` params are Keras axes, remapped to the torch layout of the tensor.

Ops without `emit:` go through the generic path, chosen by the rule's `layout`:
  any   elementwise: the tensors are brought to one layout (channels-first stays channels-first when all
        tensors have the same rank). A value the translator does not model (meta None) that is not a
        number is in Keras axis order, so then everything is brought to Keras order ('cl').
  axis  the first tensor keeps its layout, the others follow it, `axis` params are remapped; the op keeps
        the rank (softmax, concatenation).
  cl    the tensors are brought to Keras axis order first (matmul, tensordot, flatten).
An `emit:` name selects a function registered here with @op_emitter, for ops whose translation is real
code: reductions that drop axes, reshapes, splits, padding, resizing, Keras-specific formulas.

Layout bookkeeping for ops that drop or insert axes: the *order* of a torch tensor is the Keras axis held
by each torch dimension: identity for 'cl', (0, r-1, 1, ..., r-2) for 'cf'. After dropping or inserting
axes the new order must again be one of those two; when it is not, the op runs in Keras order.

Every emitter returns (expression, meta): meta None means "not a tensor, or a tensor in Keras order";
a list of metas is an op with several outputs (`a, b = tf.split(x, 2, axis=-1)`).
"""
from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Callable

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, Sym, TensorMeta, dim_add, dim_floordiv, dim_mul, dim_prod, is_int
from ..passes.shapes import SHAPE_FUNCTIONS, ShapeError
from ..positions import line_of
from ..rules import OpRule, Param
from ..rules.transforms import VALUE_TRANSFORMS
from ..values import evaluate, make_val, to_node
from .torch_code import call, method, permute, template, to_cf_perm
from .torch_forward_lists import check_list_layout, list_argument

OP_EMITTERS: dict[str, Callable] = {}
VARARGS = {"einsum"}          # emitters that read the call's arguments themselves
MARKERS = ("tensor", "tensors", "axis", "identity")
_MISSING = object()

# torch dtypes a Keras/TF dtype name maps to (tf.float32, "float32", np.float32, K.floatx()).
DTYPES = {name: f"torch.{name}" for name in (
    "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")}
DTYPES.update({"half": "torch.float16", "float": "torch.float32", "double": "torch.float64"})
BOOL_RESULTS = {"torch.eq", "torch.ne", "torch.gt", "torch.ge", "torch.lt", "torch.le", "torch.logical_and",
                "torch.logical_or", "torch.logical_not", "torch.logical_xor", "torch.isnan", "torch.isinf",
                "torch.isfinite"}


# Elementwise binary ops written as Python operators: they accept a number on either side.
OPERATORS = {"torch.add": cst.Add, "torch.sub": cst.Subtract, "torch.mul": cst.Multiply, "torch.div": cst.Divide,
             "torch.floor_divide": cst.FloorDivide, "torch.remainder": cst.Modulo, "torch.pow": cst.Power}
COMPARISONS = {"torch.eq": cst.Equal, "torch.ne": cst.NotEqual, "torch.gt": cst.GreaterThan,
               "torch.ge": cst.GreaterThanEqual, "torch.lt": cst.LessThan, "torch.le": cst.LessThanEqual}
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString)
_PRECEDENCE = {cst.Add: 1, cst.Subtract: 1, cst.Multiply: 2, cst.Divide: 2, cst.FloorDivide: 2, cst.Modulo: 2,
               cst.Power: 4}


def _precedence(node) -> int:
    if isinstance(node, _ATOMS) or node.lpar:
        return 9
    if isinstance(node, cst.BinaryOperation):
        return _PRECEDENCE.get(type(node.operator), 0)
    if isinstance(node, cst.UnaryOperation):
        return 3
    return 0          # comparisons, boolean operations, conditional expressions


def paren(node: cst.BaseExpression, parent: int = 9, right: bool = False) -> cst.BaseExpression:
    """An operand of an operator of precedence `parent`, parenthesised where Python needs it."""
    p = _precedence(node)
    power = parent == 4
    need = p < parent or (p == parent and (right != power)) or (power and not right and p == 3)
    if not need:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def operator_expr(torch_path: str, a, b) -> cst.BaseExpression:
    if torch_path in OPERATORS:
        operator = OPERATORS[torch_path]()
        level = _PRECEDENCE[type(operator)]
        return cst.BinaryOperation(paren(a, level), operator, paren(b, level, right=True))
    return cst.Comparison(paren(a, 1), [cst.ComparisonTarget(COMPARISONS[torch_path](), paren(b, 1))])


def op_emitter(name: str):
    def register(fn):
        OP_EMITTERS[name] = fn
        return fn
    return register


# ---- layout orders --------------------------------------------------------------------------------

def order_of(meta: TensorMeta | None) -> tuple | None:
    """The Keras axis held by each torch dimension; None when the rank is unknown."""
    if meta is None or meta.rank is None:
        return None
    r = meta.rank
    return to_cf_perm(r) if meta.layout == "cf" and r > 2 else tuple(range(r))


def layout_of(order: tuple) -> str | None:
    n = len(order)
    if tuple(order) == tuple(range(n)):
        return "cl"
    if n > 2 and tuple(order) == to_cf_perm(n):
        return "cf"
    return None


def drop_axes(order: tuple, axes) -> tuple:
    """The order after removing Keras axes `axes` (renumbered)."""
    axes = set(axes)
    kept = [a for a in order if a not in axes]
    return tuple(a - sum(1 for d in axes if d < a) for a in kept)


def insert_axis(order: tuple, k: int, prefer: str) -> tuple[int, str] | None:
    """Where (torch dimension) a new Keras axis k goes so that the result is 'cf' or 'cl'."""
    shifted = [a + 1 if a >= k else a for a in order]
    found = {}
    for p in range(len(order) + 1):
        lay = layout_of(tuple(shifted[:p] + [k] + shifted[p:]))
        if lay is not None:
            found.setdefault(lay, p)
    if prefer in found:
        return found[prefer], prefer
    if found:
        lay = next(iter(found))
        return found[lay], lay
    return None


def _norm_axes(axis, rank: int, what) -> tuple:
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not is_int(a):
            what.fail("FWT202", f"axis {a!r} must be a constant integer")
        if not -rank <= a < rank:
            what.fail("FWT202", f"axis {a} out of range for a rank-{rank} tensor")
        out.append(a % rank)
    return tuple(out)


# ---- one op call ----------------------------------------------------------------------------------

class Op:
    """One op call being translated: bound arguments, their constants and translated tensors."""

    def __init__(self, ft, rule: OpRule, node: cst.Call):
        self.ft, self.rule, self.node = ft, rule, node
        self.line = line_of(node)
        path = ft.table.resolve(node.func) or rule.keras[0]
        self.name = re.sub(r"^tensorflow\.", "tf.", re.sub(r"^keras\.backend\.", "K.", path))
        self.bound = {} if rule.emit in VARARGS else self._bind()
        self._cache: dict = {}

    # -- arguments --
    def fail(self, code: str, message: str):
        raise TranslationError(code, f"{self.name}: {message}", self.line)

    def _bind(self) -> dict:
        params = [p for p in self.rule.params if p.keras]
        bound = {}
        positional = [a for a in self.node.args if a.keyword is None]
        for arg in positional:
            if arg.star:
                self.fail("FWT201", "*args are not supported")
        if len(positional) > len(params):
            self.fail("FWT201", "too many arguments")
        for param, arg in zip(params, positional):
            bound[param.keras] = arg.value
        for arg in self.node.args:
            if arg.keyword is None:
                continue
            name = arg.keyword.value
            param = next((p for p in params if p.keras == name or name in p.keras2), None)
            if param is None:
                if name == "name":
                    continue
                self.fail("FWT201", f"argument '{name}' is not supported")
            bound[param.keras] = arg.value
        return bound

    def param(self, name: str) -> Param | None:
        return next((p for p in self.rule.params if p.keras == name), None)

    def given(self, name: str) -> bool:
        return name in self.bound

    def const(self, name: str, default=_MISSING):
        """The argument's constant value (the rule default when not given), UNKNOWN if not constant."""
        if name not in self.bound:
            if default is not _MISSING:
                return default
            p = self.param(name)
            return p.default if p is not None else None
        node = self.bound[name]
        value = make_val(node, self.ft.scope).const
        if value is UNKNOWN and not _is_dtype_attribute(node):
            expr, meta = self._translated(name)       # K.epsilon(), K.floatx()
            value = evaluate(expr, self.ft.scope) if meta is None else UNKNOWN
        return value

    def need_const(self, name: str):
        value = self.const(name)
        if value is UNKNOWN:
            self.fail("FWT202", f"'{name}' must be a constant to translate")
        return value

    def known(self, name: str):
        """The argument's value when it is a literal (or a constant name), without translating it."""
        if name not in self.bound:
            p = self.param(name)
            return p.default if p is not None else None
        return make_val(self.bound[name], self.ft.scope).const

    def _translated(self, name: str):
        key = ("expr", name)
        if key not in self._cache:
            self._cache[key] = self.ft.expr(self.bound[name])
        return self._cache[key]

    def value(self, name: str) -> cst.BaseExpression:
        """A non-tensor argument as torch code (nested ops translated)."""
        known = make_val(self.bound[name], self.ft.scope).const
        if known is not UNKNOWN and not isinstance(known, Sym):
            return to_node(known)
        expr, meta = self._translated(name)
        if meta is not None:
            self.fail("FWT202", f"a tensor as '{name}' is not supported")
        return expr

    def tensor(self, name: str):
        """(expression, meta) of a tensor argument; meta None for a value in Keras order (or a number)."""
        return self._translated(name)

    def tensors(self, name: str) -> list:
        node = self.bound[name]
        if not isinstance(node, (cst.List, cst.Tuple)) or any(isinstance(e, cst.StarredElement)
                                                             for e in node.elements):
            self.fail("FWT201", f"'{name}' must be a list of tensors written in the call")
        key = ("tensors", name)
        if key not in self._cache:
            self._cache[key] = [self.ft.expr(el.value) for el in node.elements]
        return self._cache[key]

    def dtype(self, name: str, default: str | None = None) -> "DType | None":
        """A dtype argument: "float32", tf.float32, K.floatx(), or another tensor's `t.dtype`."""
        if name not in self.bound:
            return DType(default) if default else None
        node = self.bound[name]
        if isinstance(node, cst.Attribute) and node.attr.value == "dtype" and \
                self.ft.table.resolve(node) is None:
            expr, meta = self.ft.expr(node.value)
            return DType(None, cst.Attribute(paren(expr), cst.Name("dtype")), meta.dtype if meta else None)
        value = self.const(name)
        if value is UNKNOWN:
            path = self.ft.table.resolve(node) or ""
            value = path.rsplit(".", 1)[-1] if path else UNKNOWN
        if value is None:
            return DType(default) if default else None
        if not isinstance(value, str) or value not in DTYPES:
            self.fail("FWT202", f"dtype {value!r} is not supported")
        return DType(DTYPES[value])

    def ref(self, path: str) -> cst.BaseExpression:
        return self.ft.imports.ref(path)

    def convert(self, expr, meta, want: str):
        """Bring a tensor to layout `want` in place (`c.permute(...)`): a variable is not rebound, because
        an expression translated earlier in the same statement may use it in its current layout."""
        if meta is None:
            return expr, meta
        return self.ft.convert(expr, meta, want, hoist=False)

    def is_number(self, expr) -> bool:
        """A number (or None, e.g. an open clip bound) rather than a tensor."""
        value = evaluate(expr, self.ft.scope)
        return value is None or isinstance(value, (int, float, bool, Sym))

    def simple(self, expr) -> cst.BaseExpression:
        """An expression used more than once: a name stays, anything else is bound to a fresh name."""
        if isinstance(expr, (cst.Name, cst.Integer, cst.Float)) or not self.ft.hoisting:
            return expr
        name = self.ft.fresh_name("t")
        self.ft.pending.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], expr)]))
        return cst.Name(name)


def _is_dtype_attribute(node) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "dtype"


class DType:
    """A torch dtype to emit: a path (torch.float32) or an expression (`t.dtype`)."""

    def __init__(self, path: str | None, expr: cst.BaseExpression | None = None, name: str | None = None):
        self.path, self.expr = path, expr
        self.name = path.split(".")[-1] if path else name      # None: not known statically

    def node(self, op: Op) -> cst.BaseExpression:
        return op.ref(self.path) if self.path else self.expr


def _common_layout(op: Op, pairs) -> str:
    """The layout elementwise operands are brought to."""
    known = [m for e, m in pairs if m is not None and (m.rank is None or m.rank > 0)]
    opaque = any(m is None and not op.is_number(e) for e, m in pairs)
    if not known or opaque:
        return "cl"
    ranks = {m.rank for m in known}
    if None in ranks or len(ranks) > 1:
        return "cl"
    return known[0].layout


def _meta(shape, layout, dtype) -> TensorMeta:
    if shape is not None and len(shape) <= 2:
        layout = "cl"
    return TensorMeta(tuple(shape) if shape is not None else None, layout if shape is not None else "cl", dtype)


def _dtype_of(metas, default="float32") -> str:
    for m in metas:
        if m is not None:
            return m.dtype
    return default


# ---- entry point ----------------------------------------------------------------------------------

def emit_op(ft, rule: OpRule, node: cst.Call):
    op = Op(ft, rule, node)
    # Arguments that are not tensors are translated first: translating one may rebind a variable to
    # another layout (`c.shape[1]` brings `c` to Keras order), which the tensors must see.
    for p in rule.params:
        if p.keras and op.given(p.keras) and p.value not in ("tensor", "tensors") and \
                make_val(op.bound[p.keras], ft.scope).const is UNKNOWN and not _is_dtype_attribute(op.bound[p.keras]):
            op._translated(p.keras)
    for p in rule.params:
        if p.keras and p.allowed is not None and op.given(p.keras):
            value = op.const(p.keras)
            if value is UNKNOWN or value not in p.allowed or (isinstance(value, bool) and not any(
                    isinstance(a, bool) and a == value for a in p.allowed)):
                op.fail("FWT202", f"{p.keras}={value!r} is not supported (supported: {p.allowed})")
    ft.sites += 1
    if rule.emit:
        if rule.emit not in OP_EMITTERS:
            raise TranslationError("FWT901", f"op rule '{rule.id}' names unknown emitter '{rule.emit}'",
                                   op.line)
        return OP_EMITTERS[rule.emit](op)
    return generic(op)


def _torch_call(op: Op, args, kwargs, torch_path: str | None = None):
    torch_path = torch_path or op.rule.torch
    if torch_path.startswith("."):
        return method(args[0], torch_path[1:], args[1:], kwargs)
    return call(op.ref(torch_path), args, kwargs)



def generic(op: Op, overrides: dict | None = None):
    """The generic path (see the module docstring); `overrides` replaces param constants."""
    rule = op.rule
    overrides = overrides or {}
    groups = []                       # (param, [(expr, meta)], is_list)
    named = {}                        # param -> a list of tensors passed by name (torch_forward_lists)
    for p in rule.params:
        if p.value in ("tensor", "tensors") and op.given(p.keras):
            whole = list_argument(op, p.keras) if p.value == "tensors" and op.ft.tensor_lists else None
            if whole is not None:
                named[p.keras] = whole[0]
            items = [(whole[0], m) for m in whole[1]] if whole is not None else \
                op.tensors(p.keras) if p.value == "tensors" else [op.tensor(p.keras)]
            groups.append((p, items, p.value == "tensors"))
    flat = [it for _, items, _ in groups for it in items]
    if rule.layout == "cl":
        want = "cl"
    elif rule.layout == "axis":
        main = next((m for _, m in flat if m is not None), None)
        opaque = any(m is None and not op.is_number(e) for e, m in flat)
        want = "cl" if main is None or opaque else main.layout
    else:
        want = _common_layout(op, flat)
    keep_flat = rule.layout == "any" and len(flat) == 1
    converted = []
    for p, items, is_list in groups:
        if p.keras in named:
            check_list_layout(named[p.keras], [m for _, m in items], want)
        new = items if keep_flat or p.keras in named else [op.convert(e, m, want) for e, m in items]
        converted.append((p, new, is_list))
    metas = [m for _, items, _ in converted for _, m in items]
    main = next((m for m in metas if m is not None), None)
    args, kwargs, consts = [], [], {}
    given = {p.keras for p, _, _ in converted}
    gap = False
    for p in rule.params:
        if p.value not in ("tensor", "tensors"):
            continue
        if p.keras not in given:
            gap = True
            continue
        _, items, is_list = next(g for g in converted if g[0] is p)
        exprs = [e for e, _ in items]
        node = named[p.keras] if p.keras in named else cst.List([cst.Element(e) for e in exprs]) if is_list \
            else exprs[0]
        if gap:
            kwargs.append((p.torch, node))
        else:
            args.append(node)
    for p in rule.params:
        if p.value in ("tensor", "tensors"):
            continue
        if p.keras is None:
            if p.has_const and p.torch:
                kwargs.append((p.torch, to_node(p.const)))
            continue
        given = op.given(p.keras)
        value = overrides.get(p.keras, op.const(p.keras))
        consts[p.keras] = value
        if p.torch is None:
            continue
        if not given and p.keras not in overrides:
            if value is None or (p.has_torch_default and value == p.torch_default):
                continue
        if p.keras == "dtype":
            dtype = op.dtype(p.keras)
            if dtype is not None:
                kwargs.append((p.torch, dtype.node(op)))
            continue
        if p.value == "axis":
            if value is UNKNOWN:
                op.fail("FWT202", f"'{p.keras}' must be a constant axis")
            if value is not None:
                value = map_axis(op, value, main)
        elif value is not UNKNOWN and value is not None and p.value not in MARKERS:
            value = VALUE_TRANSFORMS[p.value](value)
        if p.has_torch_default and value == p.torch_default:
            continue
        kwargs.append((p.torch, to_node(value) if value is not UNKNOWN else op.value(p.keras)))
    if rule.torch in OPERATORS or rule.torch in COMPARISONS:
        expr = operator_expr(rule.torch, args[0], args[1]) if len(args) == 2 and not kwargs else \
            _torch_call(op, args, kwargs)
    elif rule.torch in ("torch.maximum", "torch.minimum") and len(args) == 2 and not kwargs and (
            op.is_number(args[0]) or op.is_number(args[1])):
        number, tensor = (args[0], args[1]) if op.is_number(args[0]) else (args[1], args[0])
        bound = "min" if rule.torch == "torch.maximum" else "max"
        expr = call(op.ref("torch.clamp"), [tensor], [(bound, number)])
    else:
        expr = _torch_call(op, args, kwargs)
    return expr, _generic_out(op, consts, metas, flat, want, keep_flat)


def map_axis(op: Op, axis, meta: TensorMeta | None):
    """A Keras axis (or tuple of axes) as torch dimension(s) of a tensor with `meta`."""
    if meta is None or meta.rank is None:
        if meta is not None and meta.layout == "cf":
            op.fail("FWT302", "axis on a channels-first tensor of unknown rank")
        return axis             # Keras order: the axis is the torch dimension
    order = order_of(meta)
    axes = _norm_axes(axis, meta.rank, op)
    dims = tuple(order.index(a) for a in axes)
    if meta.layout == "cl" or meta.rank <= 2:     # keep the source's spelling (-1)
        return axis if not isinstance(axis, list) else tuple(axis)
    return dims if isinstance(axis, (tuple, list)) else dims[0]


def _generic_out(op: Op, consts, metas, flat, want, keep_flat):
    rule = op.rule
    known = [m for m in metas if m is not None]
    if not known:
        return None
    first = known[0]
    dtype = "bool" if rule.torch in BOOL_RESULTS else first.dtype
    if rule.layout == "any":
        if keep_flat:
            return replace(first, dtype=dtype, origin=None)
        opaque = any(m is None and not op.is_number(e) for e, m in flat)
        shapes = [m.shape for m in known if m.rank != 0]
        if opaque or any(s is None for s in shapes):
            return TensorMeta(None, "cl", dtype)
        shape = SHAPE_FUNCTIONS["broadcast"](None, shapes)[0] if shapes else ()
        return _meta(shape, want, dtype)
    shape = None
    opaque = any(m is None and not op.is_number(e) for e, m in flat)   # an operand of unknown shape
    if all(m.shape is not None for m in known) and not opaque:
        try:
            shape = SHAPE_FUNCTIONS[rule.shape](consts, [m.shape for m in known])[0]
        except (ShapeError, KeyError, TypeError, IndexError, ZeroDivisionError):
            shape = None
    if rule.layout == "axis":      # rank-preserving ops
        if shape is None and first.rank is not None:
            shape = (None,) * first.rank
        return _meta(shape, want, dtype)
    return _meta(shape, "cl", dtype)


# ---- reductions -----------------------------------------------------------------------------------

def _reduce(op: Op, none_means: str = "all", torch_path: str | None = None, dtype: str | None = None,
            extra_kwargs=()):
    """Reductions over Keras axes (`axis=None`: all axes, or `none_means`='first' / 'flatten')."""
    x, m = op.tensor("x")
    axis = op.const("axis")
    keep = op.const("keepdims", False) if op.param("keepdims") else False
    if axis is UNKNOWN or keep is UNKNOWN:
        op.fail("FWT202", "axis and keepdims must be constants")
    keep = bool(keep)
    torch_path = torch_path or op.rule.torch
    if m is not None and m.dtype.startswith(("int", "uint", "bool")) and torch_path in (
            "torch.mean", "torch.std", "torch.var", "torch.logsumexp"):
        op.fail("FWT202", f"integer input ({m.dtype}): Keras and torch differ in the result dtype")
    if axis is None and none_means == "first":
        axis = 0
    out_dtype = dtype or ("bool" if torch_path in ("torch.any", "torch.all") else _dtype_of([m]))
    if m is not None:
        x, m = op.convert(x, m, m.layout)        # materialise a channels-first flatten
    if axis is None:
        if none_means == "flatten":               # an index into the flattened tensor: Keras order
            x, m = op.convert(x, m, "cl")
        args, kwargs = [x], list(extra_kwargs)
        if keep:
            if m is None or m.rank is None:
                op.fail("FWT302", "keepdims over all axes of a tensor of unknown rank")
            if torch_path in ("torch.argmax", "torch.argmin"):
                kwargs.append(("keepdim", cst.Name("True")))
                return _torch_call(op, args, kwargs, torch_path), _meta((1,) * m.rank, m.layout, out_dtype)
            kwargs = [("dim", to_node(tuple(range(m.rank)))), ("keepdim", cst.Name("True"))] + kwargs
            return _chain(op, torch_path, x, tuple(range(m.rank)), True, kwargs, m.rank), _meta((1,) * m.rank,
                                                                                          m.layout, out_dtype)
        if torch_path == "torch.logsumexp":
            if m is None or m.rank is None:
                op.fail("FWT302", "logsumexp over all axes of a tensor of unknown rank")
            return _torch_call(op, [x], [("dim", to_node(tuple(range(m.rank))))]), _meta((), "cl", out_dtype)
        return _torch_call(op, args, kwargs, torch_path), (_meta((), "cl", out_dtype) if m is not None else None)
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "axis on a channels-first tensor of unknown rank")
        dims = tuple(axis) if isinstance(axis, list) else axis
        out = TensorMeta(None, "cl", out_dtype)
    else:
        axes = _norm_axes(axis, m.rank, op)
        order = order_of(m)
        lay = m.layout if keep else layout_of(drop_axes(order, axes))
        if lay is None:
            x, m = op.convert(x, m, "cl")
            order, lay = tuple(range(m.rank)), "cl"
        torch_dims = tuple(order.index(a) for a in axes)
        if m.layout == "cl" or m.rank <= 2:
            dims = tuple(axis) if isinstance(axis, (tuple, list)) else axis
        else:
            dims = torch_dims if isinstance(axis, (tuple, list)) else torch_dims[0]
        shape = tuple((1 if i in axes else d) for i, d in enumerate(m.shape)) if keep else \
            tuple(d for i, d in enumerate(m.shape) if i not in axes)
        out = _meta(shape, lay, out_dtype)
    if torch_path in ("torch.argmax", "torch.argmin") and isinstance(dims, tuple):
        if len(dims) != 1:
            op.fail("FWT202", "argmax/argmin over several axes is not supported")
        dims = dims[0]
    kwargs = [("dim", to_node(dims))] + ([("keepdim", cst.Name("True"))] if keep else []) + list(extra_kwargs)
    return _chain(op, torch_path, x, dims, keep, kwargs, m.rank if m is not None else None), out


def _chain(op: Op, torch_path, x, dims, keep, kwargs, rank=None):
    """torch.prod reduces one dimension at a time: chain it (highest dimension first)."""
    if torch_path != "torch.prod" or not isinstance(dims, tuple):
        return call(op.ref(torch_path), [x], kwargs)
    if len(dims) == 1:
        return call(op.ref(torch_path), [x], [("dim", to_node(dims[0]))] + kwargs[1:])
    if any(d < 0 for d in dims):
        if rank is None:
            op.fail("FWT302", "prod over several negative axes of a tensor of unknown rank")
        dims = tuple(d % rank for d in dims)
    expr = x
    for d in sorted(dims, reverse=True):
        expr = call(op.ref(torch_path), [expr], [("dim", to_node(d))] + kwargs[1:])
    return expr


@op_emitter("reduce")
def emit_reduce(op: Op):
    extra = [(p.torch, to_node(p.const)) for p in op.rule.params if p.keras is None and p.has_const]
    return _reduce(op, extra_kwargs=extra)


@op_emitter("arg_reduce")
def emit_arg_reduce(op: Op):
    """keras.ops.argmax: axis=None is an index into the flattened tensor."""
    return _reduce(op, none_means="flatten", dtype="int64")


@op_emitter("arg_reduce_first")
def emit_arg_reduce_first(op: Op):
    """tf.argmax: axis=None means axis 0."""
    return _reduce(op, none_means="first", dtype="int64")


# ---- elementwise formulas -------------------------------------------------------------------------

@op_emitter("softmax")
def emit_softmax(op: Op):
    """softmax / log_softmax: `axis=None` (tf.nn) is the last axis; a tuple of axes is not supported."""
    axis = op.const("axis")
    if axis is None:
        axis = -1
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            op.fail("FWT202", "softmax over several axes is not supported")
        axis = axis[0]
    return generic(op, {"axis": axis})


@op_emitter("glu")
def emit_glu(op: Op):
    """glu halves its axis: the output shape is not the input's."""
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    expr, out = generic(op)
    if out is not None and out.shape is not None and m is not None and m.rank is not None:
        a = _norm_axes(axis, m.rank, op)[0]
        shape = list(out.shape)
        shape[a] = dim_floordiv(shape[a], 2) if shape[a] is not None else None
        out = replace(out, shape=tuple(shape))
    return expr, out


@op_emitter("relu_keras")
def emit_relu_keras(op: Op):
    """K.relu / keras.activations.relu(x, negative_slope, max_value, threshold), Keras' formula:
    (x where x > threshold else 0, clipped to [0, max_value]) - negative_slope * relu(threshold - x)."""
    x, m = op.tensor("x")
    slope, cap, threshold = op.const("negative_slope"), op.const("max_value"), op.const("threshold")
    if UNKNOWN in (slope, cap, threshold) or not all(v is None or is_number(v) for v in (slope, cap, threshold)):
        op.fail("FWT202", "negative_slope, max_value and threshold must be constant numbers")
    F = "torch.nn.functional."
    if slope != 0 and cap is None and threshold == 0:
        return call(op.ref(F + "leaky_relu"), [x], [("negative_slope", to_node(slope))]), m
    if slope != 0 or threshold != 0:
        x = op.simple(x)
    if threshold != 0:
        pos = call(op.ref("torch.where"), [template("{x} > {t}", x=paren(x, 1), t=to_node(threshold)), x,
                                           to_node(0.0)])
        if cap is not None:
            pos = call(op.ref("torch.clamp"), [pos, to_node(0.0), to_node(cap)])
    elif cap == 6:
        pos = call(op.ref(F + "relu6"), [x])
    elif cap is not None:
        pos = call(op.ref("torch.clamp"), [x, to_node(0.0), to_node(cap)])
    else:
        pos = call(op.ref(F + "relu"), [x])
    if slope == 0:
        return pos, m
    neg_in = template("{t} - {x}", t=to_node(threshold), x=paren(x, 1, right=True)) if threshold != 0 else \
        cst.UnaryOperation(cst.Minus(), paren(x, 3))
    neg = call(op.ref(F + "relu"), [neg_in])
    return template("{p} - {a} * {n}", p=pos, a=to_node(slope), n=neg), m


@op_emitter("gelu")
def emit_gelu(op: Op):
    x, m = op.tensor("x")
    approximate = op.need_const("approximate")
    kwargs = [("approximate", to_node("tanh"))] if approximate else []
    return call(op.ref("torch.nn.functional.gelu"), [x], kwargs), m


@op_emitter("silu_beta")
def emit_silu_beta(op: Op):
    """tf.nn.silu(x, beta): x * sigmoid(beta * x)."""
    x, m = op.tensor("x")
    beta = op.need_const("beta")
    if beta == 1:
        return call(op.ref("torch.nn.functional.silu"), [x]), m
    x = op.simple(x)
    return template("{x} * {s}", x=x, s=call(op.ref("torch.sigmoid"),
                                             [template("{b} * {x}", b=to_node(beta), x=x)])), m


@op_emitter("hard_sigmoid_keras2")
def emit_hard_sigmoid_keras2(op: Op):
    """tf_keras K.hard_sigmoid: clip(0.2 * x + 0.5, 0, 1) (Keras 3 uses relu6(x + 3) / 6)."""
    x, m = op.tensor("x")
    return call(op.ref("torch.clamp"), [template("{x} * 0.2 + 0.5", x=x), to_node(0.0), to_node(1.0)]), m


@op_emitter("sqrt_keras2")
def emit_sqrt_keras2(op: Op):
    """tf_keras K.sqrt clips negative inputs to 0 first."""
    x, m = op.tensor("x")
    return call(op.ref("torch.sqrt"), [call(op.ref("torch.clamp"), [x], [("min", to_node(0.0))])]), m


@op_emitter("clip")
def emit_clip(op: Op):
    """tf.clip_by_value(x, lo, hi) is max(min(x, hi), lo); torch.clamp(x, lo, hi) is the same when
    lo <= hi (numbers), otherwise two clamps in TF's order (also: torch.clamp takes both bounds as numbers
    or both as tensors). K.clip (rule op_clip_keras2): max < min (numbers) means max = min."""
    lo, hi = op.known("x_min"), op.known("x_max")
    if op.rule.id == "op_clip_keras2" and is_number(lo) and is_number(hi) and hi < lo:
        hi = lo
        overrides = {"x_max": lo}
    else:
        overrides = {}
    pairs = [op.tensor("x"), op.tensor("x_min"), op.tensor("x_max")]
    want = _common_layout(op, pairs)
    x, lo_, hi_ = [op.convert(e, m, want) for e, m in pairs]
    lo_e = lo_[0]
    hi_e = to_node(overrides["x_max"]) if overrides else hi_[0]
    lo_v, hi_v = evaluate(lo_e, op.ft.scope), evaluate(hi_e, op.ft.scope)
    if lo_v is None or hi_v is None or (is_number(lo_v) and is_number(hi_v) and lo_v <= hi_v):
        expr = call(op.ref("torch.clamp"), [x[0], lo_e, hi_e])
    else:   # tf.clip_by_value is max(min(x, hi), lo): lo wins where lo > hi (torch.clamp: hi wins)
        expr = call(op.ref("torch.clamp"), [call(op.ref("torch.clamp"), [x[0]], [("max", hi_e)])],
                    [("min", lo_e)])
    return expr, _generic_out_any(op, [x, lo_, hi_], want)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, (bool, Sym))


@op_emitter("squared_difference")
def emit_squared_difference(op: Op):
    pairs = [op.tensor("x1"), op.tensor("x2")]
    want = _common_layout(op, pairs)
    (a, ma), (b, mb) = [op.convert(e, m, want) for e, m in pairs]
    expr = call(op.ref("torch.square"), [cst.BinaryOperation(a, cst.Subtract(), b)])
    return expr, _generic_out_any(op, [(a, ma), (b, mb)], want)


def _generic_out_any(op: Op, pairs, want, dtype=None):
    known = [m for _, m in pairs if m is not None]
    if not known:
        return None
    dtype = dtype or known[0].dtype
    opaque = any(m is None and not op.is_number(e) for e, m in pairs)
    shapes = [m.shape for m in known if m.rank != 0]
    if opaque or any(s is None for s in shapes):
        return TensorMeta(None, "cl", dtype)
    return _meta(SHAPE_FUNCTIONS["broadcast"](None, shapes)[0] if shapes else (), want, dtype)


@op_emitter("add_n")
def emit_add_n(op: Op):
    pairs = op.tensors("inputs")
    if not pairs:
        op.fail("FWT201", "no inputs")
    want = _common_layout(op, pairs)
    pairs = [op.convert(e, m, want) for e, m in pairs]
    expr = pairs[0][0]
    for e, _ in pairs[1:]:
        expr = cst.BinaryOperation(expr, cst.Add(), e)
    return expr, _generic_out_any(op, pairs, want)


@op_emitter("identity")
def emit_identity(op: Op):
    return op.tensor("x")


@op_emitter("constant")
def emit_constant(op: Op):
    """K.epsilon() -> 1e-07, K.floatx() -> "float32": the Keras default, written as a literal."""
    value = next(p.const for p in op.rule.params if p.keras is None and p.has_const)
    return to_node(value), None


@op_emitter("cast")
def emit_cast(op: Op):
    x, m = op.tensor("x")
    dtype = op.dtype("dtype")
    if dtype is None:
        op.fail("FWT202", "dtype is required")
    out = replace(m, dtype=dtype.name or m.dtype, origin=None) if m is not None else None
    return method(x, "to", [dtype.node(op)]), out


@op_emitter("l2_normalize")
def emit_l2_normalize(op: Op):
    """tf.math.l2_normalize: x * rsqrt(max(sum(x**2), eps)) == F.normalize(x, eps=sqrt(eps));
    keras.ops.normalize: x * min(rsqrt(sum(x**2)), 1/eps) == F.normalize(x, eps=eps)."""
    x, m = op.tensor("x")
    axis = op.const("axis")
    order = op.const("order", 2)
    if order != 2:
        op.fail("FWT202", f"order={order!r} is not supported (only 2)")
    eps = op.const("epsilon")
    if axis is UNKNOWN or eps is UNKNOWN:
        op.fail("FWT202", "axis and epsilon must be constants")
    if op.rule.id == "op_normalize":
        eps = 1e-7 if eps is None else eps
    else:
        eps = math.sqrt(1e-12 if eps is None else eps)
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    if axis is None:
        if m is None or m.rank is None:
            op.fail("FWT302", "normalising over all axes of a tensor of unknown rank")
        dims = tuple(range(m.rank))
    else:
        dims = map_axis(op, axis, m)
    kwargs = [("dim", to_node(dims))] + ([("eps", to_node(eps))] if eps != 1e-12 else [])
    return call(op.ref("torch.nn.functional.normalize"), [x], kwargs), m


# ---- shapes ---------------------------------------------------------------------------------------

@op_emitter("shape")
def emit_shape(op: Op):
    """K.int_shape / K.shape / tf.shape / keras.ops.shape: the shape in Keras axis order."""
    x, m = op.tensor("x")
    if m is None or m.layout == "cl" or m.rank is None or m.rank <= 2:
        return call(cst.Name("tuple"), [cst.Attribute(x, cst.Name("shape"))]), None
    x = op.simple(x)
    return template("({x}.shape[0], *{x}.shape[2:], {x}.shape[1])", x=x), None


# ---- reshaping, transposing -----------------------------------------------------------------------

def _reshape_shape(target, in_shape):
    """The Keras output shape of reshape(x, target) (target constant), or None."""
    if not isinstance(target, (tuple, list)):
        return None
    target = list(target)
    if any(not (is_int(d) or isinstance(d, Sym)) for d in target):
        return tuple(d if is_int(d) and d >= 0 else None for d in target)
    if target.count(-1) > 1:
        return None
    if -1 not in target:
        return tuple(target)
    rest = [d for d in target if d != -1]
    known_in = in_shape is not None and all(d is not None for d in in_shape)
    if known_in:
        total = dim_prod(in_shape)
        missing = dim_floordiv(total, dim_prod(rest)) if rest else total
        return tuple(missing if d == -1 else d for d in target)
    if in_shape is not None and target[0] == -1 and all(d is not None for d in in_shape[1:]) \
            and dim_prod(target[1:]) == dim_prod(in_shape[1:]):
        return (in_shape[0],) + tuple(target[1:])
    return tuple(None if d == -1 else d for d in target)


@op_emitter("reshape")
def emit_reshape(op: Op):
    x, m = op.tensor("x")
    x, m = op.convert(x, m, "cl")
    node = op.bound.get("newshape")
    if node is None:
        op.fail("FWT201", "the target shape is required")
    target = op.const("newshape")
    if isinstance(target, (tuple, list)) and any(d is None for d in target):
        op.fail("FWT202", "None in a reshape target is not supported (use -1)")
    if is_int(target) or isinstance(target, Sym):
        args, rank, target = [to_node(target)], 1, (target,)
    elif isinstance(target, (tuple, list)):
        args, rank = [to_node(d) for d in target], len(target)
    elif isinstance(node, (cst.Tuple, cst.List)) and not any(isinstance(e, cst.StarredElement)
                                                             for e in node.elements):
        args, rank = [op.ft.expr(el.value)[0] for el in node.elements], len(node.elements)
    else:
        args, rank = [op.value("newshape")], None
    expr = method(x, "reshape", args)
    shape = _reshape_shape(target, m.shape if m is not None else None) if target is not UNKNOWN else None
    if shape is None and rank is not None:
        shape = (None,) * rank
    return expr, (_meta(shape, "cl", _dtype_of([m])) if m is not None or shape is not None else None)


def _permute_from(op: Op, x, m, perm):
    """x (in its torch layout) permuted to the Keras axis order `perm`: one permute, result in 'cl'."""
    order = order_of(m) or tuple(range(len(perm)))
    torch_perm = tuple(order.index(p) for p in perm)
    out = _meta(tuple(m.shape[p] for p in perm), "cl", m.dtype) if m is not None and m.shape else \
        TensorMeta(None, "cl", _dtype_of([m]))
    if m is not None and m.flat_from is not None:
        x, m = op.convert(x, m, "cl")
    if torch_perm == tuple(range(len(perm))):
        return x, out
    return permute(x, torch_perm), out


@op_emitter("transpose")
def emit_transpose(op: Op):
    x, m = op.tensor("x")
    perm = op.const("axes")
    if perm is UNKNOWN:
        op.fail("FWT202", "the permutation must be a constant")
    rank = m.rank if m is not None else None
    if perm is None:
        if rank is None:
            op.fail("FWT302", "transpose without a permutation needs the rank")
        perm = tuple(reversed(range(rank)))
    perm = tuple(perm)
    if rank is None:
        x, m = op.convert(x, m, "cl")
        return permute(x, perm), TensorMeta(None, "cl", _dtype_of([m]))
    if sorted(p % rank for p in perm) != list(range(rank)):
        op.fail("FWT202", f"{perm} is not a permutation of {rank} axes")
    return _permute_from(op, x, m, tuple(p % rank for p in perm))


@op_emitter("swapaxes")
def emit_swapaxes(op: Op):
    x, m = op.tensor("x")
    if m is None or m.rank is None:
        op.fail("FWT302", "swapaxes needs the rank")
    a, b = _norm_axes(op.need_const("axis1"), m.rank, op)[0], _norm_axes(op.need_const("axis2"), m.rank, op)[0]
    perm = list(range(m.rank))
    perm[a], perm[b] = perm[b], perm[a]
    return _permute_from(op, x, m, tuple(perm))


@op_emitter("moveaxis")
def emit_moveaxis(op: Op):
    x, m = op.tensor("x")
    if m is None or m.rank is None:
        op.fail("FWT302", "moveaxis needs the rank")
    src = _norm_axes(op.need_const("source"), m.rank, op)
    dst = _norm_axes(op.need_const("destination"), m.rank, op)
    if len(src) != len(dst):
        op.fail("FWT202", "source and destination differ in length")
    rest = [a for a in range(m.rank) if a not in src]
    perm = [None] * m.rank
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(rest)
    perm = tuple(p if p is not None else next(it) for p in perm)
    return _permute_from(op, x, m, perm)


def _insert(op: Op, x, m, axis):
    """Where a new Keras axis goes: (torch dim, output Keras axis, x, meta, output layout)."""
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "a new axis in a channels-first tensor of unknown rank")
        return axis, None, x, m, "cl"
    r = m.rank
    if not is_int(axis) or not -(r + 1) <= axis <= r:
        op.fail("FWT202", f"axis {axis!r} out of range")
    k = axis % (r + 1)
    found = insert_axis(order_of(m), k, m.layout)
    if found is None:
        x, m = op.convert(x, m, "cl")
        return k, k, x, m, "cl"
    pos, lay = found
    if m.layout == "cl" or r <= 2:
        pos = axis if axis < 0 and pos == k and lay == "cl" else pos
    return pos, k, x, m, lay


@op_emitter("expand_dims")
def emit_expand_dims(op: Op):
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    if isinstance(axis, (tuple, list)):
        op.fail("FWT202", "several axes at once are not supported")
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    pos, k, x, m, lay = _insert(op, x, m, axis)
    expr = call(op.ref("torch.unsqueeze"), [x, to_node(pos)])
    if m is None or m.rank is None:
        return expr, TensorMeta(None, "cl", _dtype_of([m])) if m is not None else None
    shape = list(m.shape)
    shape.insert(k, 1)
    return expr, _meta(shape, lay, m.dtype)


@op_emitter("stack")
def emit_stack(op: Op):
    pairs = op.tensors("values")
    if not pairs:
        op.fail("FWT201", "no tensors")
    axis = op.need_const("axis")
    want = _common_layout(op, pairs)
    pairs = [op.convert(e, m, want) for e, m in pairs]
    m = next((mm for _, mm in pairs if mm is not None), None)
    x = pairs[0][0]
    pos, k, _, m2, lay = _insert(op, x, m, axis)
    if m2 is not m:        # the new axis needs Keras order: bring every tensor there
        pairs = [op.convert(e, mm, "cl") for e, mm in pairs]
        m = m2
    expr = call(op.ref("torch.stack"), [cst.List([cst.Element(e) for e, _ in pairs])],
                [("dim", to_node(pos))] if pos != 0 else [])
    if m is None or m.rank is None:
        return expr, TensorMeta(None, "cl", _dtype_of([m])) if m is not None else None
    shape = list(m.shape)
    shape.insert(k, len(pairs))
    return expr, _meta(shape, lay, m.dtype)


@op_emitter("squeeze")
def emit_squeeze(op: Op):
    x, m = op.tensor("x")
    axis = op.const("axis")
    if axis is UNKNOWN:
        op.fail("FWT202", "axis must be a constant")
    if axis is None:           # every size-1 axis, known at run time: in Keras order
        x, m = op.convert(x, m, "cl")
        out = None
        if m is not None:
            out = _meta(tuple(d for d in m.shape if d != 1), "cl", m.dtype) if m.shape is not None else \
                TensorMeta(None, "cl", m.dtype)
        return call(op.ref("torch.squeeze"), [x]), out
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "axis on a channels-first tensor of unknown rank")
        dims = tuple(axis) if isinstance(axis, list) else axis
        return call(op.ref("torch.squeeze"), [x, to_node(dims)]), (TensorMeta(None, "cl", m.dtype) if m else None)
    x, m = op.convert(x, m, m.layout)
    axes = _norm_axes(axis, m.rank, op)
    for a in axes:
        if m.shape[a] not in (1, None):
            op.fail("FWT202", f"axis {a} has size {m.shape[a]}, not 1")
    lay = layout_of(drop_axes(order_of(m), axes))
    if lay is None:
        x, m = op.convert(x, m, "cl")
        lay = "cl"
    dims = map_axis(op, axis, m)
    expr = call(op.ref("torch.squeeze"), [x, to_node(dims)])
    return expr, _meta(tuple(d for i, d in enumerate(m.shape) if i not in axes), lay, m.dtype)


@op_emitter("flatten")
def emit_flatten(op: Op):
    """K.flatten (to 1-D) and K.batch_flatten (keep the batch axis), in Keras order."""
    x, m = op.tensor("x")
    x, m = op.convert(x, m, "cl")
    start = next(p.const for p in op.rule.params if p.keras is None and p.has_const)
    expr = call(op.ref("torch.flatten"), [x] + ([to_node(start)] if start else []))
    if m is None or m.shape is None:
        return expr, TensorMeta(None, "cl", _dtype_of([m])) if m is not None else None
    rest = m.shape[start:]
    size = dim_prod(rest) if all(d is not None for d in rest) else None
    return expr, _meta(tuple(m.shape[:start]) + (size,), "cl", m.dtype)


# ---- splitting ------------------------------------------------------------------------------------

def _axis_meta(op: Op, x, m, axis):
    """(x, meta, torch dim, normalised Keras axis) for an op along one axis that keeps the rank."""
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "axis on a channels-first tensor of unknown rank")
        return x, m, axis, None
    a = _norm_axes(axis, m.rank, op)[0]
    return x, m, map_axis(op, axis, m), a


def _split_metas(m, a, sizes):
    if m is None or m.shape is None or a is None:
        return [None] * len(sizes)
    out = []
    for s in sizes:
        shape = list(m.shape)
        shape[a] = s
        out.append(_meta(shape, m.layout, m.dtype))
    return out


@op_emitter("split_sizes")
def emit_split_sizes(op: Op):
    """tf.split(x, n or [sizes], axis)."""
    x, m = op.tensor("x")
    spec = op.need_const("indices_or_sections")
    axis = op.need_const("axis")
    x, m, dim, a = _axis_meta(op, x, m, axis)
    size = m.shape[a] if m is not None and m.shape is not None and a is not None else None
    kwargs = [("dim", to_node(dim))] if dim != 0 else []
    if isinstance(spec, int):
        if is_int(size):
            if size % spec:
                op.fail("FWT202", f"{size} is not divisible into {spec} parts")
            expr = call(op.ref("torch.chunk"), [x, to_node(spec)], kwargs)
        else:
            expr = call(op.ref("torch.tensor_split"), [x, to_node(spec)], kwargs)
        part = size // spec if is_int(size) else None
        return expr, _split_metas(m, a, [part] * spec)
    sizes = list(spec)
    if sizes.count(-1) == 1:
        if not is_int(size):
            op.fail("FWT302", "a -1 split size needs the static size of the axis")
        sizes[sizes.index(-1)] = size - sum(s for s in sizes if s != -1)
    return call(op.ref("torch.split"), [x, to_node(sizes)], kwargs), _split_metas(m, a, sizes)


@op_emitter("split_indices")
def emit_split_indices(op: Op):
    """keras.ops.split(x, n or [indices], axis): numpy semantics (a list holds split points)."""
    x, m = op.tensor("x")
    spec = op.need_const("indices_or_sections")
    axis = op.need_const("axis")
    x, m, dim, a = _axis_meta(op, x, m, axis)
    size = m.shape[a] if m is not None and m.shape is not None and a is not None else None
    kwargs = [("dim", to_node(dim))] if dim != 0 else []
    if isinstance(spec, int):
        if is_int(size) and size % spec:
            op.fail("FWT202", f"{size} is not divisible into {spec} parts")
        fn = "torch.chunk" if is_int(size) else "torch.tensor_split"
        part = size // spec if is_int(size) else None
        return call(op.ref(fn), [x, to_node(spec)], kwargs), _split_metas(m, a, [part] * spec)
    points = list(spec)
    sizes = []
    if is_int(size):
        bounds = [0] + [min(max(p if p >= 0 else p + size, 0), size) for p in points] + [size]
        sizes = [max(b - a_, 0) for a_, b in zip(bounds, bounds[1:])]
    else:
        sizes = [None] * (len(points) + 1)
    return call(op.ref("torch.tensor_split"), [x, to_node(list(points))], kwargs), _split_metas(m, a, sizes)


@op_emitter("unstack")
def emit_unstack(op: Op):
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    num = op.const("num")
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "axis on a channels-first tensor of unknown rank")
        expr = call(op.ref("torch.unbind"), [x] + ([to_node(axis)] if axis != 0 else []))
        return expr, [None] * num if is_int(num) else None
    a = _norm_axes(axis, m.rank, op)[0]
    lay = layout_of(drop_axes(order_of(m), (a,)))
    if lay is None:
        x, m = op.convert(x, m, "cl")
        lay = "cl"
    dim = map_axis(op, axis, m)
    expr = call(op.ref("torch.unbind"), [x] + ([to_node(dim)] if dim != 0 else []))
    count = m.shape[a] if is_int(m.shape[a]) else (num if is_int(num) else None)
    if count is None:
        return expr, None
    shape = tuple(d for i, d in enumerate(m.shape) if i != a)
    return expr, [_meta(shape, lay, m.dtype) for _ in range(count)]


# ---- indexing ------------------------------------------------------------------------------------

def _index_at(x, dim: int, index: cst.BaseExpression) -> cst.Subscript:
    items = [cst.SubscriptElement(cst.Slice(lower=None, upper=None)) for _ in range(dim)]
    items.append(cst.SubscriptElement(cst.Index(index)))
    return cst.Subscript(value=paren(x), slice=items)


def _gather(op: Op, x, m, idx_name: str, axis):
    """x[:, ..., indices] (numpy advanced indexing == tf.gather along one axis)."""
    idx_const = op.known(idx_name)
    if idx_const is not UNKNOWN and not isinstance(idx_const, Sym):
        idx_expr, idx_meta = to_node(list(idx_const) if isinstance(idx_const, tuple) else idx_const), None
        idx_shape = (len(idx_const),) if isinstance(idx_const, (list, tuple)) else ()
        if isinstance(idx_const, (list, tuple)) and any(isinstance(i, (list, tuple)) for i in idx_const):
            op.fail("FWT202", "nested constant indices are not supported")
    else:
        idx_expr, idx_meta = op.tensor(idx_name)
        if idx_meta is not None:
            idx_expr, idx_meta = op.convert(idx_expr, idx_meta, "cl")
            idx_shape = idx_meta.shape
        else:
            idx_shape = None
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    if m is None or m.rank is None:
        if m is not None and m.layout == "cf":
            op.fail("FWT302", "gather on a channels-first tensor of unknown rank")
        if not is_int(axis) or axis < 0:
            op.fail("FWT302", "gather along a negative axis of a tensor of unknown rank")
        return _index_at(x, axis, idx_expr), (TensorMeta(None, "cl", m.dtype) if m is not None else None)
    a = _norm_axes(axis, m.rank, op)[0]
    if idx_shape is None or len(idx_shape) > 1:
        x, m = op.convert(x, m, "cl")
        lay = "cl"
    elif len(idx_shape) == 1:
        lay = m.layout
    else:
        lay = layout_of(drop_axes(order_of(m), (a,)))
        if lay is None:
            x, m = op.convert(x, m, "cl")
            lay = "cl"
    dim = order_of(m).index(a)
    expr = _index_at(x, dim, idx_expr)
    if idx_shape is None:
        return expr, TensorMeta(None, "cl", m.dtype)
    shape = tuple(m.shape[:a]) + tuple(idx_shape) + tuple(m.shape[a + 1:])
    return expr, _meta(shape, lay, m.dtype)


@op_emitter("gather")
def emit_gather(op: Op):
    """tf.gather(params, indices, axis=None -> 0) / K.gather(reference, indices)."""
    x, m = op.tensor("x")
    if op.const("batch_dims", 0) not in (0, None):
        op.fail("FWT202", "batch_dims is not supported")
    axis = op.const("axis", 0)
    if axis is UNKNOWN:
        op.fail("FWT202", "axis must be a constant")
    return _gather(op, x, m, "indices", 0 if axis is None else axis)


@op_emitter("take")
def emit_take(op: Op):
    """keras.ops.take(x, indices, axis=None): axis None indexes the flattened tensor (Keras order)."""
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    if axis is None:
        x, m = op.convert(x, m, "cl")
        x = call(op.ref("torch.flatten"), [x])
        m = TensorMeta((None,), "cl", m.dtype) if m is not None else None
        axis = 0
    return _gather(op, x, m, "indices", axis)


@op_emitter("where")
def emit_where(op: Op):
    """tf.where / keras.ops.where: three arguments are elementwise; one argument gives indices."""
    c, cm = op.tensor("condition")
    if not op.given("x1") and not op.given("x2"):
        c, cm = op.convert(c, cm, "cl")
        if op.rule.id == "op_where_tf":
            return call(op.ref("torch.argwhere"), [c]), TensorMeta((None, cm.rank if cm else None), "cl", "int64") \
                if cm is not None and cm.rank is not None else None
        return call(op.ref("torch.nonzero"), [c], [("as_tuple", cst.Name("True"))]), None
    if not (op.given("x1") and op.given("x2")):
        op.fail("FWT201", "give both x and y, or neither")
    pairs = [(c, cm), op.tensor("x1"), op.tensor("x2")]
    if op.rule.id == "op_switch":
        return _switch(op, pairs)
    want = _common_layout(op, pairs)
    (c, cm), (a, am), (b, bm) = [op.convert(e, m, want) for e, m in pairs]
    if cm is None or cm.dtype != "bool":
        c = method(c, "bool")
    expr = call(op.ref("torch.where"), [c, a, b])
    return expr, _generic_out_any(op, [(c, cm), (a, am), (b, bm)], want,
                                  dtype=_dtype_of([am, bm]))


def _switch(op: Op, pairs):
    """K.switch(condition, then, else): a condition of lower rank gets trailing axes (not numpy)."""
    (c, cm), (a, am), (b, bm) = pairs
    if cm is None or cm.rank is None or am is None or am.rank is None:
        op.fail("FWT302", "K.switch needs the ranks of the condition and the branches")
    if cm.rank > 1 and cm.rank < am.rank:
        c, cm = op.convert(c, cm, "cl")
        pairs = [(c, cm), op.convert(a, am, "cl"), op.convert(b, bm, "cl")]
        (c, cm), (a, am), (b, bm) = pairs
        items = [cst.SubscriptElement(cst.Index(cst.Ellipsis()))] + [
            cst.SubscriptElement(cst.Index(cst.Name("None"))) for _ in range(am.rank - cm.rank)]
        c = cst.Subscript(value=paren(c), slice=items)
        cm = replace(cm, shape=tuple(cm.shape) + (1,) * (am.rank - cm.rank))
        want = "cl"
    else:
        want = _common_layout(op, pairs)
        (c, cm), (a, am), (b, bm) = [op.convert(e, m, want) for e, m in pairs]
    if cm.dtype != "bool":
        c = method(c, "bool")
    return call(op.ref("torch.where"), [c, a, b]), _generic_out_any(op, [(c, cm), (a, am), (b, bm)], want,
                                                                     dtype=_dtype_of([am, bm]))


@op_emitter("one_hot")
def emit_one_hot(op: Op):
    """F.one_hot needs int64 indices and returns int64: cast to the Keras dtype (float32)."""
    x, m = op.tensor("x")
    x, m = op.convert(x, m, "cl")
    depth = op.const("num_classes")
    for name in ("on_value", "off_value"):
        if op.param(name) and op.given(name) and op.const(name) not in (None, {"on_value": 1, "off_value": 0}[name]):
            op.fail("FWT202", f"{name} other than the default is not supported")
    axis = op.const("axis", -1)
    if axis is UNKNOWN:
        op.fail("FWT202", "axis must be a constant")
    if op.const("sparse", False):
        op.fail("FWT202", "sparse=True is not supported")
    idx = x if m is not None and m.dtype == "int64" else method(x, "long")
    depth_node = to_node(depth) if depth is not UNKNOWN else op.value("num_classes")
    expr = call(op.ref("torch.nn.functional.one_hot"), [idx, depth_node])
    dtype = op.dtype("dtype", "torch.float32")
    expr = method(expr, "to", [dtype.node(op)])
    shape = None
    if m is not None and m.shape is not None:
        shape = tuple(m.shape) + (depth if is_int(depth) else None,)
    if axis not in (None, -1):
        if shape is None or not is_int(axis):
            op.fail("FWT302", "one_hot with an axis needs the rank")
        k = axis % len(shape)
        expr = method(expr, "movedim", [to_node(-1), to_node(k)])
        shape = shape[:-1]
        shape = tuple(shape[:k]) + (depth if is_int(depth) else None,) + tuple(shape[k:])
    return expr, _meta(shape, "cl", dtype.name or "float32") if shape is not None else TensorMeta(
        None, "cl", dtype.name or "float32")


@op_emitter("cumulative")
def emit_cumulative(op: Op):
    """cumsum/cumprod along an axis; keras.ops' axis=None runs over the flattened tensor."""
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    for flag in ("exclusive", "reverse"):
        if op.param(flag) and op.const(flag):
            op.fail("FWT202", f"{flag}=True is not supported")
    if op.param("dtype") and op.given("dtype") and op.dtype("dtype") is not None:
        op.fail("FWT202", "dtype is not supported")
    if axis is None:
        x, m = op.convert(x, m, "cl")
        expr = call(op.ref(op.rule.torch), [call(op.ref("torch.flatten"), [x]), to_node(0)])
        return expr, TensorMeta((None,), "cl", m.dtype) if m is not None else None
    x, m, dim, _ = _axis_meta(op, x, m, axis)
    return call(op.ref(op.rule.torch), [x], [("dim", to_node(dim))]), m


@op_emitter("repeat")
def emit_repeat(op: Op):
    """keras.ops.repeat / tf.repeat / K.repeat_elements -> torch.repeat_interleave."""
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    reps = op.const("repeats")
    reps_node = to_node(reps) if reps is not UNKNOWN and not isinstance(reps, Sym) else op.value("repeats")
    if isinstance(reps, (list, tuple)):      # a tensor of counts, on the input's device
        x = op.simple(x)
        reps_node = call(op.ref("torch.tensor"), [to_node(list(reps))],
                         [("device", cst.Attribute(x, cst.Name("device")))])
    if axis is None:
        x, m = op.convert(x, m, "cl")
        return call(op.ref("torch.repeat_interleave"), [x, reps_node]), TensorMeta((None,), "cl", _dtype_of([m]))
    x, m, dim, a = _axis_meta(op, x, m, axis)
    expr = call(op.ref("torch.repeat_interleave"), [x, reps_node], [("dim", to_node(dim))])
    if m is None or m.shape is None:
        return expr, m
    shape = list(m.shape)
    shape[a] = dim_mul(shape[a], reps) if is_int(reps) and shape[a] is not None else (
        sum(reps) if isinstance(reps, (list, tuple)) else None)
    return expr, _meta(shape, m.layout, m.dtype)


@op_emitter("flip")
def emit_flip(op: Op):
    x, m = op.tensor("x")
    axis = op.need_const("axis")
    if m is not None:
        x, m = op.convert(x, m, m.layout)
    if axis is None:
        if m is None or m.rank is None:
            op.fail("FWT302", "flip over all axes needs the rank")
        dims = tuple(range(m.rank))
    else:
        dims = map_axis(op, tuple(axis) if isinstance(axis, (list, tuple)) else (axis,), m)
    return call(op.ref("torch.flip"), [x, to_node(tuple(dims))]), m


@op_emitter("tile")
def emit_tile(op: Op):
    x, m = op.tensor("x")
    reps = op.const("repeats")
    if is_int(reps):
        reps = (reps,)
    if reps is UNKNOWN or isinstance(reps, Sym) or any(not is_int(r) for r in reps):
        x, m = op.convert(x, m, "cl")
        return call(op.ref("torch.tile"), [x, op.value("repeats")]), (
            TensorMeta(None, "cl", m.dtype) if m is not None else None)
    reps = tuple(reps)
    if m is None or m.rank is None or len(reps) > m.rank:
        x, m = op.convert(x, m, "cl")
        shape = None
        if m is not None and m.shape is not None:
            full = (1,) * (len(reps) - m.rank) + tuple(m.shape)
            shape = tuple(dim_mul(d, r) if d is not None else None for d, r in zip(full, reps))
        return call(op.ref("torch.tile"), [x, to_node(reps)]), (_meta(shape, "cl", m.dtype) if shape else (
            TensorMeta(None, "cl", m.dtype) if m is not None else None))
    x, m = op.convert(x, m, m.layout)
    reps = (1,) * (m.rank - len(reps)) + reps
    order = order_of(m)
    torch_reps = tuple(reps[a] for a in order)
    shape = tuple(dim_mul(d, r) if d is not None else None for d, r in zip(m.shape, reps))
    return call(op.ref("torch.tile"), [x, to_node(torch_reps)]), _meta(shape, m.layout, m.dtype)


def _pad(op: Op, x, m, pads, mode: str, value):
    """F.pad from Keras per-axis (before, after) pairs, in the tensor's torch layout."""
    mode = {"constant": "constant", "reflect": "reflect"}.get(mode)
    if mode is None:
        op.fail("FWT202", "this padding mode has no torch equivalent")
    if m is None or m.rank is None:
        op.fail("FWT302", "padding needs the rank")
    x, m = op.convert(x, m, m.layout)
    r = m.rank
    pads = [tuple(p) for p in pads]
    if len(pads) == 1 and r > 1:
        pads = pads * r
    if len(pads) != r or any(len(p) != 2 or not all(is_int(v) and v >= 0 for v in p) for p in pads):
        op.fail("FWT202", f"paddings {pads} do not match a rank-{r} tensor")
    order = order_of(m)
    torch_pads = [pads[a] for a in order]
    nonzero = [i for i, p in enumerate(torch_pads) if p != (0, 0)]
    first = nonzero[0] if nonzero else r - 1
    if mode != "constant":      # F.pad pads the last k dims of a (k+1)- or (k+2)-dim input, k <= 3
        if first == 0:
            op.fail("FWT202", f"{mode} padding of the batch axis is not supported")
        first = 1 if (first == 1 or r == 2) else 2
        if not 1 <= r - first <= 3:
            op.fail("FWT202", f"{mode} padding of a rank-{r} tensor is not supported")
    flat = []
    for p in reversed(torch_pads[first:]):
        flat += list(p)
    kwargs = []
    if mode != "constant":
        kwargs.append(("mode", to_node(mode)))
    elif value not in (0, 0.0, None):
        kwargs.append(("value", to_node(value)))
    expr = call(op.ref("torch.nn.functional.pad"), [x, to_node(tuple(flat))], kwargs)
    shape = tuple(dim_add(dim_add(d, a), b) if d is not None else None for d, (a, b) in zip(m.shape, pads))
    return expr, _meta(shape, m.layout, m.dtype)


@op_emitter("pad")
def emit_pad(op: Op):
    x, m = op.tensor("x")
    pads = op.need_const("pad_width")
    mode = op.need_const("mode")
    value = op.const("constant_values")
    if value is UNKNOWN or not (value is None or is_number(value)):
        op.fail("FWT202", "constant_values must be a constant number")
    if not isinstance(mode, str):
        op.fail("FWT202", "mode must be a constant string")
    if is_int(pads):
        pads = ((pads, pads),)
    pads = tuple(pads)
    if len(pads) == 2 and all(is_int(p) for p in pads):
        pads = (pads,)
    return _pad(op, x, m, pads, mode.lower(), value)


@op_emitter("spatial_padding")
def emit_spatial_padding(op: Op):
    """K.spatial_2d_padding / K.temporal_padding: zero padding of the spatial axes (channels_last)."""
    x, m = op.tensor("x")
    padding = op.need_const("padding")
    if op.const("data_format", None) not in (None, "channels_last"):
        op.fail("FWT202", "data_format other than channels_last is not supported")
    spatial = (tuple(padding),) if op.rule.id == "op_temporal_padding" else tuple(tuple(p) for p in padding)
    pads = ((0, 0),) + spatial + ((0, 0),)
    return _pad(op, x, m, pads, "constant", 0)


# ---- products -------------------------------------------------------------------------------------

@op_emitter("matmul_tf")
def emit_matmul_tf(op: Op):
    """tf.matmul(a, b, transpose_a, transpose_b, adjoint_a, adjoint_b) on real tensors."""
    (a, am), (b, bm) = op.tensor("x1"), op.tensor("x2")
    a, am = op.convert(a, am, "cl")
    b, bm = op.convert(b, bm, "cl")
    flags = {}
    for side in ("a", "b"):
        t, adj = op.const(f"transpose_{side}"), op.const(f"adjoint_{side}")
        if UNKNOWN in (t, adj):
            op.fail("FWT202", "transpose/adjoint flags must be constants")
        flags[side] = bool(t) or bool(adj)
    if flags["a"]:
        a = method(a, "transpose", [to_node(-2), to_node(-1)])
    if flags["b"]:
        b = method(b, "transpose", [to_node(-2), to_node(-1)])
    expr = call(op.ref("torch.matmul"), [a, b])
    return expr, _matmul_meta(am, bm, flags["a"], flags["b"])


def _matmul_meta(am, bm, ta=False, tb=False):
    if am is None or bm is None:
        return TensorMeta(None, "cl", _dtype_of([am, bm])) if (am or bm) else None
    if am.shape is None or bm.shape is None or len(am.shape) < 2 or len(bm.shape) < 2:
        return TensorMeta(None, "cl", am.dtype)
    sa, sb = list(am.shape), list(bm.shape)
    if ta:
        sa[-2], sa[-1] = sa[-1], sa[-2]
    if tb:
        sb[-2], sb[-1] = sb[-1], sb[-2]
    batch = SHAPE_FUNCTIONS["broadcast"](None, [tuple(sa[:-2]), tuple(sb[:-2])])[0] if len(sa) > 2 or len(sb) > 2 \
        else ()
    return _meta(tuple(batch) + (sa[-2], sb[-1]), "cl", am.dtype)


@op_emitter("matmul")
def emit_matmul(op: Op):
    (a, am), (b, bm) = op.tensor("x1"), op.tensor("x2")
    a, am = op.convert(a, am, "cl")
    b, bm = op.convert(b, bm, "cl")
    return call(op.ref("torch.matmul"), [a, b]), _matmul_meta(am, bm)


@op_emitter("dot_keras2")
def emit_dot_keras2(op: Op):
    """K.dot: numpy dot (contract x's last axis with y's second-to-last), not a batched matmul."""
    (a, am), (b, bm) = op.tensor("x1"), op.tensor("x2")
    a, am = op.convert(a, am, "cl")
    b, bm = op.convert(b, bm, "cl")
    if bm is None or bm.rank is None or am is None or am.rank is None:
        op.fail("FWT302", "K.dot needs the ranks of both tensors")
    if bm.rank <= 2:
        return call(op.ref("torch.matmul"), [a, b]), _matmul_meta(am, bm)
    expr = call(op.ref("torch.tensordot"), [a, b], [("dims", to_node(([am.rank - 1], [bm.rank - 2])))])
    shape = tuple(am.shape[:-1]) + tuple(bm.shape[:-2]) + (bm.shape[-1],)
    return expr, _meta(shape, "cl", am.dtype)


@op_emitter("batch_dot")
def emit_batch_dot(op: Op):
    """K.batch_dot(x, y, axes) as an einsum (rank-2 inputs keep a trailing axis of size 1)."""
    (a, am), (b, bm) = op.tensor("x1"), op.tensor("x2")
    a, am = op.convert(a, am, "cl")
    b, bm = op.convert(b, bm, "cl")
    if am is None or bm is None or am.rank is None or bm.rank is None:
        op.fail("FWT302", "K.batch_dot needs the ranks of both tensors")
    xr, yr = am.rank, bm.rank
    axes = op.need_const("axes")
    if is_int(axes):
        axes = (axes, axes)
    if axes is None:
        axes = (xr - 1, yr - 1) if yr == 2 else (xr - 1, yr - 2)
    if any(isinstance(v, (list, tuple)) for v in axes):
        op.fail("FWT202", "several contraction axes are not supported")
    ax, ay = axes[0] % xr, axes[1] % yr
    if 0 in (ax, ay):
        op.fail("FWT202", "batch_dot over the batch axis")
    letters = iter("ijklmnopqrstuvw")
    xs = ["b"] + [next(letters) for _ in range(xr - 1)]
    ys = ["b"] + [next(letters) for _ in range(yr - 1)]
    ys[ay] = xs[ax]
    out = [c for i, c in enumerate(xs) if i not in (0, ax)] + [c for i, c in enumerate(ys) if i not in (0, ay)]
    equation = f"{''.join(xs)},{''.join(ys)}->b{''.join(out)}"
    expr = call(op.ref("torch.einsum"), [to_node(equation), a, b])
    shape = (am.shape[0],) + tuple(d for i, d in enumerate(am.shape) if i not in (0, ax)) + \
        tuple(d for i, d in enumerate(bm.shape) if i not in (0, ay))
    if xr == 2 and yr == 2:
        expr = call(op.ref("torch.unsqueeze"), [expr, to_node(1)])
        shape = shape + (1,)
    return expr, _meta(shape, "cl", am.dtype)


@op_emitter("einsum")
def emit_einsum(op: Op):
    """tf.einsum / keras.ops.einsum(equation, *operands): operands in Keras order."""
    args = op.node.args
    if not args or args[0].keyword is not None or any(a.keyword is not None and a.keyword.value != "name"
                                                      for a in args[1:]) or any(a.star for a in args):
        op.fail("FWT201", "expected einsum(equation, *operands)")
    equation = evaluate(args[0].value, op.ft.scope)
    if not isinstance(equation, str):
        op.fail("FWT202", "the equation must be a constant string")
    operands = [op.ft.expr(a.value) for a in args[1:] if a.keyword is None]
    operands = [op.convert(e, m, "cl") for e, m in operands]
    expr = call(op.ref("torch.einsum"), [to_node(equation)] + [e for e, _ in operands])
    return expr, _einsum_meta(equation, [m for _, m in operands])


def _einsum_meta(equation: str, metas):
    known = [m for m in metas if m is not None]
    dtype = _dtype_of(known)
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq or any(m is None or m.shape is None for m in metas):
        return TensorMeta(None, "cl", dtype) if known else None
    ins, out = eq.split("->")
    sizes = {}
    for spec, m in zip(ins.split(","), metas):
        if len(spec) != m.rank:
            return TensorMeta(None, "cl", dtype)
        for c, d in zip(spec, m.shape):
            if sizes.get(c) in (None, 1):
                sizes[c] = d
    return _meta(tuple(sizes.get(c) for c in out), "cl", dtype)


@op_emitter("filled")
def emit_filled(op: Op):
    """tf.ones / tf.zeros / keras.ops.ones / K.zeros (shape in Keras order; float32 by default)."""
    shape = op.const("shape")
    if isinstance(shape, Sym) or is_int(shape):
        shape = (shape,)
    if isinstance(shape, (list, tuple)):
        node = to_node(tuple(shape))
    else:
        node, shape = op.value("shape"), None
    dtype = op.dtype("dtype", "torch.float32")
    kwargs = [("dtype", dtype.node(op))] if dtype.path != "torch.float32" else []
    expr = call(op.ref(op.rule.torch), [node], kwargs)
    out_shape = tuple(d if is_int(d) else None for d in shape) if shape is not None else None
    return expr, _meta(out_shape, "cl", dtype.name or "float32")


# ---- images -----------------------------------------------------------------------------------------

_RESIZE_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "nearest_neighbor": "nearest-exact"}


def _resize(op: Op, x, m, size, method_name: str, size_node=None):
    mode = _RESIZE_MODES.get(method_name)
    if mode is None:
        op.fail("FWT202", f"interpolation '{method_name}' differs between TF and torch (supported: bilinear, "
                          "nearest)")
    if m is None or m.rank != 4:
        op.fail("FWT302", "resize needs a batch of images (rank 4, known)")
    x, m = op.convert(x, m, "cf")
    kwargs = [("size", size_node if size_node is not None else to_node(tuple(size))), ("mode", to_node(mode))]
    if mode == "bilinear":
        kwargs.append(("align_corners", cst.Name("False")))
    expr = call(op.ref("torch.nn.functional.interpolate"), [x], kwargs)
    hw = tuple(size) if size is not None else (None, None)
    dtype = "float32" if mode == "bilinear" else m.dtype
    return expr, TensorMeta((m.shape[0],) + hw + (m.shape[3],), "cf", dtype)


def _resize_method(op: Op, name: str) -> str:
    value = op.const(name)
    if value is UNKNOWN:      # tf.image.ResizeMethod.BILINEAR
        path = op.ft.table.resolve(op.bound[name]) or ""
        value = path.rsplit(".", 1)[-1].lower() if ".ResizeMethod." in path else UNKNOWN
    if not isinstance(value, str):
        op.fail("FWT202", "the interpolation method must be a constant")
    return value.lower()


@op_emitter("resize")
def emit_resize(op: Op):
    """tf.image.resize / keras.ops.image.resize (no antialias, no aspect-ratio handling)."""
    x, m = op.tensor("images")
    size = op.const("size")
    size_node = None
    if size is UNKNOWN:
        size, size_node = None, op.value("size")
    elif not (isinstance(size, (list, tuple)) and len(size) == 2):
        op.fail("FWT202", "size must be (height, width)")
    if op.const("data_format", None) == "channels_first":
        op.fail("FWT202", "data_format='channels_first' is not supported")
    return _resize(op, x, m, size, _resize_method(op, "interpolation"), size_node)


@op_emitter("resize_images")
def emit_resize_images(op: Op):
    """K.resize_images(x, height_factor, width_factor, data_format, interpolation)."""
    x, m = op.tensor("x")
    hf, wf = op.need_const("height_factor"), op.need_const("width_factor")
    if op.need_const("data_format") != "channels_last":
        op.fail("FWT202", "data_format other than channels_last is not supported")
    if m is None or m.shape is None or m.rank != 4:
        op.fail("FWT302", "resize_images needs a batch of images of known rank")
    h, w = m.shape[1], m.shape[2]
    if is_int(h) and is_int(w):
        return _resize(op, x, m, (h * hf, w * wf), _resize_method(op, "interpolation"))
    op.fail("FWT302", "resize_images needs the static image size")
