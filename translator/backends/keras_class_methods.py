"""The methods of a translated nn.Module class other than `forward` (torch -> Keras).

  - `__init__` and the methods it calls to build modules (`_make_layer`): statements kept, each module
    built at run time replaced by its Keras expression (driver.site_exprs), containers by Keras' own:
    nn.Sequential(*layers) -> keras.Sequential(layers), nn.ModuleList(x) -> x / [], nn.ModuleDict(d) -> d / {};
  - weight initialisation (`nn.init.*`, `self.apply(self._init_weights)` and the method it applies, loops
    over `self.modules()`): removed with a FWT402 note -- Keras layers initialise with their own defaults,
    and ported weights replace both;
  - methods called from forward: translated for their inputs (keras_forward_lists.call_method);
  - other methods (`init_hidden`, `generate`): translated like forward with their parameters as plain
    values; `torch.zeros/ones(*sizes)` -> `keras.ops.zeros/ones((sizes))`. A method that does not
    translate is kept as it was with a finding (FWT102) -- on that method only.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import Found, first, nodes_of
from ..cst_walk import transform
from ..findings import TranslationError, comment_lines, flag
from ..frontends.torch_models import resolve, uses_torch
from ..positions import line_of
from .keras_code import OTHER, call, code
from .keras_forward import ForwardTranslator
from .keras_forward_lists import _share

INIT_NOTE = ("weight initialisation ({what}) removed: the Keras layers initialise with their own defaults "
             "(ported weights replace both)")
# Tensor methods whose use on a value of unknown kind means the method computes with tensors.
TENSOR_METHODS = {"view", "reshape", "permute", "transpose", "size", "contiguous", "unsqueeze", "squeeze", "flatten",
                  "mean", "sum", "max", "min", "argmax", "softmax", "new_zeros", "new_ones", "new_full", "to", "cuda",
                  "cpu", "detach", "numpy", "item", "masked_fill", "topk", "multinomial", "expand", "repeat", "float",
                  "long", "int", "type_as", "fill_", "zero_", "clone", "chunk", "split", "matmul", "bmm", "exp",
                  "log", "tanh", "sigmoid", "relu", "add", "mul", "div", "sub", "pow", "sqrt", "abs", "clamp",
                  "gather", "scatter", "index_select", "masked_select", "narrow", "t", "dim", "numel", "norm",
                  "requires_grad_", "backward", "copy_", "data", "unbind", "squeeze_", "unsqueeze_"}


# nn.Module methods with no Keras counterpart of the same name (a call left in the Keras code would fail).
TORCH_MODULE_API = {"parameters", "named_parameters", "modules", "named_modules", "children", "named_children",
                    "buffers", "named_buffers", "register_buffer", "register_parameter", "add_module", "apply",
                    "state_dict", "load_state_dict", "cuda", "cpu", "eval", "train", "requires_grad_",
                    "zero_grad", "half", "double", "register_forward_hook", "register_forward_pre_hook"}


def torch_module_api_call(node):
    """The first `self.parameters()`-like call in `node` (an nn.Module method Keras lacks), or None."""
    def call_(n):
        f = n.func
        if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) \
                and f.value.value == "self" and f.attr.value in TORCH_MODULE_API:
            raise Found(n)
    return first(node, {cst.Call: call_})


class SiteRewriter:
    """Modules built at run time -> their Keras expressions; torch containers -> Keras containers;
    weight-initialisation statements removed with a comment. `rewrite(node)`: what node.visit() of a
    CSTTransformer with these leave_ methods gives (cst_walk.transform)."""

    def __init__(self, driver, ctx, containers: dict, dropped: dict):
        self.ctx = ctx
        self.driver = driver
        self.containers = containers
        self.dropped = dropped

    def rewrite(self, node):
        return transform(node, {cst.Call: self.leave_Call, cst.IndentedBlock: self.leave_IndentedBlock})

    def leave_Call(self, original, updated):
        got = self.driver.site_exprs.get(id(original))
        if got is not None:
            return got[1]
        kind = self.containers.get(id(original))
        if kind == "sequential":
            return call(self.ctx.refs.keras("Sequential"), [updated.args[0].value])
        if kind == "list":          # nn.ModuleList(layers) copies the list
            if not updated.args:
                return cst.List([])
            value = updated.args[0].value
            return value if isinstance(value, (cst.List, cst.ListComp)) else cst.Call(cst.Name("list"), [cst.Arg(value)])
        if kind == "dict":
            return updated.args[0].value if updated.args else cst.Dict([])
        return updated

    def leave_IndentedBlock(self, original, updated):
        if not any(id(s) in self.dropped for s in original.body):
            return updated
        out, carry = [], []
        for orig, new in zip(original.body, updated.body):
            d = self.dropped.get(id(orig))
            if d is not None:
                message = INIT_NOTE.format(what=d.what)
                self.ctx.notes.add("FWT402", message, d.line)
                carry += [line for line in orig.leading_lines if line.comment] + comment_lines("FWT402", message)
                continue
            if carry:
                new = new.with_changes(leading_lines=list(new.leading_lines) + carry)
                carry = []
            out.append(new)
        if not out:
            out.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=carry))
            carry = []
        return updated.with_changes(body=out, footer=list(updated.footer) + carry)


def emit_methods(tr, ctx, new_init, new_call):
    """The class body with __init__ / call in place and every other method handled; (body, flagged names)."""
    rewriter = SiteRewriter(tr.driver, ctx, tr.init_modules.containers, tr.init_modules.dropped)
    body, flagged = [], set()
    dropped = tr.init_modules.dropped
    carry = []
    for stmt in tr.cls.body.body:
        if stmt is tr.init:
            new = rewriter.rewrite(new_init)
            left = torch_module_api_call(new)
            if left is not None:
                raise TranslationError("FWT102", f"{code(left.func)}() in __init__ has no Keras equivalent",
                                       line_of(left))
        elif stmt is tr.forward:
            new = new_call
        elif isinstance(stmt, cst.FunctionDef) and id(stmt) in dropped:
            d = dropped[id(stmt)]
            message = INIT_NOTE.format(what=d.what)
            ctx.notes.add("FWT402", message, d.line)
            carry += comment_lines("FWT402", message)
            continue
        elif isinstance(stmt, cst.FunctionDef) and stmt.name.value in tr.method_results:
            new = tr.method_results[stmt.name.value][1]
        elif isinstance(stmt, cst.FunctionDef):
            new = rewriter.rewrite(stmt)
            if uses_torch(new, tr.driver.table) is not None or _tensor_method_calls(new) or \
                    "self.forward(" in code(new) or torch_module_api_call(new) is not None:
                try:
                    new = translate_other(tr, ctx, new)
                except TranslationError as err:
                    flagged.add(stmt.name.value)
                    tr.driver.finding(err.code, f"{tr.name}.{stmt.name.value}: {err.message}; the method was "
                                                f"left as it was", err.line or line_of(stmt))
                    new = flag(stmt, err.code, err.message)
        else:
            new = stmt
        if carry:
            new = new.with_changes(leading_lines=list(new.leading_lines) + carry)
            carry = []
        body.append(new)
    tr.class_footer = carry          # notes of methods removed at the end of the class
    return body, flagged


def _tensor_method_calls(func) -> bool:
    def call_(n):
        f = n.func
        if isinstance(f, cst.Attribute) and f.attr.value in TENSOR_METHODS and not (
                isinstance(f.value, cst.Name) and f.value.value == "self"):
            raise Found(n)
    return first(func, {cst.Call: call_}) is not None


def translate_other(tr, ctx, func: cst.FunctionDef) -> cst.FunctionDef:
    """A method not called from forward: its body translated with the parameters as plain values."""
    func = transform(func, {cst.Call: _Factories(tr.driver.table, ctx.refs).leave_Call})
    left = torch_module_api_call(func)
    if left is not None:
        raise TranslationError("FWT102", f"{code(left.func)}() has no Keras equivalent", line_of(left))
    for n in _calls(func):
        f = n.func
        if isinstance(f, cst.Attribute) and f.attr.value in TENSOR_METHODS and not (
                isinstance(f.value, cst.Name) and f.value.value == "self"):
            raise TranslationError("FWT102", f".{f.attr.value}() on a value whose kind is not known (a tensor "
                                             "method?)", line_of(n))
    params = list(func.params.params)[1:] + list(func.params.kwonly_params)
    env = {p.name.value: OTHER for p in params}
    ft = _MethodTranslator(tr, ctx, env, root_keep=False)
    _share(ft, ft, func)
    body = ft.block(func.body.body)
    new = func.with_changes(body=func.body.with_changes(body=body))
    left = uses_torch(new, tr.driver.table)
    if left is not None:
        raise TranslationError("FWT102", f"{code(left)} has no Keras translation", line_of(left) or line_of(func))
    return new


def _calls(node):
    return nodes_of(node, cst.Call)


class _Factories:
    """torch.zeros(a, b) / torch.ones((a, b)) with plain sizes -> keras.ops.zeros((a, b))."""

    def __init__(self, table, refs):
        self.table = table
        self.refs = refs

    def leave_Call(self, original, updated):
        path = resolve(original.func, self.table)
        if path not in ("torch.zeros", "torch.ones"):
            return updated
        args = list(updated.args)
        if any(a.keyword is not None or a.star for a in args) or not args:
            return updated
        if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
            shape = args[0].value
        else:
            shape = cst.Tuple([cst.Element(a.value) for a in args])
        return call(self.refs.ops(path.rsplit(".", 1)[-1]), [shape])


class _MethodTranslator(ForwardTranslator):
    """forward's translator for a method that may return plain values too."""

    def outputs_of(self, node, meta, line):
        if meta.is_tensor or meta.kind == "tuple" and any(m.is_tensor for m in meta.items):
            return super().outputs_of(node, meta, line)
        return node, [meta]

    def expr(self, node):
        f = node.func if isinstance(node, cst.Call) else None
        if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value == "self" \
                and f.attr.value == "forward":          # self.forward(x) -> self(x): the Keras model's call
            args = [a.with_changes(value=self.expr(a.value)[0]) for a in node.args]
            return node.with_changes(func=cst.Name("self"), args=args), OTHER
        if isinstance(node, cst.Call) and _is_keras_factory(node):
            args = [a.with_changes(value=self.expr(a.value)[0]) for a in node.args]
            return node.with_changes(args=args), OTHER
        return super().expr(node)


def _is_keras_factory(node) -> bool:
    f = node.func
    return isinstance(f, cst.Attribute) and f.attr.value in ("zeros", "ones") and code(f.value) == "keras.ops"


# ---- module-valued arguments of class constructors (`block(..., downsample)`) -------------------------

def translate_arg_sites(driver, node: cst.Call, ctx, tr) -> None:
    """Locals holding a module passed to a class of the file: translated for the input its forward gives."""
    from .keras_forward_lists import record_site
    arg_sites = getattr(driver, "arg_sites", {})
    if not arg_sites:
        return
    params = [p.name.value for p in list(tr.init.params.params)[1:]]
    uses = {}
    for attr, spec in tr.modules.items():
        if spec.kind == "param":
            uses.setdefault(spec.node.value, []).extend(tr.param_uses.get(attr, []))
    for i, a in enumerate(node.args):
        cands = arg_sites.get(id(a.value))
        if cands is None:
            continue
        key = a.keyword.value if a.keyword is not None else (params[i] if i < len(params) else None)
        metas = uses.get(key, [])
        for spec in cands:
            if spec.kind == "none":
                continue
            expr = driver.module_expr(spec.node, ctx, in_meta=metas[0] if metas else None, check=metas, spec=spec)
            record_site(driver, spec.node, expr)


def unused_arg_sites(tr, ctx) -> None:
    from .keras_forward_lists import apply_site
    from ..torch_to_keras import assumed_input
    specs = [spec for cands in tr.init_modules.arg_sites.values() for spec in cands] + tr.init_modules.locals
    for spec in specs:          # modules built in lists or locals that no forward reaches
        if spec.kind not in ("none", "dynseq", "mlist", "mdict") and id(spec.node) not in tr.driver.site_exprs:
            apply_site(ctx, spec, assumed_input(spec), None)


def rewrite_helper(driver, ctx, func: cst.FunctionDef) -> cst.FunctionDef:
    """A module-level helper that builds a list of modules: its sites and containers in Keras."""
    return SiteRewriter(driver, ctx, getattr(driver, "helper_containers", {}), {}).rewrite(func)
