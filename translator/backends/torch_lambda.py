"""Lambda layers: the function body is translated in place, like any other forward code.

`layers.Lambda(lambda t: tf.concat([t, t], -1))(x)` and `layers.Lambda(my_fn, arguments={...})(x)`
(with `my_fn` a module-level function) become the translated expression in forward.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import transform
from ..findings import TranslationError
from ..positions import line_of
from ..values import to_node
from .torch_layers import Emission, hatch


@hatch("lambda_layer")
def lambda_layer(ctx) -> Emission:
    raise TranslationError("FWT901", "Lambda layers are inlined by the forward translator", ctx.layer.line)


def _substitute(node, names: dict, items: dict):
    """`node.visit(_Substitute(names, items))`, by a faster walk (translator.cst_walk.transform)."""
    def leave_subscript(original, updated):
        if isinstance(original.value, cst.Name) and len(original.slice) == 1:
            index = original.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
                key = (original.value.value, int(index.value.value))
                if key in items:
                    return items[key]
        return updated

    def leave_name(original, updated):
        return names.get(updated.value, updated)
    return transform(node, {cst.Subscript: leave_subscript, cst.Name: leave_name},
                     keep={cst.Attribute: ("attr",), cst.Arg: ("keyword",)})


class _Substitute(cst.CSTTransformer):
    def __init__(self, names: dict, items: dict):
        self.names = names      # param -> expression
        self.items = items      # (param, index) -> expression, for list inputs indexed as t[0]

    def leave_Subscript(self, original, updated):
        if isinstance(original.value, cst.Name) and len(original.slice) == 1:
            index = original.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
                key = (original.value.value, int(index.value.value))
                if key in self.items:
                    return self.items[key]
        return updated

    def leave_Name(self, original, updated):
        return self.names.get(updated.value, updated)

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):
        return updated.with_changes(keyword=original.keyword)


def apply_lambda(ft, layer, exprs, metas, call_args, node):
    """Translate a Lambda layer's function applied to its input(s): (expression, meta)."""
    fn = layer.args.get("function")
    if fn is None:
        raise TranslationError("FWT201", "Lambda without a function", layer.line)
    arguments = {}
    if "arguments" in layer.args:
        value = layer.args["arguments"].const
        if not isinstance(value, dict):
            raise TranslationError("FWT202", "Lambda arguments= must be a literal dict of constants", layer.line)
        arguments = value
    inputs = [_as_name(ft, e, m) for e, m in zip(exprs, metas)]
    listed = len(inputs) > 1 or isinstance(_input_node(node), (cst.List, cst.Tuple))
    ft.sites += 1
    if isinstance(fn.node, cst.Lambda):
        params = [p.name.value for p in fn.node.params.params]
        if not params:
            raise TranslationError("FWT201", "Lambda function without parameters", layer.line)
        names = {k: to_node(v) for k, v in arguments.items()}
        items = {}
        if listed:
            items = {(params[0], i): x for i, x in enumerate(inputs)}
        else:
            names[params[0]] = inputs[0]
        for p in fn.node.params.params[1:]:
            if p.name.value not in names and p.default is not None:
                names[p.name.value] = p.default
        body = _substitute(fn.node.body, names, items)
        return ft.expr(body)
    helper = ft.functions.get(fn.node.value) if isinstance(fn.node, cst.Name) else None
    if helper is None:
        raise TranslationError("FWT103", "Lambda function must be a lambda or a module-level function",
                               line_of(fn.node) or layer.line)
    if listed:
        raise TranslationError("FWT103", "Lambda with several inputs needs a lambda expression", layer.line)
    tight = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
    args = [cst.Arg(inputs[0])] + [cst.Arg(to_node(v), keyword=cst.Name(k), equal=tight)
                                    for k, v in arguments.items()]
    return ft.inline(cst.Call(func=cst.Name(helper.name.value), args=args))


def _input_node(node):
    for arg in getattr(node, "args", ()):
        if arg.keyword is None or arg.keyword.value == "inputs":
            return arg.value
    return None


def _as_name(ft, expr, meta):
    """A name for an input used in the body (hoisted when it is an expression, so it runs once)."""
    if isinstance(expr, cst.Name):
        return expr
    name = ft.fresh_name("lambda_in")
    ft.pending.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], expr)]))
    ft.env[name] = meta
    return cst.Name(name)
