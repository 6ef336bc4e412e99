"""Keras -> PyTorch: find each model definition in a module, translate it, splice the result in.

A model that cannot be translated is left exactly as it was, with a `# fwtranslate FWTnnn:` comment
and a finding; the rest of the file is untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import libcst as cst

from .backends.torch_code import Imports
from .backends.torch_forward import ForwardTranslator, input_meta, next_layouts
from .backends.torch_passes import RepeatedPass, stop_when_repeated
from .backends.torch_module import class_def, layer_inits, model_info, save_params, with_comments
from .findings import Finding, TranslationError, comment_lines, flag, internal_errors
from .frontends.keras_classes import SubclassTranslator, keras_base
from .frontends.keras_models import MODEL_API, BlockScanner, ModelSite
from .frontends.scopes import function_scope, module_scope, param_defaults
from .ir import ModuleResult, UNKNOWN, ModelInfo, Sym, TensorMeta
from .names import ImportTable, used_names
from .positions import line_of
from .rules import RuleSet
from .training import KerasTraining
from . import snippets
from .cst_walk import find_all, node_code
from .values import evaluate


@dataclass
class Options:
    layout: str = "native"                    # native | keep
    input_shapes: list[tuple] | None = None   # --input-shape (without the batch dimension)




def class_name_for(base: str, taken: set[str]) -> str:
    stem = base
    for prefix in ("build_", "make_", "create_", "get_", "define_"):
        if stem.startswith(prefix) and len(stem) > len(prefix):
            stem = stem[len(prefix):]
            break
    name = "".join(part[:1].upper() + part[1:] for part in stem.split("_") if part) or "Net"
    if name in ("Model", "Sequential", "Net") and stem != base:
        name = "".join(part[:1].upper() + part[1:] for part in base.split("_") if part)
    if name in taken and f"{name}Net" not in taken:   # `Model` imported from keras: ModelNet
        name = "Net" if name == "Model" and "Net" not in taken else f"{name}Net"
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}{i}"
    taken.add(candidate)
    return candidate


class KerasToTorch:
    def __init__(self, module: cst.Module, rules: RuleSet, options: Options, filename: str,
                 class_ranks: dict | None = None, keep_keras: dict | None = None):
        self.module = module
        self.rules = rules
        self.options = options
        self.filename = filename
        self.table = ImportTable.from_module(module)
        self.scope = module_scope(module)
        self.imports = Imports()
        self.result = ModuleResult(module)
        self.taken = {s.name.value for s in module.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))} \
            | set(self.table.aliases) | set(self.scope)     # no clash with imports or globals
        self.model_vars: set[str] = set()
        self.pending_classes: list = []
        self.model_classes: set[str] = set()
        self.inlined: set[str] = set()
        self.helpers = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
        self.keras_classes = {s.name.value: s for s in module.body
                              if isinstance(s, cst.ClassDef) and keras_base(s, self.table)}
        plans = dict(class_ranks or {})
        self.class_ranks = {k: v[1] for k, v in plans.items() if v[0] == "symbolic"}   # input_shape=
        self.class_shapes = {k: v[1] for k, v in plans.items() if v[0] == "shape"}     # specialised
        self.class_channels = {k: v[1:] for k, v in plans.items() if v[0] == "channels"}   # keras_channel_params
        self.class_free = {k: v[1] for k, v in plans.items() if v[0] == "free"}   # any size, no input_shape=
        self.class_unsized = {k: v[1] for k, v in plans.items() if v[0] == "unsized"}   # sizes of a caller's args
        self.call_bindings: dict[str, list] = {}     # class -> [(input shapes, bound constructor arguments)]
        self.keep_keras = dict(keep_keras or {})       # class -> the untranslatable class that uses it
        self.failed_classes: set[str] = set()
        self.class_errors: dict[str, TranslationError] = {}   # class -> why it failed (this pass)
        self.previous_errors: dict[str, TranslationError] = {}   # of the pass that decided keep_keras
        self.shaped_classes: set[str] = set(self.class_ranks)
        self.layer_param_calls: dict[str, set] = {}   # class -> __init__ params it calls as layers
        self.call_sites: dict[str, list] = {}          # class -> input shapes it is called with
        self.class_infos: dict[str, ModelInfo] = {}
        self._outputs_cache: dict = {}
        self.outputs_asked = 0                         # custom_outputs calls (outputs_memo)
        self.shared_outputs: dict = {}                 # given by api.py to all passes (outputs_memo)
        self._active: set[str] = set()
        self.training = KerasTraining(self)        # compile/fit/... on the translated models

    def finding(self, code: str, message: str, line: int) -> None:
        self.result.findings.append(Finding(code, message, line, 0, self.filename))

    # ---- driver ------------------------------------------------------------------------------------
    def run(self) -> ModuleResult:
        body = self.block(list(self.module.body), self.scope, None)
        body = self.drop_inlined_helpers(body)
        body = self.training.finish(body)
        self.expand_mappings()
        footer = list(self.module.footer)
        if body and _is_placeholder(body[-1]):     # a commented-out last statement needs no `pass`
            footer = list(body.pop().leading_lines) + footer
        self.result.module = self.module.with_changes(body=body, footer=footer)
        return self.result

    def drop_inlined_helpers(self, body: list) -> list:
        """Helpers inlined into a translated model are removed when nothing else refers to them."""
        original = {s.name.value for s in self.module.body if isinstance(s, cst.ClassDef)}
        names: dict[int, set] = {}       # id -> the names a statement of `body` uses (each walked once)

        def names_of(stmt) -> set:
            if id(stmt) not in names:
                names[id(stmt)] = _names(stmt)
            return names[id(stmt)]
        while True:          # (and a class translated from such a helper, that only it used)
            removable = [s for s in body if (isinstance(s, cst.FunctionDef) and s.name.value in self.inlined
                                             or isinstance(s, cst.ClassDef) and self.inlined
                                             and s.name.value not in original)
                         and not any(s.name.value in names_of(o) for o in body if o is not s)]
            if not removable:
                return body
            body = [s for s in body if s not in removable]

    def block(self, statements: list, scope: dict, func: cst.FunctionDef | None) -> list:
        """Translate the models defined in one block; returns the new statements of the block."""
        scanner = BlockScanner(self.table, scope, lambda node: evaluate(node, scope), self.keras_classes)
        try:
            sites = scanner.scan(statements)
        except TranslationError as err:
            if func is not None:
                raise
            self.fail(err)
            return self.flag_first(statements, err)
        replaced: dict[int, list] = {}
        removed: set[int] = set()
        for site in sites:
            try:
                with internal_errors(site.line):
                    new = self.translate_site(site, scope, func, statements)
            except TranslationError as err:
                self.fail(err, site.line)
                replaced[id(site.statement)] = [flag(site.statement, err.code, err.message)]
                continue
            replaced.update(new)
            removed |= site.graph - set(new)
        out = []
        for stmt in statements:
            if id(stmt) in replaced:
                out += replaced[id(stmt)]
            elif id(stmt) in removed:
                continue
            elif func is None and isinstance(stmt, cst.FunctionDef):
                from .frontends.keras_builders import used_only_in_classes    # inlined in __init__ instead
                out += [stmt] if used_only_in_classes(stmt, self.module, self.table, self.keras_classes) \
                    else self.function(stmt)
            elif isinstance(stmt, cst.ClassDef) and keras_base(stmt, self.table):
                out += self.subclass(stmt)
            else:
                new = self.model_api(stmt, func)
                out += new if isinstance(new, list) else [new]
        return _merge_placeholders(out)

    def flag_first(self, statements, err):
        return [flag(s, err.code, err.message) if line_of(s) == err.line or i == 0 and not err.line else s
                for i, s in enumerate(statements)]

    def fail(self, err: TranslationError, line: int = 0) -> None:
        self.result.failed_sites += 1
        self.finding(err.code, err.message + "; the model was left as it was", err.line or line)

    def function(self, func: cst.FunctionDef) -> list:
        scope = function_scope(func, self.scope)
        try:
            with internal_errors(line_of(func)):
                body = self.block(list(func.body.body), scope, func)
        except TranslationError as err:
            self.fail(err, line_of(func))
            return [flag(func, err.code, err.message)]
        new_func = func.with_changes(body=func.body.with_changes(body=body))
        classes = self.pending_classes
        self.pending_classes = []
        return classes + [new_func]

    # ---- one Sequential / Functional model -----------------------------------------------------------
    def translate_site(self, site: ModelSite, scope: dict, func, statements) -> dict[int, list]:
        cls = class_name_for(site.name or (func.name.value if func is not None else site.var or "model"),
                             self.taken)
        ft, input_metas = self.translate_forward(site, scope, func)
        names = [spec.name for spec in site.inputs] or ["x"]
        forward_body = ft.forward_body
        init_body = ft.pin_asserts() + (self.config_statements(site, statements) if func is not None else []) \
            + layer_inits(ft)
        init_params = func.params if func is not None else None
        if func is not None:
            forward_body, saved = self_params(forward_body, func, names)
            init_body = saved + init_body
        leading = [cst.EmptyLine(), cst.EmptyLine()]
        if func is None:
            leading += [line for line in site.statement.leading_lines if line.comment]
        class_node = class_def(cls, self.imports.ref("torch.nn.Module"), init_params, init_body, names,
                               forward_body, leading_lines=leading)
        public = site.var or cls
        if func is not None and (site.var is None or _returns(func, site.var)):
            public = func.name.value             # the builder's name: `build_model(...)` builds it
        info = model_info(public, cls, site.form, site.line, ft, names, input_metas)
        self.result.models.append(info)
        self.result.sites += ft.sites
        for code, message, line in ft.notes:
            self.finding(code, message, line)
        if site.var:
            self.model_vars.add(site.var)
        construct = cst.Call(func=cst.Name(cls), args=passthrough_args(func))
        stmt = site.statement
        small = stmt.body[0]
        new_small = small.with_changes(value=construct)
        new_stmt = stmt.with_changes(body=[new_small],
                                     leading_lines=[cst.EmptyLine()] * 2 if func is None else stmt.leading_lines)
        if func is None:
            return {id(stmt): [class_node, new_stmt]}
        self.pending_classes = self.pending_classes + [class_node]
        return {id(stmt): [new_stmt]}

    def config_statements(self, site: ModelSite, statements) -> list:
        """Statements before the model that compute values its layers use (copied into __init__)."""
        used = set()
        for stmt in site.forward:
            used |= _names(stmt)
        for node in site.layer_nodes:
            used |= _names(node)
        out = []
        for stmt in statements:
            if stmt is site.statement:
                break
            if id(stmt) in site.graph or not isinstance(stmt, cst.SimpleStatementLine):
                continue
            small = stmt.body[0]
            if isinstance(small, cst.Assign) and {n for t in small.targets for n in _names(t.target)} & used:
                out.append(stmt.with_changes(leading_lines=[]))
        return out

    def input_metas(self, site: ModelSite, layouts: dict) -> list[TensorMeta]:
        metas = []
        for i, spec in enumerate(site.inputs or [None]):
            name = spec.name if spec else "x"
            shape = spec.shape if spec else None
            if shape is None and self.options.input_shapes and i < len(self.options.input_shapes):
                shape = tuple(self.options.input_shapes[i])
            metas.append(input_meta(name, shape, spec.dtype if spec else "float32", layouts))
        return metas

    def translate_forward(self, site: ModelSite, scope: dict, func=None, skip: bool = True):
        """The forward's passes until its input layouts settle (torch_passes: with `skip`, a pass that
        will be repeated stops as soon as that is known; if a later pass fails, all run in full)."""
        layouts: dict = {}
        skipped = False
        while True:
            try:
                ft, metas = self.forward_pass(site, scope, func, layouts, skip)
            except RepeatedPass as repeat:
                layouts, skipped = repeat.layouts, True
                continue
            except Exception:
                if not skipped:
                    raise
                return self.translate_forward(site, scope, func, skip=False)
            layouts = next_layouts(ft, layouts, self.options.layout)
            if layouts is None:
                break
        self.inlined |= ft.inlined
        return ft, metas

    def forward_pass(self, site: ModelSite, scope: dict, func, layouts: dict, skip: bool):
        ft = ForwardTranslator(self.rules, self.table, self.imports, scope, self.options.layout)
        ft.functions = {k: v for k, v in self.helpers.items() if func is None or k != func.name.value}
        ft.defaults = param_defaults(func, self.scope)
        ft.custom_classes = set(self.keras_classes)
        ft.custom_outputs = self.custom_outputs
        ft.shaped_classes = self.shaped_classes
        ft.call_bindings, ft.class_channels = self.call_bindings, self.class_channels
        ft.layer_param_calls, ft.class_defs = self.layer_param_calls, self.keras_classes   # torch_layer_args
        metas = self.input_metas(site, layouts)
        names = [spec.name for spec in site.inputs] or ["x"]
        ft.env.update(zip(names, metas))
        if skip:
            ft.on_first_conversion = stop_when_repeated(layouts, self.options.layout, len(set(names)))
        statements = self.forward_statements(site, ft)
        ft.forward_body = ft.drop_unused_constants([s for s in ft.block(statements) if s is not None])
        return ft, metas

    def forward_statements(self, site: ModelSite, ft: ForwardTranslator) -> list:
        if site.form == "sequential":
            out = []
            for node in site.layer_nodes:
                path, rule = ft.rule_for(node.func)
                layer = ft.new_layer(node, path, rule)
                comments = site.layer_comments.get(id(node), ((), None))
                ft.layer_refs[f"self.{layer.attr}"] = layer
                stmt = snippets.statement(f"x = self.{layer.attr}(x)")
                if rule.torch is None:      # no module: the comments go with the code in forward
                    stmt = with_comments(stmt, *comments)
                else:
                    layer.comments = comments
                out.append(stmt)
            if not out:
                raise TranslationError("FWT103", "empty Sequential model", site.line)
            return out + [snippets.statement("return x")]
        input_ids = {id(spec.node) for spec in site.inputs}
        out = []
        for stmt in site.forward:
            small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else None
            if isinstance(small, cst.Assign) and id(small.value) in input_ids:
                continue
            out.append(stmt)
        outputs = site.outputs
        value = outputs[0] if not getattr(site, "multi_output", False) else cst.Tuple(
            [cst.Element(o) for o in outputs])
        out.append(cst.SimpleStatementLine([cst.Return(value)]))
        return out

    # ---- subclassed models ------------------------------------------------------------------------------
    def subclass(self, cls: cst.ClassDef) -> list:
        related = self.keep_keras.get(cls.name.value)
        if related is not None and related != cls.name.value:   # keeps the file consistent
            err = TranslationError("FWT103", f"{cls.name.value} is kept in Keras: it works with {related}, "
                                   "which could not be translated", line_of(cls))
            self.fail(err, line_of(cls))
            return [flag(cls, err.code, err.message)]
        if related is not None and cls.name.value in self.previous_errors:   # the cause, not its echo
            err = self.previous_errors[cls.name.value]
            self.fail(err, line_of(cls))
            return [flag(cls, err.code, err.message)]
        translator = SubclassTranslator(self, cls)
        rank = self.class_ranks.get(cls.name.value)
        shape = self.class_shapes.get(cls.name.value)
        try:
            with internal_errors(line_of(cls)):
                if cls.name.value in self.class_unsized:
                    raise TranslationError("FWT302", f"{cls.name.value} needs its input size, which is an argument "
                                           f"of the class that calls it ({self.class_unsized[cls.name.value]})",
                                           line_of(cls))
                if shape is not None:
                    done = translator.translate(input_metas=[TensorMeta(shape)], layout="native")
                elif cls.name.value in self.class_free:
                    done = translator.translate(symbolic_rank=self.class_free[cls.name.value], layout="native")
                elif cls.name.value in self.class_channels:
                    rank, param = self.class_channels[cls.name.value]
                    from .outputs_memo import take_translation     # class_plans' translation, where exact
                    done = take_translation(self, cls.name.value, (rank, param)) or translator.translate(
                        symbolic_rank=rank, layout="native", channel_param=param)
                else:       # a class that other classes call as a layer: native, as its callers see it
                    native = rank or self.used_as_layer(cls.name.value)
                    done = translator.translate(symbolic_rank=rank, layout="native" if native else None)
        except TranslationError as err:
            self.fail(err, line_of(cls))
            self.failed_classes.add(cls.name.value)
            self.class_errors[cls.name.value] = err
            return [flag(cls, err.code, err.message)]
        new_cls, ft, info = done.cls, done.ft, done.info
        self.class_infos[cls.name.value] = info
        self.result.models.append(info)
        self.result.sites += ft.sites
        for code, message, line in ft.notes:
            self.finding(code, message, line)
        self.model_classes.add(cls.name.value)
        return [new_cls]

    def used_as_layer(self, name: str) -> bool:
        """Another Keras class of the file names this one (custom_outputs translates it natively there)."""
        return any(name in used_names(other) for key, other in self.keras_classes.items() if key != name)

    # ---- custom layer classes used as layers ------------------------------------------------------------
    def custom_outputs(self, class_name: str, ctor: cst.Call, in_metas: list, scope: dict):
        """Outputs and input layouts of a Keras class of this file called as a layer with `in_metas`."""
        self.outputs_asked += 1
        key = (class_name, node_code(ctor),
               tuple((m.shape, m.dtype) for m in in_metas))
        if key in self._outputs_cache:
            return self._outputs_cache[key]
        if class_name in self._active:
            raise TranslationError("FWT103", f"{class_name} uses itself as a layer", line_of(ctor))
        if class_name in self.keep_keras:
            raise TranslationError("FWT103", f"uses {class_name}, which stays Keras "
                                   f"({self.keep_keras[class_name]} could not be translated)", line_of(ctor))
        if all(d is not None for m in in_metas for d in m.shape[1:]):   # runs with unknown sizes don't count
            self.call_sites.setdefault(class_name, []).append([m.shape for m in in_metas])
        cls = self.keras_classes[class_name]
        overrides = {**_ctor_defaults(cls, self.scope), **bind_ctor(cls, ctor, scope)}
        from .outputs_memo import effects, shared_key
        shared = shared_key(self, key, in_metas, overrides)      # an earlier pass's translation (outputs_memo)
        if shared in self.shared_outputs:
            outputs, layouts, called = self.shared_outputs[shared]
            if called:
                self.layer_param_calls[class_name] = set(called)
            self._outputs_cache[key] = (outputs, layouts)
            return self._outputs_cache[key]
        before = effects(self, class_name) if shared is not None else None
        self._active.add(class_name)
        try:
            done = SubclassTranslator(self, cls, imports=Imports()).translate(
                input_metas=[replace(m, layout="cl", origin=None) for m in in_metas],
                scope_overrides=overrides, layout="native", outputs_only=True)
        finally:
            self._active.discard(class_name)
        self._outputs_cache[key] = (done.outputs, done.in_layouts)
        if shared is not None and effects(self, class_name) == before:
            self.shared_outputs[shared] = (done.outputs, done.in_layouts, set(done.ft.called_params))
        return self._outputs_cache[key]

    def class_plans(self) -> dict:
        """After a first pass, how to translate each layer class of the file that other code calls:
        ("symbolic", rank) when one class body serves every call and takes `input_shape=`, or
        ("shape", shape) when it is always called with one shape and is specialised to it."""
        out = {}
        for name, sites in self.call_sites.items():
            shapes = [s for site in sites for s in site]
            if any(len(site) != 1 for site in sites) or any(d is None for s in shapes for d in s[1:]):
                continue
            codes, done = set(), None
            for rank in sorted({len(s) for s in shapes}):   # one class body must serve every rank used
                try:
                    done = SubclassTranslator(self, self.keras_classes[name], imports=Imports()).translate(
                        symbolic_rank=rank, layout="native")
                except TranslationError:
                    codes = None
                    break
                codes.add(node_code(done.cls))
            if codes and len(codes) == 1:
                init = next((s for s in done.cls.body.body if isinstance(s, cst.FunctionDef)
                             and s.name.value == "__init__"), None)
                if init is not None and "input_shape" in {p.name.value for p in init.params.kwonly_params}:
                    from .frontends.keras_channel_params import plan
                    out[name] = plan(self, name, rank) or ("symbolic", rank)
                else:       # needs no size: the same body, never the model's --input-shape (fuzz, subclass)
                    out[name] = ("free", rank)
                continue
            if len(set(shapes)) == 1:       # specialised to the one shape it is called with
                sized = all(isinstance(d, int) for d in shapes[0][1:])   # not a caller's argument (Sym)
                out[name] = ("shape", shapes[0]) if sized else ("unsized", shapes[0])
        return out

    def classes_to_keep(self) -> dict:
        """After a pass: the classes that must stay Keras because a class they use, or that uses them,
        could not be translated (the file must stay consistent). class -> the reason's class."""
        if not self.failed_classes:
            return {}
        refs = {name: used_names(cls) & set(self.keras_classes) - {name} for name, cls in self.keras_classes.items()}
        keep = {name: name for name in self.failed_classes}
        todo = list(self.failed_classes)
        while todo:
            current = todo.pop()
            related = refs[current] | {user for user, used in refs.items() if current in used}
            for name in related:
                if name not in keep:
                    keep[name] = current
                    todo.append(name)
        return keep

    def expand_mappings(self) -> None:
        """A model's mapping lists the layers inside its custom layers too (torch path prefixed)."""
        def expand(entries, depth=0):
            out = []
            for entry in entries:
                out.append(entry)
                if entry.rule_id == "list_sequence" and depth < 20:    # its classes' entries, for porting
                    entry.extra["classes"] = {name: [m.to_dict() for m in expand(self.class_infos[name].layers,
                                                                                  depth + 1)]
                                              for name in entry.extra.get("custom_classes", ())
                                              if name in self.class_infos}
                child = self.class_infos.get(entry.extra.get("class")) if entry.rule_id == "custom" else None
                if child is not None and depth < 20:
                    for c in expand(child.layers, depth + 1):
                        out.append(replace(c, torch_path=f"{entry.torch_path}.{c.torch_path}"))
            return out
        for info in self.result.models:
            info.layers = expand(info.layers)

    # ---- Keras model API after the model is built ---------------------------------------------------------
    def model_api(self, stmt, scope=None):
        """Keras model API on a translated model (`model.fit(...)`, `h = model.fit(...)`, also inside
        if/for/with blocks): `summary()` prints the module, `build()` goes (FWT105), compile/fit/evaluate/
        predict/save_weights/... become PyTorch code (translator/training; a list of statements), what
        that cannot translate is kept as a comment (FWT104). `scope`: the enclosing function or None."""
        if isinstance(stmt, (cst.If, cst.For, cst.While, cst.With, cst.Try)):
            return self.model_api_in_block(stmt, scope)
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
            return stmt
        self.training.observe(stmt, scope)
        small = stmt.body[0]
        if isinstance(small, cst.Assign):
            value = small.value
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in self.model_classes:
                for t in small.targets:
                    if isinstance(t.target, cst.Name):
                        self.model_vars.add(t.target.value)
                return stmt
        func = getattr(small, "value", None)
        if isinstance(small, (cst.Expr, cst.Assign)) and isinstance(func, cst.Call) and func.args \
                and isinstance(func.func, cst.Name) and func.func.value in self.model_vars:
            from .frontends.keras_packed_inputs import called_input_shapes     # model([keras.Input(...)])
            if called_input_shapes(func, lambda n: evaluate(n, self.scope)) is not None:
                self.finding("FWT105", "a call on keras.Input placeholders dropped: torch modules are built "
                             "at construction", line_of(stmt))
                return commented_out(stmt, "FWT105", "calling the model on keras.Input is not needed in torch:")
        func = func.func if isinstance(func, cst.Call) else None
        if not (isinstance(small, (cst.Expr, cst.Assign, cst.Return)) and isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name) and func.value.value in self.model_vars):
            try:              # `print(model.evaluate(x, y))`: predict/evaluate inside an expression
                return self.training.nested(stmt, scope)
            except TranslationError as err:
                self.finding("FWT104", err.message, line_of(stmt))
                return commented_out(stmt, "FWT104", err.message + "; kept as a comment:")
        method = func.attr.value
        if method == "summary" and isinstance(small, cst.Expr):
            return stmt.with_changes(body=[cst.Expr(cst.Call(cst.Name("print"), [cst.Arg(func.value)]))])
        if method == "build":
            self.finding("FWT105", "build() dropped: torch modules are built at construction", line_of(stmt))
            return commented_out(stmt, "FWT105", "build() is not needed in torch (sizes are set at construction):")
        if method in MODEL_API:       # explicit PyTorch code (translator/training), else kept as a comment
            try:
                return self.training.translate(stmt, small, func.value.value, method, scope)
            except TranslationError as err:
                self.finding("FWT104", err.message, line_of(stmt))
                return commented_out(stmt, "FWT104", err.message + "; kept as a comment:")
        return stmt

    def model_api_in_block(self, stmt, scope=None):
        def fix(suite):
            body = []
            for s in suite.body:
                new = self.model_api(s, scope)
                body += new if isinstance(new, list) else [new]
            return suite.with_changes(body=_merge_placeholders(body))
        changes = {"body": fix(stmt.body)}
        orelse = getattr(stmt, "orelse", None)
        if isinstance(orelse, cst.If):
            changes["orelse"] = self.model_api_in_block(orelse, scope)
        elif orelse is not None:
            changes["orelse"] = orelse.with_changes(body=fix(orelse.body))
        if isinstance(stmt, cst.Try):
            changes["handlers"] = [h.with_changes(body=fix(h.body)) for h in stmt.handlers]
            if stmt.finalbody is not None:
                changes["finalbody"] = stmt.finalbody.with_changes(body=fix(stmt.finalbody.body))
        return stmt.with_changes(**changes)


def commented_out(stmt, code: str, message: str):
    """`pass` carrying the finding and the original statement as comments (valid in any block)."""
    text = cst.Module([]).code_for_node(stmt.with_changes(leading_lines=[])).strip()
    lines = list(stmt.leading_lines) + comment_lines(code, message)
    lines += [cst.EmptyLine(comment=cst.Comment("# " + line)) for line in text.splitlines()]
    return cst.SimpleStatementLine([cst.Pass()], leading_lines=lines)


def bind_ctor(cls: cst.ClassDef, ctor: cst.Call, scope: dict) -> dict:
    """The constructor's arguments, bound to the class's __init__ parameters, as constants."""
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    if init is None:
        return {}
    params = [p.name.value for p in init.params.params[1:]]
    out = {}
    positional = [a for a in ctor.args if a.keyword is None and not a.star]
    for name, arg in zip(params, positional):
        out[name] = evaluate(arg.value, scope)
    for arg in ctor.args:
        if arg.keyword is not None:
            out[arg.keyword.value] = evaluate(arg.value, scope)
    return {k: v for k, v in out.items() if v is not UNKNOWN}


def _ctor_defaults(cls: cst.ClassDef, scope: dict) -> dict:
    """The constant defaults of the class's __init__ parameters (so that an instance's output shape
    never names a parameter of the class, e.g. `stride`, at the call site)."""
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    if init is None:
        return {}
    out = {}
    for p in list(init.params.params[1:]) + list(init.params.kwonly_params):
        if p.default is not None:
            value = evaluate(p.default, scope)
            if isinstance(value, (int, float, str, tuple)) and not isinstance(value, Sym):
                out[p.name.value] = value
    return out


def _returns(func: cst.FunctionDef, name: str) -> bool:
    """Does the function end with `return <name>`?"""
    last = func.body.body[-1] if func.body.body else None
    return (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return)
            and isinstance(last.body[0].value, cst.Name) and last.body[0].value.value == name)


def _merge_placeholders(body: list) -> list:
    """A commented-out statement's comments move onto the statement after it (no bare `pass`)."""
    out = []
    for stmt in body:
        if out and _is_placeholder(out[-1]):
            stmt = stmt.with_changes(leading_lines=list(out.pop().leading_lines) + list(stmt.leading_lines))
        out.append(stmt)
    return out


def _is_placeholder(stmt) -> bool:
    """A `pass` that only carries comments for a statement that was commented out."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Pass) and any(
                line.comment and line.comment.value.startswith("# fwtranslate FWT10")
                for line in stmt.leading_lines))


def _names(node) -> set[str]:
    return used_names(node)


def passthrough_args(func: cst.FunctionDef | None) -> list[cst.Arg]:
    if func is None:
        return []
    args = []
    p = func.params
    for param in list(p.posonly_params) + list(p.params):
        args.append(cst.Arg(cst.Name(param.name.value)))
    if isinstance(p.star_arg, cst.Param):
        args.append(cst.Arg(cst.Name(p.star_arg.name.value), star="*"))
    for param in p.kwonly_params:
        args.append(cst.Arg(cst.Name(param.name.value), keyword=cst.Name(param.name.value),
                            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))))
    if p.star_kwarg is not None:
        args.append(cst.Arg(cst.Name(p.star_kwarg.name.value), star="**"))
    return args


def self_params(forward_body: list, func: cst.FunctionDef, input_names=()):
    """Builder parameters used in forward become attributes saved in __init__. A name that forward binds
    itself (an input, or a variable it assigns) is forward's own, even when a builder parameter has it."""
    params = {p.name.value for p in list(func.params.params) + list(func.params.kwonly_params)
              + list(func.params.posonly_params)}
    return save_params(forward_body, params - set(input_names) - bound_names(forward_body))


def bound_names(body: list) -> set[str]:
    """Names assigned (or loop targets) anywhere in a list of statements."""
    out = set()
    for stmt in body:
        for node in find_all(stmt, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor)):
            target = node.target
            out |= {n.value for n in find_all(target, (cst.Name,))} if not isinstance(target, cst.Name) \
                else {target.value}
    return out
