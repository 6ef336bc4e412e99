"""Subclassed Keras models and layers -> nn.Module classes.

`__init__` keeps its statements; layer constructions become torch modules. `call` becomes `forward`,
translated by the ForwardTranslator; `training` becomes `self.training`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from ..backends.torch_forward import ForwardTranslator, input_meta, next_layouts
from ..backends.torch_layers import LayerContext, ShapeUnknown, emit_layer
from ..backends.torch_module import interface, layer_mappings
from ..findings import TranslationError
from ..ir import ModelInfo, TensorMeta
from ..names import ImportTable, dotted
from ..positions import line_of
from ..values import evaluate
from .scopes import function_scope

if TYPE_CHECKING:
    from ..keras_to_torch import KerasToTorch

KERAS_BASES = {"keras.Model", "keras.Layer", "keras.layers.Layer"}
CALL_EXTRA_PARAMS = {"training", "mask"}


def keras_base(cls: cst.ClassDef, table: ImportTable) -> bool:
    return any(table.resolve(base.value) in KERAS_BASES for base in cls.bases)


def find_build_shapes(module: cst.Module, table: ImportTable, class_name: str, evaluate) -> list | None:
    """Input shapes from `m = ClassName(...); m.build((None, ...))` or `m(keras.Input(shape))` in the file."""
    instances: set[str] = set()
    found: list | None = None

    class V(cst.CSTVisitor):
        def visit_Assign(self, node):
            if isinstance(node.value, cst.Call) and dotted(node.value.func) == class_name:
                for t in node.targets:
                    if isinstance(t.target, cst.Name):
                        instances.add(t.target.value)

        def visit_Call(self, node):
            nonlocal found
            func = node.func
            if (isinstance(func, cst.Attribute) and func.attr.value == "build"
                    and dotted(func.value) in instances and node.args and found is None):
                value = evaluate(node.args[0].value)
                if isinstance(value, (tuple, list)) and value and not isinstance(value[0], (tuple, list)):
                    found = [tuple(value[1:])]
                elif isinstance(value, (tuple, list)) and value:
                    found = [tuple(v[1:]) for v in value]
    module.visit(V())
    return found


class SubclassTranslator:
    def __init__(self, owner: "KerasToTorch", cls: cst.ClassDef):
        self.owner = owner
        self.cls = cls
        self.line = line_of(cls)

    def method(self, name: str) -> cst.FunctionDef | None:
        for stmt in self.cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        return None

    def translate(self):
        owner = self.owner
        init, call = self.method("__init__"), self.method("call")
        if call is None:
            raise TranslationError("FWT103", f"class {self.cls.name.value} has no call() method", self.line)
        if self.method("build") is not None:
            raise TranslationError("FWT103", f"{self.cls.name.value}.build() is not translated yet "
                                   "(weights created in build)", line_of(self.method("build")))
        scope = function_scope(init, owner.scope) if init is not None else owner.scope
        ft = ForwardTranslator(owner.rules, owner.table, owner.imports, scope, owner.options.layout)
        init_layers = self.collect_layers(ft, init) if init is not None else {}
        params = [p for p in call.params.params[1:] if p.name.value not in CALL_EXTRA_PARAMS]
        names = [p.name.value for p in params]
        shapes = find_build_shapes(owner.module, owner.table, self.cls.name.value,
                                   lambda n: evaluate(n, owner.scope))
        shapes = shapes or owner.options.input_shapes
        layouts: dict = {}
        while True:
            ft.env = {}
            ft.emissions = {}
            ft.first_conversion = {}
            ft.sites = 0
            ft.notes = []
            for layer in ft.layers:
                layer.in_metas, layer.calls, layer.extra = None, 0, {}
            metas = [input_meta(n, shapes[i] if shapes and i < len(shapes) else None, "float32", layouts)
                     for i, n in enumerate(names)]
            ft.env.update(zip(names, metas))
            body = ft.block(call.body.body)
            layouts = next_layouts(ft, layouts, owner.options.layout)
            if layouts is None:
                break
        for layer in ft.layers:
            if id(layer) not in ft.emissions:
                self.emit_unused(ft, layer)
        uses_training = any(p.name.value == "training" for p in call.params.params)
        body = [s.visit(_TrainingFlag()) for s in body] if uses_training else body
        forward = call.with_changes(name=cst.Name("forward"),
                                    params=call.params.with_changes(params=_close([call.params.params[0]] + params)),
                                    body=call.body.with_changes(body=body))
        new_body = []
        for stmt in self.cls.body.body:
            if stmt is init:
                new_body.append(self.rewrite_init(ft, init, init_layers))
            elif stmt is call:
                new_body.append(forward)
            elif isinstance(stmt, cst.FunctionDef):
                new_body.append(self.other_method(ft, stmt))
            else:
                new_body.append(stmt)
        bases = [cst.Arg(owner.imports.ref("torch.nn.Module"))]
        new_cls = self.cls.with_changes(bases=bases, body=self.cls.body.with_changes(body=new_body))
        info = ModelInfo(self.cls.name.value, self.cls.name.value, "subclassed", self.line,
                         layer_mappings(ft), interface(names, metas),
                         interface([f"output_{i}" for i in range(len(ft.outputs))], ft.outputs))
        return new_cls, ft, info

    def collect_layers(self, ft: ForwardTranslator, init: cst.FunctionDef) -> dict:
        """`self.x = Layer(...)` statements of __init__ -> the Layer, keyed by statement id."""
        found = {}
        for stmt in init.body.body:
            if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                    and isinstance(stmt.body[0], cst.Assign)):
                continue
            small = stmt.body[0]
            target = small.targets[0].target
            if not (len(small.targets) == 1 and isinstance(target, cst.Attribute)
                    and dotted(target.value) == "self" and isinstance(small.value, cst.Call)):
                continue
            rule = ft.rule_for(small.value.func)
            if rule is None:
                continue
            layer = ft.new_layer(small.value, *rule, attr=target.attr.value)
            ft.layer_refs[f"self.{target.attr.value}"] = layer
            found[id(stmt)] = layer
        return found

    def other_method(self, ft: ForwardTranslator, method: cst.FunctionDef) -> cst.FunctionDef:
        """Methods other than __init__/call are kept; Keras-only ones and Keras API uses are flagged."""
        name = method.name.value
        if name in KERAS_ONLY_METHODS:
            message = f"{name}() is Keras-only (serialisation/shape hooks); kept, unused by torch"
            ft.notes.append(("FWT105", message, line_of(method)))
            return method.with_changes(leading_lines=list(method.leading_lines) + _comment("FWT105", message))
        used = sorted(_framework_refs(method, self.owner.table))
        if used:
            message = f"{name}() still uses {', '.join(used)}; translate it by hand"
            ft.notes.append(("FWT104", message, line_of(method)))
            return method.with_changes(leading_lines=list(method.leading_lines) + _comment("FWT104", message))
        return method

    def emit_unused(self, ft: ForwardTranslator, layer) -> None:
        ctx = LayerContext(layer, [TensorMeta(None)], ft.imports, ft.rules, ft.self_ref)
        try:
            emission = emit_layer(ctx)
        except ShapeUnknown as exc:
            raise TranslationError("FWT302", str(exc), layer.line) from None
        ft.emissions[id(layer)] = (emission, ctx)
        for code, message in emission.notes:
            ft.notes.append((code, message, layer.line))

    def rewrite_init(self, ft: ForwardTranslator, init: cst.FunctionDef, layers: dict) -> cst.FunctionDef:
        body = []
        for stmt in init.body.body:
            if id(stmt) in layers:
                emission = ft.emissions[id(layers[id(stmt)])][0]
                if emission.ctor is None:
                    continue     # a layer that is plain code in forward (e.g. Flatten)
                small = stmt.body[0]
                body.append(stmt.with_changes(body=[small.with_changes(value=emission.ctor)]))
            elif _is_super_init(stmt):
                body.append(cst.parse_statement("super().__init__()").with_changes(
                    leading_lines=stmt.leading_lines))
            else:
                body.append(ft.opaque(stmt))
        new_params = init.params
        if init.params.star_kwarg is not None and init.params.star_kwarg.name.value == "kwargs":
            new_params = init.params.with_changes(params=_close(list(init.params.params)), star_kwarg=None)
        return init.with_changes(body=init.body.with_changes(body=body), params=new_params)


KERAS_ONLY_METHODS = {"get_config", "from_config", "compute_output_shape", "compute_mask",
                      "compute_output_spec", "get_build_config", "build_from_config"}


def _comment(code: str, message: str) -> list:
    return [cst.EmptyLine(comment=cst.Comment(f"# fwtranslate {code}: {message}"))]


def _framework_refs(node, table: ImportTable) -> set[str]:
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Attribute(self, n):
            path = table.resolve(n)
            if path and (path.startswith("keras") or path.startswith("tensorflow")):
                found.add(path)
                return False
            return True

        def visit_Name(self, n):
            path = table.resolve(n)
            if path and (path.startswith("keras") or path.startswith("tensorflow")):
                found.add(path)
    node.visit(V())
    return found


def _close(params: list) -> list:
    """Parameters without a dangling comma after the last one."""
    if params and not params[-1].star:
        params[-1] = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return params


def _is_super_init(stmt) -> bool:
    if not (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)):
        return False
    call = stmt.body[0].value
    return (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and call.func.attr.value == "__init__" and isinstance(call.func.value, cst.Call)
            and dotted(call.func.value.func) == "super")


class _TrainingFlag(cst.CSTTransformer):
    """`training` (the Keras call argument) -> `self.training`; `training=` keywords are dropped."""

    def leave_Name(self, original, updated):
        return cst.Attribute(cst.Name("self"), cst.Name("training")) if updated.value == "training" else updated

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):
        if original.keyword is not None and original.keyword.value == "training":
            return cst.RemoveFromParent()
        return updated.with_changes(keyword=original.keyword)
