"""Translate the dataflow of a Keras model (functional statements or a `call` body) to a torch forward.

Walks statements in order with an environment of tensor metas (shape in Keras order + torch layout),
applies layers through their rules, remaps axes, and inserts permutes where a layer needs the other
layout. Layers are collected in creation order; their constructors are emitted afterwards, when the
input shape of each is known.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field, replace

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, Layer, Sym, TensorMeta, Val
from ..cst_walk import all_names, node_code, transform
from ..names import ImportTable, dotted
from ..positions import line_of
from ..passes.shapes import SHAPE_FUNCTIONS, ShapeError
from ..rules import LayerRule, RuleSet
from ..values import make_val, to_node
from .torch_code import Imports, method, permute, to_cf_perm, to_cl_perm
from .torch_layers import Emission, LayerContext, ShapeUnknown, apply_activation, emit_layer
from .torch_layers import discover_hatches
from .torch_inline import inline_call
from .torch_lambda import apply_lambda
from .torch_sequence import LayerSequence, apply_sequence
from .torch_ops import emit_op

discover_hatches()
MERGE_EMITS = {"merge", "concatenate", "merge_misc", "dot"}    # layers called on a list of tensors
FLAT_CONSUMERS = {"dense"}       # rules whose weights absorb a channels-first flatten order
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    return _SNAKE.sub("_", name).lower().replace("1_d", "1d").replace("2_d", "2d").replace("3_d", "3d")


def expected_rank(rule: LayerRule) -> int | None:
    if rule.rank:
        return rule.rank
    for suffix, rank in (("1d", 3), ("2d", 4), ("3d", 5)):
        if rule.id.endswith(suffix):
            return rank
    return None


class ForwardTranslator:
    def __init__(self, rules: RuleSet, table: ImportTable, imports: Imports, scope: dict,
                 layout: str, self_name: str = "self"):
        self.rules = rules
        self.table = table
        self.imports = imports
        self.scope = scope
        self.layout = layout                  # "native" | "keep"
        self.self_name = self_name
        self.layers: list[Layer] = []
        self.layer_refs: dict[str, Layer] = {}      # "dense" or "self.dense" -> Layer
        self.attrs: set[str] = set()
        self.env: dict[str, TensorMeta] = {}
        self.emissions: dict[int, tuple[Emission, LayerContext]] = {}
        self.first_conversion: dict[str, tuple] = {}  # input -> (layout, rank) its first consumer wanted
        self.on_first_conversion = None               # called when an entry is added (torch_passes)
        self.notes: list[tuple[str, str, int]] = []
        self.sites = 0
        self.outputs: list[TensorMeta] = []
        self.functions: dict[str, cst.FunctionDef] = {}   # module-level helpers that may be inlined
        self.inlined: set[str] = set()
        self.pending: list = []                           # statements hoisted out of an expression
        self.hoisting = True
        self.read_in_statement: dict[str, int] = {}       # tensor -> times the current statement read it
        self.folded: set[int] = set()                     # constant assignments folded into the scope
        self.init_names = set(scope)                      # names __init__ can see (module, parameters)
        self.defaults: dict = {}                          # parameter -> its constant default
        self.pinned: dict = {}                            # parameter -> value the translation assumes
        self.names: set[str] = set()                      # names used in the forward so far
        self.custom_refs: dict[str, CustomRef] = {}       # "self.block" / var -> a custom layer instance
        self.layer_params: dict[str, str] = {}    # "self.downsample" -> its __init__ parameter (torch_layer_args)
        self.input_metas: dict = {}               # call() inputs as they came in
        self.called_params: set[str] = set()      # __init__ parameters called as layers in forward
        self.rebound: set[str] = set()            # names assigned in call()
        self.layer_param_problems: list = []      # (message, line) of this pass
        self.layer_param_calls: dict = {}         # class of the file -> its parameters called as layers
        self.class_defs: dict = {}                # class of the file -> its ClassDef
        self.layer_lists: dict[str, list] = {}            # "self.blocks" -> its layers (nn.ModuleList)
        self.sequences: dict = {}                         # "self.ffn" -> LayerSequence (nn.Sequential)
        self.custom_classes: set[str] = set()             # Keras classes of this file usable as layers
        self.custom_outputs = None     # (class name, ctor call, input metas, scope) -> (outputs, layouts)
        self.shaped_classes: set[str] = set()   # custom classes whose translation takes input_shape=
        self.append_lists: dict = {}            # "blocks" -> layers appended in __init__ (keras_init_lists)
        self.tensor_lists: dict = {}            # name -> metas of a Python list of tensors (torch_forward_lists)
        self.call_bindings: dict = {}           # class -> its calls seen (keras_channel_params)
        self.class_channels: dict = {}          # class -> (rank, parameter giving its input channels)

    # ---- layers --------------------------------------------------------------------------------
    def self_ref(self, attr: str) -> cst.BaseExpression:
        node = cst.Name(self.self_name)
        for part in attr.split("."):     # "blocks.0" -> self.blocks[0]
            if part.isdigit():
                node = cst.Subscript(node, [cst.SubscriptElement(cst.Index(cst.Integer(part)))])
            else:
                node = cst.Attribute(value=node, attr=cst.Name(part))
        return node

    def unique_attr(self, base: str) -> str:
        base = re.sub(r"\W", "_", base) or "layer"
        if base[0].isdigit():
            base = "layer_" + base
        if keyword.iskeyword(base) or base in ("self", "super"):
            base += "_"                      # Lambda's auto-name `lambda`: self.lambda_
        name, i = base, 0
        while name in self.attrs:
            i += 1
            name = f"{base}_{i}"
        self.attrs.add(name)
        return name

    def rule_for(self, func: cst.BaseExpression) -> tuple[str, LayerRule] | None:
        path = self.table.resolve(func)
        if path is None:
            return None
        rule = self.rules.layers.get(path)
        if rule is not None:
            return path, rule
        if path.startswith("keras.layers.") and path[13:14].isupper():
            raise TranslationError("FWT101", f"no rule for layer '{path}'", _line(func))
        return None

    def bind_args(self, node: cst.Call, rule: LayerRule, path: str, positional=None) -> dict[str, Val]:
        params = rule.positional_params if positional is None else positional
        args: dict[str, Val] = {}
        for i, arg in enumerate(a for a in node.args if a.keyword is None):
            if arg.star:
                raise TranslationError("FWT201", f"{path}: *args are not supported", _line(node))
            if i >= len(params):
                raise TranslationError("FWT201", f"{path}: too many positional arguments", _line(node))
            args[params[i].keras] = make_val(arg.value, self.scope)
        for arg in node.args:
            if arg.keyword is not None:
                args[arg.keyword.value] = make_val(arg.value, self.scope)
            elif arg.star == "**":
                raise TranslationError("FWT201", f"{path}: **kwargs are not supported", _line(node))
        return args

    def new_layer(self, node: cst.Call, path: str, rule: LayerRule, attr: str | None = None,
                  args: dict | None = None) -> Layer:
        args = self.bind_args(node, rule, path) if args is None else args
        self.resolve_function_refs(args)
        name = args.get("name")
        name = name.const if name is not None and isinstance(name.const, str) else None
        if attr is None:
            attr = self.unique_attr(name or snake(path.rsplit(".", 1)[-1]))
        else:
            self.attrs.add(attr)
        layer = Layer(attr=attr, rule=rule, keras_path=path, args=args, line=_line(node), node=node,
                      name=name)
        self.layers.append(layer)
        return layer

    def resolve_function_refs(self, args: dict) -> None:
        """`activation=tf.nn.relu` / `keras.activations.gelu`: the activation's name, as a string."""
        val = args.get("activation")
        if val is not None and not val.known and val.node is not None:
            name = self.activation_function(self.table.resolve(val.node))
            if name is not None:
                args["activation"] = Val(val.node, name)

    # ---- layout ------------------------------------------------------------------------------
    def convert(self, expr, meta: TensorMeta, want: str, hoist: bool = True):
        """Bring a tensor to layout `want` ('cl' also materialises a channels-first flatten).

        A variable is converted once, by a statement before the current one (`x = x.permute(...)`),
        so that later uses see it in its new layout; other expressions are converted in place.
        """
        if meta is None:
            return expr, meta
        original, original_meta = expr, meta
        if meta.flat_from is not None:
            shape = meta.flat_from
            c_first = (shape[-1],) + tuple(shape[:-1])
            expr = method(method(method(expr, "unflatten", [to_node(1), to_node(c_first)]), "permute",
                                 [to_node(p) for p in to_cl_perm(len(shape) + 1)]), "flatten", [to_node(1)])
            meta = replace(meta, flat_from=None)
        rank = meta.rank
        if meta.layout == want or (rank is not None and rank <= 2):
            meta = replace(meta, layout=want) if rank is not None and rank <= 2 else meta
        else:
            if rank is None:
                raise TranslationError("FWT302", "a layout change is needed on a tensor of unknown rank")
            origin = meta.origin
            if origin and origin not in self.first_conversion:
                self.first_conversion[origin] = (want, rank)
                if self.on_first_conversion is not None:     # torch_passes: may end the pass here
                    self.on_first_conversion(self)
            perm = to_cf_perm(rank) if want == "cf" else to_cl_perm(rank)
            expr, meta = permute(expr, perm), replace(meta, layout=want)
        if expr is original:
            return expr, meta
        if hoist and self.hoisting and isinstance(original, cst.Name) and self.env.get(original.value) is original_meta \
                and self.read_in_statement.get(original.value, 0) <= 1:   # no other read of it before
            self.pending.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(original)], expr)]))
            self.env[original.value] = meta
            return original, meta
        return expr, meta

    def prepare_inputs(self, rule: LayerRule, exprs, metas):
        rank = expected_rank(rule)
        metas = [m if m is not None else TensorMeta(None) for m in metas]
        metas = [replace(m, shape=(None,) * rank) if m.shape is None and rank else m for m in metas]
        if rule.layout in ("cf", "cl"):
            pairs = []
            for e, m in zip(exprs, metas):
                if rule.layout == "cl" and m.flat_from is not None and rule.id in FLAT_CONSUMERS:
                    pairs.append((e, m))
                else:
                    pairs.append(self.convert(e, m, rule.layout))
            return [p[0] for p in pairs], [p[1] for p in pairs]
        # a channels-first flatten passes through elementwise layers, but not through one whose weights
        # are per position (PReLU's alpha, a norm's scale): those see the Keras order
        if len(exprs) > 1 or (metas[0].flat_from is not None and (rule.shape != "same" or rule.weights)):
            want = metas[0].layout
            pairs = [self.convert(e, m, want) for e, m in zip(exprs, metas)]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return exprs, metas

    # ---- applying a layer ------------------------------------------------------------------------
    def apply_layer(self, layer: Layer, exprs, metas, call_args: dict, node: cst.CSTNode):
        """The layer applied to its inputs: (expression, meta), or (expression, [metas]) when the
        layer has several outputs (its shape function returns several shapes)."""
        rule = layer.rule
        if rule.id == "lambda":
            return apply_lambda(self, layer, exprs, metas, call_args, node)
        self.sites += 1
        exprs, metas = self.prepare_inputs(rule, exprs, metas)
        if layer.in_metas is None:
            layer.in_metas = metas
        if id(layer) not in self.emissions:
            ctx = LayerContext(layer, metas, self.imports, self.rules, self.self_ref)
            ctx.call_args = call_args          # the first call's arguments, for the hatch to see
            ctx.hoist = self.hoist
            ctx.translator = self
            try:
                emission = emit_layer(ctx)
            except ShapeUnknown as exc:
                raise TranslationError("FWT302", str(exc), layer.line) from None
            except ShapeError as exc:     # an input of a rank the layer cannot take (e.g. --input-shape)
                raise TranslationError("FWT302", f"{layer.keras_class}: {exc} for an input of shape "
                                       f"{metas[0].shape if metas else None}", layer.line) from None
            for code, message in emission.notes:
                self.notes.append((code, message, layer.line))
            self.emissions[id(layer)] = (emission, ctx)
        emission, ctx = self.emissions[id(layer)]
        layer.calls += 1
        ctx.call_args = call_args
        outs = self.out_metas(ctx, rule, metas)
        if emission.out_layout is not None:
            outs = [replace(m, layout=emission.out_layout) if m.rank and m.rank > 2 else m for m in outs]
        ctx.out_meta, ctx.out_metas = outs[0], outs
        if rule.id in FLAT_CONSUMERS and metas[0].flat_from is not None:
            layer.extra["flatten_from"] = list(metas[0].flat_from)
        try:
            applied = emission.apply(exprs, metas)
        except ShapeUnknown as exc:      # e.g. an axis to map on a tensor of unknown rank (fuzz, subclass)
            raise TranslationError("FWT302", str(exc), layer.line) from None
        return applied, outs[0] if len(outs) == 1 else outs

    def out_metas(self, ctx: LayerContext, rule: LayerRule, metas) -> list[TensorMeta]:
        shapes = [m.shape for m in metas]
        out_shapes = [None]
        if all(s is not None for s in shapes):
            ctx.in_shapes = shapes
            try:
                out_shapes = SHAPE_FUNCTIONS[rule.shape](_ArgsView(ctx), shapes) or [None]
            except (ShapeError, TypeError, KeyError, IndexError, ZeroDivisionError):
                out_shapes = [None]
        return [self.one_out_meta(ctx, rule, metas, shape) for shape in out_shapes]

    def one_out_meta(self, ctx: LayerContext, rule: LayerRule, metas, out_shape) -> TensorMeta:
        first = metas[0]
        layout = "cl" if rule.layout == "cl" else ("cf" if rule.layout == "cf" else first.layout)
        if out_shape is not None and len(out_shape) <= 2:
            layout = "cl"
        flat = None
        if rule.id == "flatten" and first.layout == "cf" and first.rank and first.rank > 2:
            flat, layout = tuple(first.shape[1:]), "cl"
        elif rule.shape == "same" and rule.layout == "any":
            flat = first.flat_from
        dtype = "float32" if rule.id == "embedding" else first.dtype
        last = None
        if out_shape is None:     # rank unknown: the feature dimension may still be known
            last = {"dense": lambda: ctx.arg("units"), "same": lambda: first.last_dim}.get(rule.shape, lambda: None)()
        return TensorMeta(out_shape, layout, dtype, flat, last=last)

    # ---- expressions -----------------------------------------------------------------------------
    def layer_of(self, func: cst.BaseExpression) -> Layer | None:
        from ..names import dotted
        if isinstance(func, cst.Subscript) and len(func.slice) == 1:    # self.blocks[0](x)
            group = self.layer_lists.get(dotted(func.value) or "")
            index = func.slice[0].slice
            if group is not None and isinstance(index, cst.Index):
                from ..values import evaluate
                i = evaluate(index.value, self.scope)
                if isinstance(i, int) and -len(group) <= i < len(group) and isinstance(group[i], Layer):
                    group[i].ref = func
                    return group[i]
            return None
        text = dotted(func)
        return self.layer_refs.get(text) if text else None

    def tensor_inputs(self, node: cst.Call, layer: Layer):
        """The inputs of a layer call: `layer(x)`, `layer([a, b])`, `layer(inputs=x)`, and the extra
        arguments its rule accepts (`call_args`): later positionals and keywords, e.g. `mha(q, v, key=k)`.

        Returns (input exprs, input metas, {name: (expr, meta, Val)}).
        """
        what, accepted = layer.keras_class, list(layer.rule.call_args) if layer.rule else []
        first, extra, positional = None, {}, 0
        for arg in node.args:
            name = arg.keyword.value if arg.keyword is not None else None
            if arg.star:
                raise TranslationError("FWT201", f"{what}: *args in a layer call are not supported", _line(node))
            if name is None and first is None:
                first = arg.value
                continue
            if name == "inputs" or (name is not None and name == getattr(layer.rule, "input_arg", None)):
                first = arg.value
                continue
            if name == "training":
                continue
            if name is None:
                if positional >= len(accepted):
                    raise TranslationError("FWT201", f"{what}: too many call arguments", _line(node))
                name = accepted[positional]
                positional += 1
            if name not in accepted:
                raise TranslationError("FWT201", f"{what}: call argument '{name}' is not supported", _line(node))
            expr, meta = self.expr(arg.value)
            extra[name] = (expr, meta, make_val(arg.value, self.scope))
        if first is None:
            raise TranslationError("FWT201", f"{what}: called without an input", _line(node))
        items = first.elements if isinstance(first, (cst.List, cst.Tuple)) else None
        values = [el.value for el in items] if items is not None else [first]
        if items is None and layer.rule is not None and layer.rule.emit in MERGE_EMITS:
            from ..frontends.keras_packed_inputs import merge_items     # `Concatenate()(inputs)`
            values = merge_items(self, first, layer.keras_class)
        pairs = [self.expr(v) for v in values]
        return [p[0] for p in pairs], [p[1] for p in pairs], extra

    def expr(self, node: cst.BaseExpression):
        """(translated expression, TensorMeta or None for non-tensors)."""
        if self.tensor_lists:               # `skips[-1]`; any other use of a list of tensors: FWT302
            from .torch_forward_lists import list_expr
            done = list_expr(self, node)
            if done is not None:
                return done
        if isinstance(node, cst.Name):
            meta = self.env.get(node.value)
            if meta is not None:
                self.read_in_statement[node.value] = self.read_in_statement.get(node.value, 0) + 1
            return node, meta
        if isinstance(node, cst.Attribute) and self.env.get(dotted(node) or "") is not None:
            return node, self.env[dotted(node)]          # a weight made by add_weight (self.w)
        if isinstance(node, cst.Attribute):
            from .torch_weight_reads import weight_read  # a layer's weight: self.encoder.embeddings
            read = weight_read(self, node)
            if read is not None:
                return read
        if isinstance(node, cst.Call):
            return self.call_expr(node)
        if isinstance(node, cst.BinaryOperation):
            return self.binary(node)
        if isinstance(node, cst.UnaryOperation):
            inner, meta = self.expr(node.expression)
            return node.with_changes(expression=inner), meta
        if isinstance(node, (cst.List, cst.Tuple)):
            elements = [el.with_changes(value=self.expr(el.value)[0]) for el in node.elements]
            return node.with_changes(elements=elements), None
        if isinstance(node, cst.Subscript) and isinstance(node.value, (cst.Call, cst.Name, cst.Attribute)):
            value, meta = self.expr(node.value)          # `K.int_shape(c)[-1]`, `x[:, 0]`
            if meta is not None:
                value, meta = self.convert(value, meta, "cl", hoist=False)
            return node.with_changes(value=value, slice=[self.opaque(el) for el in node.slice]), None
        return self.opaque(node), None

    def pin(self, param: str, value, where: str, line: int) -> None:
        """A parameter the translation had to fix to its default value (a hatch needs a constant)."""
        if param not in self.pinned:
            self.pinned[param] = value
            self.notes.append(("FWT402", f"{where}: parameter '{param}' fixed to its default {value!r} (this "
                               "layer needs a constant); __init__ asserts it", line))

    def pin_asserts(self) -> list:
        """`assert heads == 4, ...` for each pinned parameter, for the top of __init__."""
        out = []
        for param, value in sorted(self.pinned.items()):
            message = f"translated with {param}={value!r}; translate again for other values"
            out.append(cst.parse_statement(f"assert {param} == {value!r}, {message!r}\n"))
        return out

    def hoist(self, expr: cst.BaseExpression, base: str = "tmp") -> cst.Name:
        """Bind an expression to a new local before the current statement; returns its name."""
        name = self.fresh_name(base)
        self.pending.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], expr)]))
        return cst.Name(name)

    def fresh_name(self, base: str) -> str:
        name, i = base, 0
        while name in self.names or name in self.env:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def helper_of(self, node: cst.Call) -> cst.FunctionDef | None:
        if isinstance(node.func, cst.Name) and node.func.value in self.functions:
            return self.functions[node.func.value]
        return None

    def inline(self, node: cst.Call, result_name: str | None = None):
        func = self.helper_of(node)
        self.inlined.add(func.name.value)
        statements, result, meta = inline_call(self, func, node, result_name)
        self.pending += statements
        return cst.Name(result), meta

    def custom_ref(self, func) -> "CustomRef | None":
        """A call of a Keras layer/model class defined in this file: `self.block(x)` or `Block(32)(x)`."""
        from ..names import dotted
        ref = self.custom_refs.get(dotted(func) or "")
        if ref is None and isinstance(func, cst.Subscript):      # self.blocks[0](x): torch_forward_lists
            from .torch_forward_lists import custom_item
            ref = custom_item(self, func)
        if ref is None and isinstance(func, cst.Call) and isinstance(func.func, cst.Name) \
                and func.func.value in self.custom_classes:
            ref = CustomRef(self.unique_attr(snake(func.func.value)), func.func.value, func, line_of(func))
            self.layers.append(ref)
        return ref

    def apply_custom(self, ref: "CustomRef", node: cst.Call):
        exprs, metas = [], []
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "training":
                continue
            if arg.keyword is not None or arg.star:
                raise TranslationError("FWT201", f"{ref.class_name}: call argument "
                                       f"'{arg.keyword.value if arg.keyword else '*'}' is not supported", _line(node))
            expr, meta = self.expr(arg.value)
            exprs.append(expr), metas.append(meta)
        unknown = any(m is None or m.shape is None for m in metas) or (
            ref.class_name in self.shaped_classes and any(d is None for m in metas for d in m.shape[1:]))
        if self.custom_outputs is None or unknown:
            raise TranslationError("FWT302", f"{ref.class_name}: input shape unknown at its call", _line(node))
        self.sites += 1
        outputs, layouts = self.custom_outputs(ref.class_name, ref.shape_ctor or ref.ctor, metas, self.scope)
        if ref.class_name in self.class_defs:     # its channels a constructor parameter? (keras_channel_params)
            from ..frontends.keras_channel_params import observe_call
            observe_call(self, ref, metas, _line(node))
        converted = [self.convert(e, m, want) for e, m, want in zip(exprs, metas, layouts)]
        if ref.call_metas is None:
            ref.call_metas = [m for _, m in converted]
        if ref.class_name in self.class_defs:
            from .torch_layer_args import apply_layer_arguments, check_instantiation
            check_instantiation(self, ref, self.class_defs[ref.class_name],
                                self.layer_param_calls.get(ref.class_name, set()))
            if ref.layer_args:
                apply_layer_arguments(self, ref, [m for _, m in converted])
        expr = cst.Call(func=ref.ref or self.self_ref(ref.attr), args=[cst.Arg(e) for e, _ in converted])
        return expr, outputs[0] if len(outputs) == 1 else outputs

    def call_expr(self, node: cst.Call):
        func = node.func
        if self.helper_of(node) is not None:
            return self.inline(node)
        ref = self.custom_ref(func)
        if ref is not None:
            return self.apply_custom(ref, node)
        if self.layer_params:
            from .torch_layer_args import call_layer_param     # self.downsample(x): a layer argument
            done = call_layer_param(self, node)
            if done is not None:
                return done
        from ..names import dotted
        seq = self.sequences.get(dotted(func) or "")
        if seq is not None:
            return apply_sequence(self, seq, node)
        layer = self.layer_of(func)
        if layer is not None:
            return self.apply_layer(layer, *self.tensor_inputs(node, layer), node)
        if isinstance(func, cst.Call):
            found = self.rule_for(func.func)
            if found is not None:
                layer = self.new_layer(func, *found)
                return self.apply_layer(layer, *self.tensor_inputs(node, layer), node)
        path = self.table.resolve(func)
        if path is not None and path in self.rules.functions:
            return self.merge_function(node, path)
        if path is not None and self.rules.layers.get(path) is not None:
            raise TranslationError("FWT103", f"layer '{path}' created inside the forward pass",
                                   _line(node))
        if path is not None and path in self.rules.ops:      # ops first: they map every argument
            return emit_op(self, self.rules.ops[path], node)
        act = self.activation_function(path)
        if act is not None:
            if len(node.args) != 1 or node.args[0].keyword is not None:
                raise TranslationError("FWT201", f"'{path}' with arguments has no op rule", _line(node))
            x, meta = self.expr(node.args[0].value)
            ctx = LayerContext(Layer("", None, path, {}, _line(node)), [meta or TensorMeta(None)],
                               self.imports, self.rules, self.self_ref)
            self.sites += 1
            return apply_activation(ctx, act, x, meta or TensorMeta(None)), meta
        if path is not None and (path.startswith("keras") or path.startswith("tensorflow")):
            raise TranslationError("FWT102", f"no rule for '{path}'", _line(node))
        return self.opaque(node), None

    def activation_function(self, path: str | None) -> str | None:
        if not path:
            return None
        for prefix in ("keras.activations.", "tensorflow.nn.", "keras.ops.", "keras.backend.",
                       "tensorflow.math."):
            if path.startswith(prefix) and path[len(prefix):] in self.rules.activations:
                return path[len(prefix):]
        return None

    def merge_function(self, node: cst.Call, path: str):
        rule = self.rules.functions[path]
        positional = [a for a in node.args if a.keyword is None]
        if not positional:
            raise TranslationError("FWT201", f"{path}: no inputs", _line(node))
        ctor_args = {a.keyword.value: make_val(a.value, self.scope) for a in node.args if a.keyword}
        for i, arg in enumerate(positional[1:]):
            ctor_args[rule.keras_params[i].keras] = make_val(arg.value, self.scope)
        layer = self.new_layer(node, path, rule, args=ctor_args)
        inputs = positional[0].value
        call_node = cst.Call(func=cst.Name("_"), args=[cst.Arg(inputs)])
        return self.apply_layer(layer, *self.tensor_inputs(call_node, layer), node)

    def binary(self, node: cst.BinaryOperation):
        left, lm = self.expr(node.left)
        right, rm = self.expr(node.right)
        meta = lm or rm
        if lm is not None and rm is not None:
            if lm.rank is not None and lm.rank == rm.rank:
                right, rm = self.convert(right, rm, lm.layout)
            else:
                left, lm = self.convert(left, lm, "cl")
                right, rm = self.convert(right, rm, "cl")
            meta = lm
            if lm.shape is not None and rm.shape is not None:
                meta = replace(lm, shape=SHAPE_FUNCTIONS["broadcast"](None, [lm.shape, rm.shape])[0])
        elif meta is not None and not _is_number(node.right if lm is not None else node.left, self.scope):
            # a tensor with something of unknown shape (e.g. a weight `self.gamma`): broadcasting
            # is only right in Keras axis order
            if lm is not None:
                left, lm = self.convert(left, lm, "cl")
                meta = lm
            else:
                right, rm = self.convert(right, rm, "cl")
                meta = rm
        return node.with_changes(left=left, right=right), meta

    def layer_object(self, node) -> bool:
        """Does `node` name a translated layer (or a container of them)?"""
        from ..names import dotted
        text = dotted(node)
        return bool(text) and (text in self.layer_refs or text in self.layer_lists or text in self.sequences
                               or text in self.custom_refs)

    def opaque(self, node: cst.BaseExpression, in_forward: bool = True):
        """An expression the translator does not model: its tensors are given in Keras order.

        In forward, a translated layer may only be called directly: passed around or called through
        an unknown path, its lowered code (activation, padding, ...) would be skipped: FWT103.
        """
        translator = self

        def check(n):
            if in_forward and translator.layer_object(n):
                raise TranslationError("FWT103", f"layer '{cst.Module([]).code_for_node(n)}' used other "
                                       "than by calling it (its translation includes forward code)",
                                       _line(n))

        def visit_attribute(n):
            check(n)
            return True

        def leave_name(original, updated):
            check(original)
            if in_forward and updated.value in translator.tensor_lists:
                raise TranslationError("FWT302", f"the list of tensors '{updated.value}' used in a form not "
                                       "translated here (its tensors' layouts would be lost)", _line(original))
            meta = translator.env.get(updated.value)
            if meta is not None:        # a read, as expr() counts it: a hoisted conversion must not
                reads = translator.read_in_statement       # change a read translated before it
                reads[updated.value] = reads.get(updated.value, 0) + 1
            if meta is not None and (meta.layout == "cf" or meta.flat_from is not None):
                return translator.convert(updated, meta, "cl")[0]
            return updated

        def leave_call(original, updated):
            path = translator.table.resolve(updated.func)
            if path is not None and path in translator.rules.layers:
                raise TranslationError("FWT103", f"Keras layer '{path}' used in a form not translated "
                                       "here (e.g. in a container or expression)", _line(original))
            if path is not None and (path.startswith("keras") or path.startswith("tensorflow")):
                raise TranslationError("FWT102", f"no rule for '{path}'", _line(original))
            return updated

        # as a CSTTransformer with visit_Attribute, leave_Name and leave_Call would, faster
        return transform(node, {cst.Name: leave_name, cst.Call: leave_call}, {cst.Attribute: visit_attribute})

    # ---- statements ------------------------------------------------------------------------------
    def block(self, statements) -> list:
        out = []
        for stmt in statements:
            out += self.statement(stmt)
        return out

    def layer_definition(self, stmt) -> bool:
        """`dense = layers.Dense(8)` / `block = Block(8)`: a layer object made here and called later.

        Registered in creation order (which weight porting relies on); the statement itself goes away.
        """
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1
                and isinstance(stmt.body[0].targets[0].target, cst.Name)
                and isinstance(stmt.body[0].value, cst.Call)):
            return False
        var, value = stmt.body[0].targets[0].target.value, stmt.body[0].value
        if self.table.resolve(value.func) == "keras.Sequential":
            self.new_sequence(self.unique_attr(var), value, var)
            return True
        if isinstance(value.func, cst.Name) and value.func.value in self.custom_classes:
            ref = CustomRef(self.unique_attr(var), value.func.value, value, _line(stmt))
            self.layers.append(ref)
            self.custom_refs[var] = ref
            return True
        found = self.rule_for(value.func) if not isinstance(value.func, cst.Call) else None
        if found is None:
            return False
        name = self.bind_args(value, found[1], found[0]).get("name")
        layer = self.new_layer(value, *found, attr=None if name is not None else self.unique_attr(var))
        trailing = stmt.trailing_whitespace.comment
        layer.comments = ([line.comment.value for line in stmt.leading_lines if line.comment],
                          trailing.value if trailing else None)
        self.layer_refs[var] = layer
        return True

    def new_sequence(self, attr: str, node: cst.Call, key: str) -> LayerSequence:
        """A Keras Sequential used as a layer (`self.ffn = keras.Sequential([...])`): an nn.Sequential."""
        items = node.args[0].value if node.args and node.args[0].keyword is None else None
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "layers":
                items = arg.value
        if not isinstance(items, (cst.List, cst.Tuple)) or not items.elements:
            raise TranslationError("FWT103", f"{attr}: a Sequential without a literal list of layers", _line(node))
        layers = []
        from ..frontends.keras_helpers import sequence_items      # helper calls expanded, nested spliced
        for k, value in enumerate(sequence_items(self, items.elements)):
            found = self.rule_for(value.func) if isinstance(value, cst.Call) else None
            if found is None:
                raise TranslationError("FWT103", f"{attr}: item {k} of the Sequential is not a Keras layer "
                                       "with a rule", _line(value))
            layers.append(self.new_layer(value, *found, attr=f"{attr}.{k}"))
        self.attrs.add(attr)
        seq = LayerSequence(attr, layers, line=_line(node))
        self.sequences[key] = seq
        self.layers.append(seq)
        return seq

    def statement(self, stmt) -> list:
        self.names |= _names_of(stmt)
        self.read_in_statement = {}
        if self.layer_definition(stmt):
            return []
        if isinstance(stmt, cst.SimpleStatementLine):
            if len(stmt.body) == 1 and self.inline_assign(stmt.body[0]):
                out = self.pending
                self.pending = []
                if out:
                    out[0] = out[0].with_changes(leading_lines=list(stmt.leading_lines) + list(out[0].leading_lines))
                    out[-1] = out[-1].with_changes(trailing_whitespace=stmt.trailing_whitespace)
                return out
            pre, body = [], []
            for small in stmt.body:
                extra, new = self.small(small)
                pre += self.pending + extra
                self.pending = []
                body.append(new)
            return pre + [stmt.with_changes(body=body)]
        if isinstance(stmt, cst.If):
            branch = self.folded_branch(stmt)
            if branch is not None:
                return self.block(branch)
            new = self.if_stmt(stmt)
            return self.take_pending() + [new]
        if isinstance(stmt, (cst.For, cst.While)):
            new = self.loop(stmt)
            return self.take_pending() + [new]
        if isinstance(stmt, cst.With):
            return [stmt.with_changes(body=stmt.body.with_changes(body=self.block(stmt.body.body)))]
        return [self.opaque(stmt)]

    def inline_assign(self, small) -> bool:
        """`x = helper(x, ...)`: inline the helper with its result bound straight to `x`."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name) and isinstance(small.value, cst.Call)
                and self.helper_of(small.value) is not None):
            return False
        target = small.targets[0].target.value
        _, meta = self.inline(small.value, result_name=target)
        return True

    def shape_scope(self) -> dict:
        """The constant scope, plus the tensors known here (so that `x.shape[-1]` folds)."""
        from ..values import ShapeOf
        scope = dict(self.scope)
        for name, meta in self.env.items():
            if meta is not None and meta.shape is not None and name not in scope:
                scope[name] = ShapeOf(meta.shape)
        return scope

    def constant_assignment(self, small):
        """`channels = x.shape[-1]`, `n = filters * 2`: a constant, folded into the scope and written
        as its value (no tensor is read at run time for it)."""
        from ..values import evaluate
        if not (len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)):
            return None
        if isinstance(small.value, (cst.Integer, cst.Float, cst.SimpleString)):
            return None
        value = evaluate(small.value, self.shape_scope())
        if value is UNKNOWN or not isinstance(value, (int, float, tuple, Sym)) or isinstance(value, bool):
            return None
        if isinstance(value, tuple) and any(v is None for v in value):
            return None
        name = small.targets[0].target.value
        self.scope = {**self.scope, name: value}
        self.env.pop(name, None)
        folded = small.with_changes(value=to_node(value))
        self.folded.add(id(folded))
        return folded

    def drop_unused_constants(self, body: list) -> list:
        """Folded constant assignments that nothing in forward reads any more (they sized layers)."""
        from ..names import used_names
        out = []
        names: dict[int, set] = {}      # index -> the names its statement uses (a comment move keeps them)

        def names_of(j: int) -> set:
            if j not in names:
                names[j] = used_names(body[j])
            return names[j]
        for i, stmt in enumerate(body):
            small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
            if small is not None and id(small) in self.folded:
                name = small.targets[0].target.value
                if not any(name in names_of(j) for j in range(len(body)) if j != i):
                    if stmt.leading_lines and i + 1 < len(body):      # keep its comments
                        body[i + 1] = body[i + 1].with_changes(
                            leading_lines=list(stmt.leading_lines) + list(body[i + 1].leading_lines))
                    continue
            out.append(stmt)
        return out

    def small(self, small):
        if self.tensor_lists or (type(small) is cst.Assign and type(small.value) is cst.List):   # `skips = []`
            from .torch_forward_lists import list_statement
            done = list_statement(self, small)
            if done is not None:
                return [], done
        if isinstance(small, cst.Assign):
            folded = self.constant_assignment(small)
            if folded is not None:
                return [], folded
            value, meta = self.expr(small.value)
            self.bind_targets(small.targets, small.value, meta)
            return [], small.with_changes(value=value)
        if isinstance(small, cst.AugAssign):
            binop = cst.BinaryOperation(left=small.target, operator=_binary_of(small.operator),
                                        right=small.value)
            value, meta = self.expr(binop)
            target = small.target
            if isinstance(target, cst.Name):
                self.env[target.value] = meta
            return [], cst.Assign(targets=[cst.AssignTarget(target)], value=value)
        if isinstance(small, cst.Return) and small.value is not None:
            return [], small.with_changes(value=self.return_value(small.value))
        if isinstance(small, cst.Expr):
            return [], small.with_changes(value=self.expr(small.value)[0])
        return [], self.opaque(small)

    def bind_targets(self, targets, value, meta):
        for target in targets:
            self.bind(target.target, meta)

    def bind(self, t, meta):
        """Record what a name holds after an assignment; several outputs unpack into a tuple target."""
        if isinstance(t, cst.Name):
            self.tensor_lists.pop(t.value, None)
            if meta is None or isinstance(meta, list):
                self.env.pop(t.value, None)
            else:
                self.env[t.value] = meta
        elif isinstance(t, (cst.Tuple, cst.List)):
            elements = [el.value for el in t.elements]
            metas = meta if isinstance(meta, list) and len(meta) == len(elements) else [None] * len(elements)
            for el, m in zip(elements, metas):
                self.bind(el, m)

    def return_value(self, value):
        items = value.elements if isinstance(value, (cst.Tuple, cst.List)) else None
        nodes = [el.value for el in items] if items is not None else [value]
        out = []
        self.outputs = []
        for node in nodes:
            expr, meta = self.expr(node)
            if meta is not None:
                want = "cl" if self.layout == "keep" else meta.layout
                expr, meta = self.convert(expr, meta, want)
            self.outputs.append(meta)
            out.append(expr)
        if items is None:
            return out[0]
        return cst.Tuple([cst.Element(e) for e in out])

    def snapshot(self):
        return dict(self.env)

    def restore_layouts(self, body: list, before: dict) -> list:
        """Append conversions so that variables defined before a block keep their layout after it."""
        for name, old in before.items():
            now = self.env.get(name)
            if old is None or now is None or now.layout == old.layout:
                continue
            expr, meta = self.convert(cst.Name(name), now, old.layout, hoist=False)
            body.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], expr)]))
            self.env[name] = meta
        return body

    def folded_branch(self, stmt: cst.If):
        """The statements of the branch taken when the test is a known constant (e.g. in a helper)."""
        from ..values import evaluate
        value = evaluate(stmt.test, self.scope)
        if value is UNKNOWN or isinstance(value, Sym):
            return None
        if value:
            return list(stmt.body.body)
        orelse = stmt.orelse
        if orelse is None:
            return []
        if isinstance(orelse, cst.If):
            inner = self.folded_branch(orelse)
            return inner if inner is not None else [orelse]
        return list(orelse.body.body)

    def take_pending(self) -> list:
        out, self.pending = self.pending, []
        return out

    def if_stmt(self, stmt: cst.If):
        from .torch_forward_lists import forget_changed_lists, list_snapshot
        lists_before = list_snapshot(self)
        test, _ = self.expr(stmt.test)
        hoisted = self.take_pending()
        before = self.snapshot()
        body = self.restore_layouts(self.block(stmt.body.body), before)
        after_body = self.snapshot()
        orelse = stmt.orelse
        if orelse is not None:
            self.env = dict(before)
            if isinstance(orelse, cst.If):
                orelse = self.if_stmt(orelse)
            else:
                inner = self.restore_layouts(self.block(orelse.body.body), after_body)
                orelse = orelse.with_changes(body=orelse.body.with_changes(body=inner))
            for name, meta in after_body.items():
                self.env.setdefault(name, meta)
        forget_changed_lists(self, lists_before)     # appended in a branch: the contents are unknown
        self.pending = hoisted
        return stmt.with_changes(test=test, body=stmt.body.with_changes(body=body), orelse=orelse)

    def loop_over_layers(self, stmt):
        """`for block in self.blocks: x = block(x)`: the body is translated for each layer of the list
        in turn (sizes flow from one to the next); it must give the same code every time."""
        from ..names import dotted
        if not (isinstance(stmt, cst.For) and isinstance(stmt.target, cst.Name)):
            return None
        group = self.layer_lists.get(dotted(stmt.iter) or "")
        if not group:
            return None
        var, codes, body = stmt.target.value, set(), None
        before_loop = self.snapshot()
        for layer in group:
            before = self.snapshot()
            layer.ref = cst.Name(var)
            (self.custom_refs if isinstance(layer, CustomRef) else self.layer_refs)[var] = layer
            body = self.restore_layouts(self.block(stmt.body.body), before)
            codes.add("".join(node_code(s) for s in body))
            if isinstance(layer, CustomRef):
                layer.ref = None
        self.layer_refs.pop(var, None)
        self.custom_refs.pop(var, None)
        repeated = group[0] is group[-1] and len(group) > 1
        if repeated and self.env_shapes_changed(before_loop):
            raise TranslationError("FWT103", "a repeated layer list changes the sizes it is applied to: its "
                                   "layers cannot share one constructor", _line(stmt))
        if len(codes) != 1:
            raise TranslationError("FWT103", "the loop over a layer list translates differently for its "
                                   "layers (sizes or layouts change): unroll it by hand", _line(stmt))
        return stmt.with_changes(body=stmt.body.with_changes(body=body))

    def env_shapes_changed(self, before: dict) -> bool:
        return any(before.get(k) is not None and m is not None and before[k].shape != m.shape
                   for k, m in self.env.items())

    def loop(self, stmt):
        from .torch_forward_lists import loop_over_lists, forget_changed_lists, list_snapshot
        unrolled = loop_over_lists(self, stmt)       # zip(...), reversed(...), lists of tensors
        if unrolled is None:
            unrolled = self.loop_over_layers(stmt)
        if unrolled is not None:
            return unrolled
        lists_before = list_snapshot(self)
        before = self.snapshot()
        if isinstance(stmt, cst.For):
            stmt = stmt.with_changes(iter=self.expr(stmt.iter)[0])
        else:   # a while test runs every iteration: nothing may be hoisted out of it
            self.hoisting = False
            stmt = stmt.with_changes(test=self.expr(stmt.test)[0])
            self.hoisting = True
        hoisted = self.take_pending()
        body = self.restore_layouts(self.block(stmt.body.body), before)
        for name, meta in list(self.env.items()):   # shapes that one iteration changes are unknown after
            old = before.get(name)
            if meta is not None and old is not meta and (old is None or old.shape != meta.shape):
                self.env[name] = replace(meta, shape=None)
        forget_changed_lists(self, lists_before)    # appended once per iteration: the length is unknown
        self.pending = hoisted
        return stmt.with_changes(body=stmt.body.with_changes(body=body))


def _is_number(node, scope) -> bool:
    """A scalar constant: broadcasts the same in any layout."""
    from ..values import evaluate
    value = evaluate(node, scope)
    return isinstance(value, (int, float)) and not isinstance(value, Sym)


def _names_of(node) -> set[str]:
    return all_names(node)


@dataclass
class CustomRef:
    """An instance of a Keras layer/model class defined in the same file, used as a layer."""
    attr: str
    class_name: str
    ctor: cst.Call
    line: int
    call_metas: list | None = None      # input metas at the first call (the instance's input shape)
    layer_args: dict = field(default_factory=dict)   # keyword -> LayerSequence (torch_layer_args)
    shape_ctor: cst.Call | None = None  # the constructor with its arguments' values (built in a loop)
    ref: cst.BaseExpression | None = None   # how forward refers to it, when not self.<attr> (a loop variable)


def input_meta(name: str, shape, dtype: str, layouts: dict) -> TensorMeta:
    """A model input's meta; `layouts` holds what a first pass found its first consumer wants."""
    layout, rank = layouts.get(name, ("cl", None))
    if shape is not None:
        full = (None,) + tuple(shape)
    else:
        full = (None,) * rank if rank else None
    return TensorMeta(full, layout, dtype, origin=name)


def next_layouts(ft: "ForwardTranslator", layouts: dict, mode: str) -> dict | None:
    """The input layouts for another pass, or None when this pass already used the right ones."""
    wanted = {k: v for k, v in ft.first_conversion.items() if v[0] == "cf"}
    if mode == "keep" or not wanted or wanted.keys() <= layouts.keys():
        return None
    return {**layouts, **wanted}


class _ArgsView:
    """What a shape function sees: constructor arguments (rule defaults applied) and call arguments."""

    def __init__(self, ctx: LayerContext):
        self.ctx = ctx

    def __getitem__(self, name):
        if name in getattr(self.ctx, "call_args", {}):
            return self.ctx.call_args[name][2].const
        return self.ctx.arg(name)

    def call_meta(self, name):
        """The meta of a tensor passed as a call argument (None when not given)."""
        entry = getattr(self.ctx, "call_args", {}).get(name)
        return entry[1] if entry else None


def _binary_of(op):
    mapping = {cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
               cst.DivideAssign: cst.Divide, cst.MatrixMultiplyAssign: cst.MatrixMultiply}
    cls = mapping.get(type(op))
    if cls is None:
        raise TranslationError("FWT201", "augmented assignment not supported")
    return cls()


def _line(node) -> int:
    return line_of(node)
