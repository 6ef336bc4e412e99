"""Fold source expressions to constants, and turn constants back into code."""
from __future__ import annotations

import libcst as cst

from .cst_walk import node_code as _code
from .ir import UNKNOWN, Sym, Val


class ShapeOf:
    """A tensor in a scope: only its (Keras-order) shape can be read, as `x.shape`."""

    def __init__(self, shape: tuple):
        self.shape = tuple(shape)


def evaluate(node: cst.BaseExpression | None, scope: dict) -> object:
    """The value of `node` if it is a literal, a tuple/list of them, or a name in `scope`.

    `scope` maps names to constants or to Sym (builder parameters stay symbolic).
    """
    if node is None:
        return None
    kind = type(node)        # (libcst's concrete node classes have no subclasses: `is` is isinstance)
    if kind is cst.Integer:
        return int(node.value.replace("_", ""), 0)
    if kind is cst.Float:
        return float(node.value.replace("_", ""))
    if kind is cst.SimpleString:
        return node.evaluated_value
    if kind is cst.ConcatenatedString:
        value = node.evaluated_value
        return UNKNOWN if value is None else value
    if kind is cst.Name:
        if node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        return scope.get(node.value, UNKNOWN)
    if (kind is cst.Tuple or kind is cst.List):
        return evaluate_items(node, evaluate, scope)
    if kind is cst.Attribute and isinstance(node.value, cst.Name) and node.value.value == "self":
        return scope.get(f"self.{node.attr.value}", UNKNOWN)    # self.units = units in __init__
    if kind is cst.Attribute and node.attr.value == "shape":   # x.shape of a known tensor
        holder = evaluate(node.value, scope)
        return holder.shape if isinstance(holder, ShapeOf) else UNKNOWN
    if kind is cst.Call and len(node.args) == 1 and isinstance(node.func, (cst.Name, cst.Attribute)) \
            and (node.func.value if isinstance(node.func, cst.Name) else node.func.attr.value) == "int_shape":
        holder = evaluate(node.args[0].value, scope)          # K.int_shape(x)
        return holder.shape if isinstance(holder, ShapeOf) else UNKNOWN
    if kind is cst.Subscript and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        container, index = evaluate(node.value, scope), evaluate(node.slice[0].slice.value, scope)
        if isinstance(container, (tuple, list, dict)) and isinstance(index, (int, str)) and not isinstance(index, Sym):
            try:
                item = container[index]
            except (IndexError, KeyError, TypeError):
                return UNKNOWN
            return UNKNOWN if item is None and isinstance(container, tuple) else item
        return UNKNOWN
    if kind is cst.Dict:
        out = {}
        for el in node.elements:
            if not isinstance(el, cst.DictElement):
                return UNKNOWN
            k, v = evaluate(el.key, scope), evaluate(el.value, scope)
            if k is UNKNOWN or v is UNKNOWN:
                return UNKNOWN
            out[k] = v
        return out
    if kind is cst.UnaryOperation and isinstance(node.operator, cst.Minus):
        v = evaluate(node.expression, scope)
        if isinstance(v, Sym):
            return Sym(f"-{v}")
        return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNKNOWN
    if kind is cst.UnaryOperation and isinstance(node.operator, cst.Not):
        v = evaluate(node.expression, scope)
        return UNKNOWN if v is UNKNOWN or isinstance(v, Sym) else (not v)
    if kind is cst.BooleanOperation:
        a, b = evaluate(node.left, scope), evaluate(node.right, scope)
        if any(v is UNKNOWN or isinstance(v, Sym) for v in (a, b)):
            return UNKNOWN
        return (a and b) if isinstance(node.operator, cst.And) else (a or b)
    if kind is cst.Comparison:
        return _compare(node, scope)
    if kind is cst.BinaryOperation:
        a, b = evaluate(node.left, scope), evaluate(node.right, scope)
        if UNKNOWN in (a, b) or a is None or b is None:
            return UNKNOWN
        if isinstance(a, Sym) or isinstance(b, Sym):
            return Sym(_code(node))
        ops = {cst.Add: lambda: a + b, cst.Subtract: lambda: a - b, cst.Multiply: lambda: a * b,
               cst.FloorDivide: lambda: a // b, cst.Divide: lambda: a / b}
        fn = ops.get(type(node.operator))
        try:
            return fn() if fn else UNKNOWN
        except Exception:
            return UNKNOWN
    return UNKNOWN


_COMPARE = {cst.Equal: lambda a, b: a == b, cst.NotEqual: lambda a, b: a != b,
            cst.LessThan: lambda a, b: a < b, cst.GreaterThan: lambda a, b: a > b,
            cst.LessThanEqual: lambda a, b: a <= b, cst.GreaterThanEqual: lambda a, b: a >= b,
            cst.Is: lambda a, b: a is b, cst.IsNot: lambda a, b: a is not b,
            cst.In: lambda a, b: a in b, cst.NotIn: lambda a, b: a not in b}


def _compare(node: cst.Comparison, scope: dict):
    left = evaluate(node.left, scope)
    for target in node.comparisons:
        right = evaluate(target.comparator, scope)
        fn = _COMPARE.get(type(target.operator))
        if fn is None or any(v is UNKNOWN or isinstance(v, Sym) for v in (left, right)):
            return UNKNOWN
        try:
            if not fn(left, right):
                return False
        except TypeError:
            return UNKNOWN
        left = right
    return True


def make_val(node: cst.BaseExpression | None, scope: dict) -> Val:
    return Val(node, evaluate(node, scope))


_SCALARS: dict = {}


def to_node(value) -> cst.BaseExpression:
    """A constant (or Sym) as a CST expression. Scalars are built once and shared (nodes are
    immutable)."""
    kind = type(value)
    if kind is int or kind is float or kind is str or kind is bool or value is None:
        key = (kind, repr(value) if kind is float else value)     # -0.0 == 0.0, nan != nan
        node = _SCALARS.get(key)
        if node is None:
            if len(_SCALARS) > 4096:
                _SCALARS.clear()
            node = _SCALARS[key] = _to_node(value)
        return node
    return _to_node(value)


def _to_node(value) -> cst.BaseExpression:
    if isinstance(value, Sym):
        from .snippets import expression
        return expression(str(value))
    if isinstance(value, bool) or value is None:
        return cst.Name(str(value))
    if isinstance(value, int):
        return cst.Integer(str(value)) if value >= 0 else cst.UnaryOperation(cst.Minus(), cst.Integer(str(-value)))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return cst.parse_expression(f'float("{value}")')
        text = repr(value)
        return cst.Float(text) if value >= 0 else cst.UnaryOperation(cst.Minus(), cst.Float(text[1:]))
    if isinstance(value, str):
        return cst.SimpleString(repr(value).replace("'", '"') if '"' not in value else repr(value))
    if isinstance(value, (tuple, list)):
        elements = [cst.Element(to_node(v)) for v in value]
        if isinstance(value, list):
            return cst.List(elements)
        if len(elements) == 1:
            return cst.Tuple([cst.Element(elements[0].value, comma=cst.Comma())])
        return cst.Tuple(elements)
    raise TypeError(f"cannot emit constant {value!r}")


def code(node: cst.CSTNode) -> str:
    return _code(node)


def evaluate_items(node, ev, scope):
    """A tuple or list display's value with `ev` evaluating each element (shared by the symbolic
    evaluators of the list frontends); UNKNOWN when one is unknown or starred."""
    items = []
    for el in node.elements:
        if isinstance(el, cst.StarredElement):
            return UNKNOWN
        v = ev(el.value, scope)
        if v is UNKNOWN:
            return UNKNOWN
        items.append(v)
    return tuple(items) if isinstance(node, cst.Tuple) else items
