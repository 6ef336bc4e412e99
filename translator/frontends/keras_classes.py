"""Subclassed Keras models and layers -> nn.Module classes.

`__init__` keeps its statements; layer constructions become torch modules. `call` becomes `forward`,
translated by the ForwardTranslator; `training` becomes `self.training`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from dataclasses import dataclass

from ..cst_walk import all_names, child_nodes, find_all, node_code, preorder, transform
from ..backends.torch_forward import CustomRef, ForwardTranslator, input_meta, next_layouts
from ..backends.torch_module import custom_ctor, save_params
from ..backends.torch_sequence import LayerSequence, sequential_ctor
from ..backends.torch_layers import LayerContext, ShapeUnknown, emit_layer
from ..backends.torch_module import interface, layer_mappings
from ..findings import TranslationError
from ..ir import UNKNOWN, ModelInfo, Sym, TensorMeta
from ..names import ImportTable, dotted
from .. import snippets
from ..positions import line_of
from ..values import evaluate, to_node
from .keras_helpers import expand_helper
from .keras_weights import is_add_weight, parameter
from .scopes import function_scope, param_defaults

if TYPE_CHECKING:
    from ..keras_to_torch import KerasToTorch

KERAS_BASES = {"keras.Model", "keras.Layer", "keras.layers.Layer"}
CALL_EXTRA_PARAMS = {"training", "mask"}


def keras_base(cls: cst.ClassDef, table: ImportTable) -> bool:
    return any(table.resolve(base.value) in KERAS_BASES for base in cls.bases)


_BUILD_SHAPES: dict = {}


def find_build_shapes(module: cst.Module, table: ImportTable, class_name: str, evaluate) -> list | None:
    """Input shapes from `m = ClassName(...); m.build((None, ...))` in the file (one walk of the module
    for all its classes, memoised per module and class)."""
    if _BUILD_SHAPES.get("module") is not module:     # another file: the cache holds one module only
        _BUILD_SHAPES.clear()
        _BUILD_SHAPES.update(module=module, events=_build_events(module), shapes={})
    shapes = _BUILD_SHAPES["shapes"]
    if class_name not in shapes:
        shapes[class_name] = _find_build_shapes(_BUILD_SHAPES["events"], class_name, evaluate)
    return shapes[class_name]


def _build_events(module: cst.Module) -> list:
    """In source order: ("new", class, [names]) for `names = Class(...)`, ("build", instance, call) for
    `instance.build(shape, ...)`."""
    events = []
    for node in preorder(module):
        if type(node) is cst.Assign:
            if isinstance(node.value, cst.Call):
                events.append(("new", dotted(node.value.func),
                               [t.target.value for t in node.targets if isinstance(t.target, cst.Name)]))
        elif type(node) is cst.Call:
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "build" and node.args:
                events.append(("build", dotted(func.value), node))
            elif type(func) is cst.Name and node.args and type(node.args[0].value) in (cst.List, cst.Tuple, cst.Call):
                events.append(("call", func.value, node))       # `model([keras.Input(...), ...])`
    return events


def _find_build_shapes(events: list, class_name: str, evaluate) -> list | None:
    """The first `<instance>.build(shape)` (in source order) on a name bound to `ClassName(...)` before."""
    instances: set[str] = set()
    for kind, name, item in events:
        if kind == "new":
            if name == class_name:
                instances.update(item)
        elif kind == "call":
            if name in instances:
                from .keras_packed_inputs import called_input_shapes
                shapes = called_input_shapes(item, evaluate)
                if shapes is not None:
                    return shapes
        elif name in instances:
            value = evaluate(item.args[0].value)
            if isinstance(value, (tuple, list)) and value and not isinstance(value[0], (tuple, list)):
                return [tuple(value[1:])]
            elif isinstance(value, (tuple, list)) and value:
                return [tuple(v[1:]) for v in value]
    return None


@dataclass
class LayerList:
    """Layers held in a Python list attribute: an nn.ModuleList in torch."""
    attr: str
    layers: list
    repeat: cst.ListComp | None = None     # `[... for _ in range(n)]` with n not a constant

    def module_list(self, ft: ForwardTranslator) -> cst.Call:
        if self.repeat is not None:
            layer = self.layers[0]
            emission = ft.emissions.get(id(layer))
            if emission is None or emission[0].ctor is None:
                raise TranslationError("FWT103", f"self.{self.attr}: no torch module to repeat", layer.line)
            comp = self.repeat.with_changes(elt=emission[0].ctor)
            return cst.Call(ft.imports.ref("torch.nn.ModuleList"), [cst.Arg(comp)])
        ctors = []
        for layer in self.layers:
            emission = ft.emissions.get(id(layer))
            if emission is None or emission[0].ctor is None:
                raise TranslationError("FWT103", f"self.{self.attr}: {layer.keras_class} has no torch module "
                                       "to hold in an nn.ModuleList", layer.line)
            ctors.append(cst.Element(emission[0].ctor))
        return cst.Call(ft.imports.ref("torch.nn.ModuleList"), [cst.Arg(cst.List(ctors))])


def _unroll_comprehension(node: cst.ListComp, scope: dict):
    """The element expressions of `[ctor(v) for v in <constant iterable>]` (None if not constant)."""
    from ..backends.torch_inline import rename
    comp = node.for_in
    if comp.inner_for_in is not None or comp.ifs or not isinstance(comp.target, cst.Name):
        return None
    values = _constant_iterable(comp.iter, scope)
    if values is None:
        return None
    name = comp.target.value
    return [rename(node.elt, {}, {name: to_node(v)}) for v in values]


def _is_repeat(node: cst.ListComp) -> bool:
    comp = node.for_in
    return (comp.inner_for_in is None and not comp.ifs and isinstance(comp.target, cst.Name)
            and comp.target.value not in _names(node.elt) and isinstance(comp.iter, cst.Call)
            and dotted(comp.iter.func) == "range" and isinstance(node.elt, cst.Call))


def _constant_iterable(node, scope):
    value = evaluate(node, scope)
    if isinstance(value, (tuple, list)):
        return list(value)
    if isinstance(node, cst.Call) and dotted(node.func) == "range":
        args = [evaluate(a.value, scope) for a in node.args]
        if args and all(isinstance(a, int) and not isinstance(a, Sym) for a in args):
            return list(range(*args))
    return None


def _is_lambda(layer) -> bool:
    rule = getattr(layer, "rule", None)
    return rule is not None and rule.id == "lambda"


@dataclass
class ClassTranslation:
    cls: cst.ClassDef
    ft: ForwardTranslator
    info: ModelInfo
    in_layouts: list          # the layout forward() takes each input in
    outputs: list             # output metas


class SubclassTranslator:
    """One subclassed Keras Model/Layer -> an nn.Module class.

    Input shapes come from the caller (a parent model calling it as a layer), from `model.build(...)`
    in the file, or from --input-shape. A class used as a layer by other classes of the file is
    translated once with a symbolic input shape: its __init__ takes `input_shape=` (as Keras builds a
    layer from its first input) and the parents pass the shape they call it with.
    """

    def __init__(self, owner: "KerasToTorch", cls: cst.ClassDef, imports=None):
        self.owner = owner
        from .keras_builders import inline_builders      # self.s1 = make_stage(...): its list code inlined
        self.cls = inline_builders(owner, cls)
        self.line = line_of(cls)
        self.imports = imports or owner.imports

    def method(self, name: str) -> cst.FunctionDef | None:
        for stmt in self.cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                return stmt
        return None

    def translate(self, input_metas=None, scope_overrides=None, symbolic_rank=None,
                  layout: str | None = None, channel_param: str | None = None,
                  outputs_only: bool = False) -> ClassTranslation:
        """`outputs_only`: for a class called as a layer (custom_outputs), which needs the outputs and input
        layouts only; the rewritten class (new_cls None) is left to the class's own translation."""
        owner = self.owner
        init, call, build = self.method("__init__"), self.method("call"), self.method("build")
        if call is None:
            raise TranslationError("FWT103", f"class {self.cls.name.value} has no call() method", self.line)
        init_statements = list(init.body.body) if init is not None else []
        build_statements = self.build_statements(build)
        params = [p for p in call.params.params[1:] if p.name.value not in CALL_EXTRA_PARAMS]
        names = [p.name.value for p in params]
        shapes, dtypes = self.input_shapes(names, input_metas, symbolic_rank)
        from .keras_packed_inputs import check_unpacked_use, element_name, is_packed
        packed = is_packed(call, names, shapes, self.owner.used_as_layer(self.cls.name.value)) \
            if symbolic_rank is None and input_metas is None else False   # call(self, inputs): x, y = inputs
        if packed:
            dtypes = ["float32"] * len(shapes)
        else:
            check_unpacked_use(call, names, shapes)
        if channel_param is not None and shapes and len(shapes) == 1:   # keras_channel_params
            shapes = [tuple(shapes[0][:-1]) + (Sym(channel_param),)]
        scope = function_scope(init, owner.scope, scope_overrides) if init is not None else dict(owner.scope)
        if shapes and len(shapes) == 1 and build is not None:
            scope["input_shape"] = (None,) + tuple(shapes[0])
        scope = _extend_scope(scope, build_statements)
        scope.update(scope_overrides or {})
        mode = layout or owner.options.layout
        ft = ForwardTranslator(owner.rules, owner.table, self.imports, scope, mode)
        ft.defaults = {k: v for k, v in param_defaults(init, owner.scope).items() if k not in (scope_overrides or {})}
        ft.custom_classes = set(owner.keras_classes) - {self.cls.name.value}
        ft.custom_outputs = owner.custom_outputs
        ft.shaped_classes = owner.shaped_classes
        ft.call_bindings, ft.class_channels = owner.call_bindings, owner.class_channels
        init_layers = self.collect_layers(ft, init_statements + build_statements)
        from ..backends.torch_layer_args import kept_params, rebound_names
        ft.layer_params = kept_params(init, init_statements + build_statements)
        ft.rebound = rebound_names(call.body.body)
        ft.layer_param_calls, ft.class_defs = owner.layer_param_calls, owner.keras_classes
        layouts: dict = {}
        while True:
            ft.env, ft.emissions, ft.first_conversion, ft.sites, ft.notes = {}, {}, {}, 0, []
            ft.tensor_lists = {}
            for seq in ft.sequences.values():
                seq.modules = []
            for layer in ft.layers:
                if isinstance(layer, CustomRef):
                    layer.call_metas = None
                elif isinstance(layer, LayerSequence):
                    continue
                else:
                    layer.in_metas, layer.calls, layer.extra, layer.ref = None, 0, {}, None
            if packed:      # one argument holding a list of inputs: a list of tensors in forward
                metas = [input_meta(element_name(names[0], i), s, dtypes[i], layouts) for i, s in enumerate(shapes)]
                ft.tensor_lists[names[0]] = list(metas)
                ft.input_metas, ft.layer_param_problems = {}, []
            else:
                metas = [input_meta(n, shapes[i] if shapes and i < len(shapes) else None, dtypes[i], layouts)
                         for i, n in enumerate(names)]
                ft.env.update(zip(names, metas))
                ft.input_metas, ft.layer_param_problems = dict(zip(names, metas)), []
            ft.env.update(_weight_metas(init_statements + build_statements, scope))
            body = ft.drop_unused_constants(ft.block(call.body.body))
            layouts = next_layouts(ft, layouts, mode)
            if layouts is None:
                break
        for layer in ft.layers:
            if not isinstance(layer, (CustomRef, LayerSequence)) and id(layer) not in ft.emissions \
                    and not _is_lambda(layer):          # a Lambda is inlined in forward: no module
                self.emit_unused(ft, layer)
        if ft.layer_param_problems:
            raise TranslationError("FWT103", ft.layer_param_problems[0][0], ft.layer_param_problems[0][1])
        if ft.called_params:     # the constructor arguments this class calls as layers (torch_layer_args)
            owner.layer_param_calls[self.cls.name.value] = set(ft.called_params)
        if outputs_only:
            return ClassTranslation(None, ft, None, [m.layout for m in metas], list(ft.outputs))
        uses_training = any(p.name.value == "training" for p in call.params.params)
        body = [training_flag(s) for s in body] if uses_training else body
        body, saved = self.saved_params(init, call, body, init_statements + build_statements,
                                        ("input_shape",) if symbolic_rank is not None else ())
        forward = call.with_changes(name=cst.Name("forward"),
                                    params=call.params.with_changes(params=_close([call.params.params[0]] + params)),
                                    body=call.body.with_changes(body=body))
        new_init = self.rewrite_init(ft, init, init_statements + build_statements, init_layers, symbolic_rank,
                                     saved)
        new_body, placed = [], init is not None
        for stmt in self.cls.body.body:
            if not placed and isinstance(stmt, cst.FunctionDef):   # a new __init__ goes first
                new_body.append(new_init.with_changes(leading_lines=stmt.leading_lines))
                placed = True
            if stmt is init:
                new_body.append(new_init)
            elif stmt is call:
                new_body.append(forward)
            elif stmt is build:
                continue            # its statements moved to __init__
            elif isinstance(stmt, cst.FunctionDef):
                new_body.append(self.other_method(ft, stmt))
            else:
                new_body.append(stmt)
        bases = [cst.Arg(self.imports.ref("torch.nn.Module"))]
        new_cls = self.cls.with_changes(bases=bases, body=self.cls.body.with_changes(body=new_body))
        info = ModelInfo(self.cls.name.value, self.cls.name.value, "subclassed", self.line,
                         layer_mappings(ft), interface([element_name(names[0], i) for i in range(len(metas))]
                                                       if packed else names, metas),
                         interface([f"output_{i}" for i in range(len(ft.outputs))], ft.outputs), packed=packed)
        return ClassTranslation(new_cls, ft, info, [m.layout for m in metas], list(ft.outputs))

    def input_shapes(self, names, input_metas, symbolic_rank):
        dtypes = ["float32"] * len(names)
        if input_metas is not None:
            if len(input_metas) != len(names):
                raise TranslationError("FWT201", f"{self.cls.name.value} called with {len(input_metas)} "
                                       f"inputs; call() takes {len(names)}", self.line)
            return [tuple(m.shape[1:]) for m in input_metas], [m.dtype for m in input_metas]
        if symbolic_rank is not None:
            return [tuple(Sym(f"input_shape[{i}]") for i in range(1, symbolic_rank))], dtypes
        shapes = find_build_shapes(self.owner.module, self.owner.table, self.cls.name.value,
                                   lambda n: evaluate(n, self.owner.scope))
        return shapes or self.owner.options.input_shapes, dtypes

    def build_statements(self, build: cst.FunctionDef | None) -> list:
        """build()'s statements, to run in __init__ with its shape argument named `input_shape`."""
        if build is None:
            return []
        params = build.params.params
        rename = params[1].name.value if len(params) > 1 else "input_shape"
        out = []
        for stmt in build.body.body:
            if _is_super_call(stmt, "build") or _sets_built(stmt):
                continue
            if rename != "input_shape":
                stmt = rename_name(stmt, rename, "input_shape")
            out.append(stmt)
        return out

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

    def collect_layers(self, ft: ForwardTranslator, statements: list) -> dict:
        """`self.x = Layer(...)` statements of __init__/build -> the Layer (or CustomRef), by statement id."""
        found = {}
        from . import keras_init_lists as appends    # self.blocks = [] + append in loops: nn.ModuleList
        run = appends.init_run(self, ft)
        for stmt in statements:
            if run is not None and appends.collect_statement(ft, run, stmt, found):
                continue
            if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                    and isinstance(stmt.body[0], cst.Assign)):
                continue
            small = stmt.body[0]
            target = small.targets[0].target
            if not (len(small.targets) == 1 and isinstance(target, cst.Attribute)
                    and dotted(target.value) == "self"):
                continue
            attr = target.attr.value
            if isinstance(small.value, (cst.List, cst.ListComp)):
                group = self.layer_list(ft, attr, small.value)
                if group is not None:
                    found[id(stmt)] = group
                continue
            if not isinstance(small.value, cst.Call):
                continue
            ft.layer_helpers = self.owner.helpers     # `self.conv = conv3x3(...)`: a helper returning a layer
            small = small.with_changes(value=expand_helper(small.value, ft.layer_helpers, self.owner.inlined)
                                       or small.value)
            func = small.value.func
            if self.owner.table.resolve(small.value.func) == "keras.Sequential":
                from .keras_seq_lists import list_sequence      # keras.Sequential(<a list built here>)
                group = list_sequence(ft, self, attr, small.value, stmt, statements)
                if group is not None:
                    found.update(group)
                    continue
                found[id(stmt)] = ft.new_sequence(attr, small.value, f"self.{attr}")
                self.owner.inlined |= ft.inlined
                continue
            if isinstance(func, cst.Name) and func.value in ft.custom_classes:
                passed = sorted(_framework_refs(cst.Tuple([cst.Element(a.value) for a in small.value.args]),
                                                self.owner.table)) if small.value.args else []
                layer_args = {}
                if passed:      # e.g. BasicBlock(..., downsample=keras.Sequential([...])): torch_layer_args
                    from ..backends.torch_layer_args import layer_arguments
                    layer_args = layer_arguments(ft, attr, small.value, self.owner.table, line_of(stmt))
                ref = CustomRef(attr, func.value, small.value, line_of(stmt), layer_args=layer_args)
                if run is not None and id(stmt) in run.envs:     # its arguments' values at this point
                    ref.shape_ctor = appends.specialised_ctor(small.value, run.envs[id(stmt)])
                ft.attrs.add(attr)
                ft.layers.append(ref)
                ft.custom_refs[f"self.{attr}"] = ref
                found[id(stmt)] = ref
                continue
            rule = ft.rule_for(func)
            if rule is None:
                continue
            args = appends.specialised_args(ft, small.value, rule[1], rule[0], run.envs[id(stmt)]) \
                if run is not None and id(stmt) in run.envs else None
            layer = ft.new_layer(small.value, *rule, attr=attr, args=args)
            ft.layer_refs[f"self.{target.attr.value}"] = layer
            found[id(stmt)] = layer
        return found

    def layer_list(self, ft: ForwardTranslator, attr: str, node) -> "LayerList | None":
        """`[layers.Dense(8) for _ in range(3)]` or `[Conv2D(16, 3), Conv2D(32, 3)]` -> nn.ModuleList."""
        repeat = None
        if isinstance(node, cst.List):
            ctors = [el.value for el in node.elements]
        else:
            ctors = _unroll_comprehension(node, ft.scope)
            if ctors is None:       # `for _ in range(depth)`: one layer description, repeated
                if not _is_repeat(node):
                    return None
                ctors, repeat = [node.elt], node
        found = [ft.rule_for(c.func) if isinstance(c, cst.Call) else None for c in ctors]
        if not ctors or any(f is None for f in found):
            if any(f is not None for f in found):
                raise TranslationError("FWT103", f"self.{attr}: a list mixing layers and other values",
                                       line_of(node))
            return None
        ft.attrs.add(attr)
        if repeat is not None:
            layers = [ft.new_layer(ctors[0], *found[0], attr=f"{attr}.*")]
            ft.layer_lists[f"self.{attr}"] = layers * 2    # translated twice: sizes must not change
            return LayerList(attr, layers, repeat)
        layers = [ft.new_layer(c, *f, attr=f"{attr}.{i}") for i, (c, f) in enumerate(zip(ctors, found))]
        ft.layer_lists[f"self.{attr}"] = layers
        return LayerList(attr, layers)

    def emit_unused(self, ft: ForwardTranslator, layer) -> None:
        ctx = LayerContext(layer, [TensorMeta(None)], ft.imports, ft.rules, ft.self_ref)
        ctx.translator = ft
        try:
            emission = emit_layer(ctx)
        except ShapeUnknown as exc:
            raise TranslationError("FWT302", str(exc), layer.line) from None
        ft.emissions[id(layer)] = (emission, ctx)
        for code, message in emission.notes:
            ft.notes.append((code, message, layer.line))

    def saved_params(self, init, call, body: list, init_statements: list, added=()):
        """__init__ parameters that the translated forward reads (e.g. a dropout rate lowered into a
        functional call) are saved as attributes, unless __init__ already keeps them. `added`: the
        parameters the translation adds (`input_shape=` of a class translated for any size, which a
        flatten after a conv reads in forward)."""
        if init is None:
            return body, []
        params = {p.name.value for p in list(init.params.params[1:]) + list(init.params.kwonly_params)}
        params |= set(added)
        params -= {p.name.value for p in call.params.params} | _assigned_in(body)
        body, saved = save_params(body, params)
        if not saved:
            return body, []
        kept = {node_code(s).strip() for s in init_statements}
        for stmt in saved:
            target = node_code(stmt).strip()
            name = target.split("=")[0].strip()
            if target not in kept and any(c.startswith(name + " =") for c in kept):
                raise TranslationError("FWT103", f"forward needs the __init__ argument '{name[5:]}' but "
                                       f"{name} holds something else", self.line)
        return body, [s for s in saved if node_code(s).strip() not in kept]

    def rewrite_init(self, ft: ForwardTranslator, init, statements: list, layers: dict, symbolic_rank,
                     saved: list = ()):
        body = []
        for stmt in statements:
            if id(stmt) in layers:
                layer = layers[id(stmt)]
                if hasattr(layer, "rewrite_statement"):        # a list of layers built here (keras_seq_lists)
                    new = layer.rewrite_statement(ft, stmt)
                    body += new if isinstance(new, list) else [new]
                    continue
                from . import keras_init_lists as appends
                if isinstance(layer, (appends.AppendList, appends.AppendLoop)):
                    body.append(appends.init_code(self, ft, stmt, layer))
                    continue
                small = stmt.body[0]
                if isinstance(layer, LayerSequence):
                    body.append(stmt.with_changes(body=[small.with_changes(value=sequential_ctor(ft, layer))]))
                    continue
                if isinstance(layer, LayerList):
                    body.append(stmt.with_changes(body=[small.with_changes(value=layer.module_list(ft))]))
                    continue
                if isinstance(layer, CustomRef):
                    from ..backends.torch_layer_args import ctor_with_layer_args
                    body.append(stmt.with_changes(body=[small.with_changes(
                        value=ctor_with_layer_args(ft, layer, custom_ctor(layer, ft.shaped_classes)))]))
                    continue
                if _is_lambda(layer):
                    continue     # `self.f = Lambda(...)`: its function is inlined where forward calls it
                emission = ft.emissions[id(layer)][0]
                if emission.ctor is None:
                    continue     # a layer that is plain code in forward (e.g. Flatten)
                ctor = appends.top_level_ctor(ft, layer, stmt, emission.ctor)
                body.append(stmt.with_changes(body=[small.with_changes(value=ctor)]))
            elif _is_super_init(stmt):
                body.append(snippets.statement("super().__init__()").with_changes(
                    leading_lines=stmt.leading_lines))
            elif _assigns_add_weight(stmt):
                small = stmt.body[0]
                value, notes = parameter(small.value, ft.imports, self.owner.table, ft.scope)
                ft.notes += [(code, msg, line_of(stmt)) for code, msg in notes]
                body.append(stmt.with_changes(body=[small.with_changes(value=value)]))
            else:
                body.append(ft.opaque(stmt, in_forward=False))
        if init is None:
            init = snippets.statement("def __init__(self):\n    super().__init__()\n")
            body = list(init.body.body) + body
        body = body + list(saved)
        if ft.pinned:       # right after super().__init__()
            at = next((i + 1 for i, stmt in enumerate(body) if _is_super_init(stmt) or
                       "super().__init__()" in cst.Module([]).code_for_node(stmt)), 0)
            body = body[:at] + ft.pin_asserts() + body[at:]
        new_params = init.params
        if init.params.star_kwarg is not None and init.params.star_kwarg.name.value == "kwargs":
            new_params = init.params.with_changes(params=_close(list(init.params.params)), star_kwarg=None)
        if any("input_shape" in _names(stmt, keywords=False) for stmt in body) and \
                "input_shape" not in {p.name.value for p in new_params.params}:
            new_params = self.with_input_shape(new_params, symbolic_rank)
        return init.with_changes(body=init.body.with_changes(body=body), params=new_params)

    def with_input_shape(self, params: cst.Parameters, symbolic_rank) -> cst.Parameters:
        """Add `input_shape` to __init__: keyword-only, defaulting to the shape built in this file."""
        default = None
        if symbolic_rank is None:
            shapes = find_build_shapes(self.owner.module, self.owner.table, self.cls.name.value,
                                       lambda n: evaluate(n, self.owner.scope)) or self.owner.options.input_shapes
            if shapes:
                default = to_node((None,) + tuple(shapes[0]))
        param = cst.Param(cst.Name("input_shape"), default=default,
                          equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
                          if default is not None else cst.MaybeSentinel.DEFAULT)
        star = params.star_arg if isinstance(params.star_arg, cst.Param) else cst.ParamStar()
        return params.with_changes(star_arg=star, kwonly_params=list(params.kwonly_params) + [param],
                                   params=_close(list(params.params)))


KERAS_ONLY_METHODS = {"get_config", "from_config", "compute_output_shape", "compute_mask",
                      "compute_output_spec", "get_build_config", "build_from_config"}


def _comment(code: str, message: str) -> list:
    return [cst.EmptyLine(comment=cst.Comment(f"# fwtranslate {code}: {message}"))]


def _framework_refs(node, table: ImportTable) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) is cst.Attribute or type(n) is cst.Name:
            path = table.resolve(n)
            if path and (path.startswith("keras") or path.startswith("tensorflow")):
                found.add(path)
                continue
        stack.extend(child_nodes(n))
    return found


def _names(node, keywords: bool = True) -> set[str]:
    """Names used in a node (`keywords=False`: not counting keyword-argument names)."""
    if keywords:
        return all_names(node)
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n) is cst.Name:
            found.add(n.value)
        elif type(n) is cst.Arg:
            stack.append(n.value)
        else:
            stack.extend(child_nodes(n))
    return found


def _extend_scope(scope: dict, statements: list) -> dict:
    """Constants computed in build() (e.g. `dim = input_shape[-1]`) join the scope."""
    from .scopes import _bindings
    scope = dict(scope)
    for stmt in statements:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1:
                    for name, value in _bindings(small.targets[0].target, small.value, scope):
                        if value is UNKNOWN:
                            scope.pop(name, None)
                        else:
                            scope[name] = value
    return scope


def _assigned_in(body: list) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        for node in find_all(stmt, cst.AssignTarget):
            if isinstance(node.target, cst.Name):
                names.add(node.target.value)
    return names


def _weight_metas(statements: list, scope: dict) -> dict:
    """`self.w = self.add_weight(shape=(d, u))`: forward knows `self.w` as a tensor of that shape."""
    from .keras_weights import bind
    out = {}
    for stmt in statements:
        if not _assigns_add_weight(stmt):
            continue
        target = dotted(stmt.body[0].targets[0].target)
        shape = evaluate(bind(stmt.body[0].value).get("shape"), scope)
        if target and isinstance(shape, (tuple, list)) and all(d is not None for d in shape):
            out[target] = TensorMeta(tuple(shape), "cl")
    return out


def _is_super_call(stmt, method: str) -> bool:
    if not (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Expr)):
        return False
    node = stmt.body[0].value
    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == method
            and isinstance(node.func.value, cst.Call) and dotted(node.func.value.func) == "super")


def _sets_built(stmt) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign)
            and dotted(stmt.body[0].targets[0].target) == "self.built")


def _assigns_add_weight(stmt) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign) and is_add_weight(stmt.body[0].value))


def rename_name(node, old: str, new: str):
    """Name `old` -> `new` (attribute names excepted)."""
    def leave_name(original, updated):
        return updated.with_changes(value=new) if updated.value == old else updated
    return transform(node, {cst.Name: leave_name}, keep={cst.Attribute: ("attr",)})


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


def training_flag(node):
    """`training` (the Keras call argument) -> `self.training`."""
    def leave_name(original, updated):
        return cst.Attribute(cst.Name("self"), cst.Name("training")) if updated.value == "training" else updated
    return transform(node, {cst.Name: leave_name}, keep={cst.Attribute: ("attr",)})

    def leave_Arg(self, original, updated):
        if original.keyword is not None and original.keyword.value == "training":
            return cst.RemoveFromParent()
        return updated.with_changes(keyword=original.keyword)
