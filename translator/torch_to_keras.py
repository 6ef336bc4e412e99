"""PyTorch -> Keras: find each model definition in a module, translate it, splice the result in.

    nn.Module subclass        -> keras.Model subclass (keras.layers.Layer for a block used inside
                                 another class of the file): layers in __init__, `forward` -> `call`
    nn.Sequential(...)        -> keras.Sequential([...]) wherever a module is built
    def helper(...): return nn.Conv2d(...)   -> the returned module translated in place

Image tensors are channels_last in the Keras code. With the default layout ("native") a model input
that feeds an image layer takes NHWC; ModelInfo.inputs/outputs record the permutation
(`torch_tensor = keras_tensor.permute(*permute)`). With layout="keep" the model takes and returns
NCHW and transposes once at the boundaries.

A model that cannot be translated exactly is left as it was, with a `# fwtranslate FWTnnn:` comment
and a finding; the rest of the file is untouched. The translation imports neither torch nor Keras.
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from .backends.keras_code import KerasRefs, Meta, Notes, call, code, tensor, to_torch_perm
from .backends.keras_forward import (Context, Entry, ForwardTranslator, SequentialBuilder, conform_sequential,
                                     first_leaf, leaf, needed_layout, rank_hint)
from .backends.keras_block_memo import BlockMemo
from .backends.keras_forward_base import transpose
from .backends.keras_layers import Applied, discover_keras_hatches
from .cst_visit import CodeOf, nodes_of, same_code, visit
from .cst_walk import module_code, node_code, transform
from .findings import Finding, TranslationError, flag, internal_errors
from .frontends.scopes import module_scope
from .frontends.torch_models import (ModSpec, SpecBuilder, TorchIndex, is_module_ctor, methods, module_classes,
                                     module_helpers, uses_torch)
from . import snippets
from .imports_fix import _after_header, _used_names
from .ir import ModuleResult, InterfaceTensor, LayerMapping, ModelInfo
from .names import ImportTable, canonical_torch, dotted
from .positions import line_of
from .rules import RuleSet
from .training.torch_loop import TorchTraining
from .training.torch_optimizers import is_loss

# Attributes a Keras layer or model owns: a torch submodule of that name gets a trailing underscore.
KERAS_RESERVED = {"layers", "weights", "variables", "trainable_weights", "non_trainable_weights", "name",
                  "dtype", "trainable", "built", "input", "output", "losses", "metrics", "inputs", "outputs",
                  "submodules", "input_spec", "supports_masking", "dtype_policy", "compute_dtype", "optimizer",
                  "loss", "path", "training"}


def keras_attr(name: str) -> str:
    """The Keras attribute holding torch submodule `name` (the port walks with this too)."""
    return name + "_" if name in KERAS_RESERVED else name


@dataclass
class Options:
    layout: str = "native"                    # native | keep
    input_shapes: list[tuple] | None = None   # torch order, without the batch dimension




class ClassTranslation:
    """One nn.Module class translated for one set of input metas."""

    def __init__(self, driver: "TorchToKeras", cls: cst.ClassDef, root: bool):
        self.driver = driver
        self.cls = cls
        self.name = cls.name.value
        self.root = root
        self.methods = methods(cls)
        self.init = self.methods.get("__init__")
        self.forward = self.methods.get("forward")
        if self.init is None or self.forward is None:
            raise TranslationError("FWT103", f"nn.Module {self.name} without __init__ and forward", line_of(cls))
        self.modules: dict[str, ModSpec] = {}
        self.module_stmts: dict[str, int] = {}
        self.records: dict[str, tuple] = {}       # attr -> (key, ctor or [Step ctors], entries)
        self.extra_layers: dict[str, cst.Call] = {}
        self.entries: list[Entry] = []
        self.param_uses: dict[str, list] = {}     # attr of a module passed as an argument -> its inputs
        self.method_results: dict[str, tuple] = {}  # method called from forward -> (code, translated def)
        self.method_stack: list[str] = []
        self.list_entries: list[Entry] = []       # elements of lists of modules at a known index
        self.collect_modules()

    def keras_attr(self, attr: str) -> str:
        return keras_attr(attr)

    def collect_modules(self) -> None:
        """self.<name> -> ModSpec, following lists, ModuleList/Dict and methods (frontends/torch_lists.py)."""
        from .frontends.torch_lists import InitReader
        self.init_modules = InitReader(self.driver, self.methods, self.init).read()
        self.modules = self.init_modules.modules
        self.module_stmts = self.init_modules.module_stmts

    # -- records made while applying modules --
    def record(self, attr: str, key, ctor, entries) -> None:
        old = self.records.get(attr)
        if old is not None and old[0] != key:
            raise TranslationError("FWT202", f"self.{attr} is applied to inputs that need different Keras layers "
                                             "(e.g. different layouts or ranks)", self.modules[attr].line)
        if old is None:
            self.records[attr] = (key, ctor, entries)

    def record_leaf(self, attr: str, spec: ModSpec, applied: Applied) -> None:
        entries = []
        rule = self.driver.rules.by_id.get(applied.extra.get("rule") or getattr(spec.rule, "id", ""))
        if rule is not None and getattr(rule, "weights", None):
            entries.append(Entry(attr, self.keras_attr(attr), rule.id, applied.keras_class, spec.line,
                                 {k: v for k, v in applied.extra.items() if k != "rule"}))
        self.record(attr, applied.key(), applied, entries)

    def flatten_layer(self) -> str:
        for name, ctor in self.extra_layers.items():
            return name
        taken = set(self.modules) | {keras_attr(a) for a in self.modules} | _self_attrs(self.cls)
        name, i = "flatten", 1
        while name in taken:
            name = f"flatten_{i}"
            i += 1
        self.extra_layers[name] = call(self.driver.refs.layer("Flatten"))
        return name

    # -- the translation --
    def translate(self, in_metas: list[Meta], ctx: Context, layout: str):
        fparams = [p for p in self.forward.params.params[1:]]
        if self.forward.params.star_arg not in (cst.MaybeSentinel.DEFAULT, None) or self.forward.params.star_kwarg:
            raise TranslationError("FWT103", "forward(*args/**kwargs) is not translated", line_of(self.forward))
        names = [p.name.value for p in fparams]
        counts, reads, assigned = name_facts(self.forward)      # read-only: shared by the passes
        metas = list(in_metas)
        saved = self.driver.snapshot()
        squeeze: set[str] = set()
        for _ in range(6):
            self.driver.restore(saved)
            ctx.notes.items = []
            self.records, self.extra_layers, self.param_uses = {}, {}, {}
            self.method_results, self.list_entries = {}, []
            env = {n: m for n, m in zip(names, metas)}
            ft = ForwardTranslator(self, ctx, env, root_keep=self.root and layout == "keep")
            ft.name_counts, ft.reads, ft.assigned = counts, reads, assigned
            ft.squeeze = set(squeeze)
            body = ft.block(self.forward.body.body)
            more = ft.squeezable()
            if not ft.requests and not more:
                if ft.deferred:
                    raise ft.deferred[0]
                break
            squeeze |= more
            for i, m in ft.requests.items():
                metas[i] = _requested(metas[i], m)
        else:
            raise TranslationError("FWT901", "input layouts did not settle", line_of(self.forward))
        if ft.outputs is None:
            raise TranslationError("FWT103", "forward has no return statement at its end", line_of(self.forward))
        if self.root and layout == "keep":
            body = _keep_inputs(ctx.refs, body, names, metas)
        self.apply_unused(ctx)
        new_cls = self.emit(body, ctx)
        return new_cls, metas, ft.outputs, ft.sites

    def apply_unused(self, ctx: Context) -> None:
        """Modules built in __init__ but not called in forward: translated with an assumed input."""
        for attr, spec in self.modules.items():
            if attr in self.records or spec.kind in ("param", "none"):
                continue
            if spec.kind == "weight":               # nn.Parameter -> self.add_weight (backends/keras_params.py)
                from .backends.keras_params import record_weight
                record_weight(self, ctx, attr, spec)
                continue
            meta = assumed_input(spec)
            if attr not in self.module_stmts and spec.kind in ("leaf", "sequential", "helper", "instance"):
                from .backends.keras_forward_lists import apply_site
                if id(spec.node) not in self.driver.site_exprs:     # built in a local or a method
                    apply_site(ctx, spec, meta, None)
                continue
            if spec.kind == "leaf":
                self.record_leaf(attr, spec, leaf(ctx, spec, meta, sequential=False))
            elif spec.kind == "sequential":
                seq, _, entries = SequentialBuilder(ctx).build(spec, meta, f"{attr}.", f"{self.keras_attr(attr)}.")
                self.record(attr, ("sequential", CodeOf(seq)), seq, entries)
            elif spec.kind == "instance":
                ctor, _, entries, _ = self.driver.instance(spec, None, attr, self.keras_attr(attr), ctx)
                self.record(attr, ("instance", spec.torch_path), ctor, entries)
            elif spec.kind == "helper":
                expr, _ = self.driver.helper_call(spec, meta, ctx)
                self.record(attr, ("helper", CodeOf(expr)), expr, [])
            elif spec.kind in ("dynseq", "mlist", "mdict"):
                from .backends.keras_forward_lists import apply_unused_sites
                apply_unused_sites(ctx, spec)
        from .backends.keras_class_methods import unused_arg_sites
        unused_arg_sites(self, ctx)

    def emit(self, call_body, ctx: Context) -> cst.ClassDef:
        refs = ctx.refs
        self.entries = []

        def init_stmt(stmt):
            for attr, sid in self.module_stmts.items():
                if sid != id(stmt):
                    continue
                spec = self.modules[attr]
                if spec.kind in ("param", "none"):
                    return [stmt]
                key, value, entries = self.records[attr]
                self.entries += entries
                target = cst.Attribute(cst.Name("self"), cst.Name(self.keras_attr(attr)))
                if isinstance(value, Applied):
                    out = []
                    for step in value.steps:
                        if step.kind != "layer":
                            continue
                        name = self.keras_attr(attr) + (f"_{step.role}" if step.role else "")
                        out.append(cst.SimpleStatementLine([cst.Assign(
                            [cst.AssignTarget(cst.Attribute(cst.Name("self"), cst.Name(name)))], step.ctor)]))
                    if not out:          # written inline in call (keras.ops): nothing to build
                        return []
                    out[0] = out[0].with_changes(leading_lines=stmt.leading_lines)
                    out[-1] = out[-1].with_changes(trailing_whitespace=stmt.trailing_whitespace)
                    return out
                small = stmt.body[0].with_changes(targets=[cst.AssignTarget(target)], value=value)
                return [stmt.with_changes(body=[small])]
            if id(stmt) in getattr(self, "absorbed_stmts", ()):    # a local module another one copies
                return []                                           # (backends/keras_hatches_transformer.py)
            from .backends.keras_tied import init_statement
            return init_statement(self, stmt)        # drops `self.decoder.weight = self.encoder.weight`

        def walk(stmts, top=False):
            out, comments = [], []      # comments of dropped statements go to the next statement kept
            for stmt in stmts:
                if isinstance(stmt, cst.SimpleStatementLine):
                    new = init_stmt(stmt)
                    if not new:
                        comments += [line for line in stmt.leading_lines if line.comment is not None]
                        continue
                    if comments:
                        new[0] = new[0].with_changes(leading_lines=comments + list(new[0].leading_lines))
                        comments = []
                    out += new
                    continue
                if comments:
                    stmt = stmt.with_changes(leading_lines=comments + list(stmt.leading_lines))
                    comments = []
                if isinstance(stmt, (cst.If, cst.For, cst.While, cst.With, cst.Try)) and \
                        id(stmt) not in self.init_modules.dropped:
                    out.append(_map_blocks(stmt, walk))
                else:
                    out.append(stmt)
            if comments and top:        # the last statements were dropped: their comments stay last
                init_footer.extend(comments)
            elif comments and out:
                out[-1] = out[-1].with_changes(leading_lines=list(out[-1].leading_lines) + comments)
            return out

        init_footer = []
        init_body = walk(self.init.body.body, top=True)
        self.entries += self.list_entries
        for attr, rec in self.records.items():
            if attr not in self.module_stmts and rec[0] == ("dynseq",):
                self.entries += rec[2]
        for name, ctor in self.extra_layers.items():
            init_body.append(cst.SimpleStatementLine([cst.Assign(
                [cst.AssignTarget(cst.Attribute(cst.Name("self"), cst.Name(name)))], ctor)]))
        new_init = self.init.with_changes(body=self.init.body.with_changes(
            body=init_body, footer=init_footer + list(self.init.body.footer)))
        new_call = self.forward.with_changes(name=cst.Name("call"),
                                             body=self.forward.body.with_changes(body=call_body))
        from .backends.keras_class_methods import emit_methods
        body, flagged = emit_methods(self, ctx, new_init, new_call)
        base = refs.keras("Model") if self.root else refs.layer("Layer")
        bases = [cst.Arg(base)]
        new = self.cls.with_changes(bases=bases, body=self.cls.body.with_changes(
            body=body, footer=list(self.cls.body.footer) + getattr(self, "class_footer", [])))
        renames = {a: keras_attr(a) for a in self.modules if keras_attr(a) != a}
        if renames:
            new = transform(new, {cst.Attribute: _RenameSelfAttrs(renames).leave_Attribute})
        left = uses_torch(new.with_changes(body=new.body.with_changes(
            body=[s for s in new.body.body if not (isinstance(s, cst.FunctionDef) and s.name.value in flagged)])),
            self.driver.table)
        if left is not None:
            raise TranslationError("FWT102", f"{code(left)} in class {self.name} has no Keras translation",
                                   line_of(left) or line_of(self.cls))
        return new


def _requested(old: Meta, new: Meta) -> Meta:
    if old.shape is not None and new.rank == old.rank:
        return old.with_(layout=new.layout)
    if old.shape is not None and new.rank is None:
        return old.with_(layout=new.layout)
    return new.with_(origin=old.origin)


def _keep_inputs(refs, body, names, metas):
    """layout="keep": NCHW inputs transposed once at the top of call."""
    stmts = []
    for name, meta in zip(names, metas):
        if meta.is_tensor and meta.layout == "cf" and meta.rank and meta.rank > 2:
            perm = (0,) + tuple(range(2, meta.rank)) + (1,)
            stmts.append(cst.SimpleStatementLine(
                [cst.Assign([cst.AssignTarget(cst.Name(name))], transpose(refs, cst.Name(name), perm))],
                trailing_whitespace=cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  "),
                                                           comment=cst.Comment("# channels-first input"))))
    if not stmts:
        return body
    i = 0
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(body[0].body[0], cst.Expr) \
            and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
        i = 1
    if i < len(body):
        stmts[0] = stmts[0].with_changes(leading_lines=body[i].leading_lines)
        body = body[:i] + [body[i].with_changes(leading_lines=[])] + body[i + 1:]
    return body[:i] + stmts + body[i:]


def assumed_input(spec: ModSpec) -> Meta:
    """The input a module is translated for when no call site says: images for image layers."""
    first = first_leaf(spec)
    if first is not None and first.kind == "leaf":
        hint = rank_hint(first)
        if needed_layout(first) == "cf" and hint:
            return tensor(hint, "cf")
    return tensor(None)


class _RenameSelfAttrs:
    def __init__(self, renames):
        self.renames = renames

    def leave_Attribute(self, original, updated):
        if isinstance(updated.value, cst.Name) and updated.value.value == "self" and updated.attr.value in self.renames:
            return updated.with_changes(attr=cst.Name(self.renames[updated.attr.value]))
        return updated


def _self_attrs(cls) -> set[str]:
    return {n.attr.value for n in nodes_of(cls, cst.Attribute)
            if isinstance(n.value, cst.Name) and n.value.value == "self"}


def _blocks(stmt):
    out = []
    for name in ("body", "orelse", "finalbody"):
        part = getattr(stmt, name, None)
        if part is None:
            continue
        if isinstance(part, cst.If):
            out += _blocks(part)
        elif hasattr(part, "body") and hasattr(part.body, "body"):
            out.append(part.body.body)
        elif hasattr(part, "body") and isinstance(part.body, (list, tuple)):
            out.append(part.body)
    for h in getattr(stmt, "handlers", ()):
        out.append(h.body.body)
    return out


def _map_blocks(stmt, fn):
    changes = {}
    for name in ("body", "orelse", "finalbody"):
        part = getattr(stmt, name, None)
        if part is None:
            continue
        if isinstance(part, cst.If):
            changes[name] = _map_blocks(part, fn)
        elif hasattr(part, "body") and hasattr(part.body, "body"):
            changes[name] = part.with_changes(body=part.body.with_changes(body=fn(part.body.body)))
        elif hasattr(part, "body"):
            changes[name] = part.with_changes(body=fn(part.body))
    if getattr(stmt, "handlers", None):
        changes["handlers"] = [h.with_changes(body=h.body.with_changes(body=fn(h.body.body))) for h in stmt.handlers]
    return stmt.with_changes(**changes)


def name_facts(func):
    """(name -> occurrences, name -> lines where it occurs, name -> lines of simple statements assigning
    it) in a function's body; the counts are the lengths of the line lists (the same walk)."""
    reads, assigned = _name_lines(func)
    return {k: len(v) for k, v in reads.items()}, reads, assigned


def _name_lines(func):
    """(name -> lines where it occurs, name -> lines of simple statements assigning it) in a function."""
    reads: dict[str, list[int]] = {}
    assigned: dict[str, list[int]] = {}

    def name(n):
        reads.setdefault(n.value, []).append(line_of(n))

    def assign(n):
        for t in n.targets:
            if isinstance(t.target, cst.Name):
                assigned.setdefault(t.target.value, []).append(line_of(n))
    visit(func.body, {cst.Name: name, cst.Assign: assign})
    return reads, assigned


def _instantiated(classes: dict, helpers: dict, table) -> set[str]:
    """Classes of the file built inside another class or a helper (nested blocks)."""
    used = set()
    for name, cls in list(classes.items()) + list(helpers.items()):
        body = cls.body if isinstance(cls, cst.ClassDef) else cls
        for n in nodes_of(body, cst.Name, skip=(cst.ClassDef,)):   # built here, or passed as a class
            if n.value in classes and n.value != name:              # (`block=BasicBlock`)
                used.add(n.value)
    return used


class TorchToKeras:
    def __init__(self, module: cst.Module, rules: RuleSet, options: Options, filename: str):
        self.module = module
        self.rules = rules
        self.options = options
        self.filename = filename
        self.table = ImportTable.from_module(module)
        self.scope = module_scope(module)
        discover_keras_hatches()
        self.index = TorchIndex.of(rules)
        self.classes = module_classes(module, self.table)
        self.helpers = module_helpers(module, self.table)
        self.specs = SpecBuilder(rules, self.index, self.table, self.classes, self.helpers)
        self.specs.driver = self
        self.names_cache: dict[int, tuple] = {}
        taken = module_names(module, self.names_cache) | {
            s.name.value for s in module.body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
        self.refs = KerasRefs(taken)
        self.result = ModuleResult(module)
        self.nested = _instantiated(self.classes, self.helpers, self.table)
        self.class_results: dict[str, tuple] = {}     # name -> (metas key, new class, outs, entries, sites)
        self.failed: dict[str, TranslationError] = {}
        self.helper_results: dict[str, tuple] = {}    # name -> (CodeOf(expression), expression)
        self.site_exprs: dict[int, tuple] = {}        # id(module built at run time) -> (CodeOf(expr), Keras expr)
        self._active: list[str] = []
        self._block_memo = BlockMemo(self)            # blocks translated once per input (backends/keras_block_memo.py)

    def snapshot(self):
        r = self.result
        return (len(r.findings), r.sites, r.failed_sites, dict(self.class_results), dict(self.failed),
                dict(self.helper_results), dict(self.site_exprs))

    def restore(self, saved) -> None:
        n, sites, failed_sites, classes, failed, helpers, site_exprs = saved
        del self.result.findings[n:]
        self.result.sites, self.result.failed_sites = sites, failed_sites
        self.class_results, self.failed, self.helper_results = dict(classes), dict(failed), dict(helpers)
        self.site_exprs = dict(site_exprs)

    def finding(self, code_: str, message: str, line: int) -> None:
        self.result.findings.append(Finding(code_, message, line, 0, self.filename))

    def fail(self, err: TranslationError, line: int = 0) -> None:
        self.result.failed_sites += 1
        self.finding(err.code, err.message + "; the model was left as it was", err.line or line)

    # ---- driver ----------------------------------------------------------------------------------------
    def run(self) -> ModuleResult:
        roots = [n for n in self.classes if n not in self.nested]
        for name in roots:
            self.translate_root(name)
        for name in self.classes:          # nested blocks not reached from a root
            if name not in self.class_results and name not in self.failed:
                self.translate_nested_alone(name)
        body = []
        for stmt in self.module.body:
            if isinstance(stmt, cst.ClassDef) and stmt.name.value in self.classes:
                name = stmt.name.value
                if name in self.failed:
                    err = self.failed[name]
                    body.append(flag(stmt, err.code, err.message))
                else:
                    body.append(self.class_results[name][1])
            elif isinstance(stmt, cst.FunctionDef) and stmt.name.value in self.helpers:
                body.append(self.helper_def(stmt))
            elif isinstance(stmt, cst.SimpleStatementLine):
                body.append(self.module_site(stmt))
            else:
                body.append(stmt)
        body = TorchTraining(self).run(body)       # training loops, save/load -> Keras (translator/training)
        from .backends.keras_support import insert_support
        body = insert_support(body, self.refs)     # helper classes the translation uses (LSTMProjCell)
        self.result.module = self.module.with_changes(body=body)
        return self.result

    def context(self) -> Context:
        return Context(self, self.refs, Notes())

    def flush(self, ctx: Context) -> None:
        for note in ctx.notes.items:
            self.finding(note.code, note.message, note.line)

    def translate_root(self, name: str) -> None:
        cls = self.classes[name]
        ctx = self.context()
        try:
            with internal_errors(line_of(cls)):
                tr = ClassTranslation(self, cls, root=True)
                metas = self.root_inputs(tr)
                new_cls, metas, outs, sites = tr.translate(metas, ctx, self.options.layout)
        except TranslationError as err:
            self.failed[name] = err
            self.fail(err, line_of(cls))
            return
        self.class_results[name] = (None, new_cls, outs, tr.entries, sites)
        self.flush(ctx)
        self.result.sites += sites
        names = [p.name.value for p in tr.forward.params.params[1:]]
        self.result.models.append(ModelInfo(
            name, name, "subclassed", line_of(cls), _mappings(tr.entries),
            _interface(names, metas, self.options.layout),
            _interface([f"output_{i}" for i in range(len(outs))], outs, self.options.layout)))

    def translate_nested_alone(self, name: str) -> None:
        cls = self.classes[name]
        ctx = self.context()
        try:
            with internal_errors(line_of(cls)):
                tr = ClassTranslation(self, cls, root=False)
                metas = [tensor(None) for _ in tr.forward.params.params[1:]]
                new_cls, _, outs, sites = tr.translate(metas, ctx, "native")
        except TranslationError as err:
            self.failed[name] = err
            self.fail(err, line_of(cls))
            return
        self.class_results[name] = (None, new_cls, outs, tr.entries, sites)
        self.flush(ctx)
        self.result.sites += sites

    def root_inputs(self, tr: ClassTranslation) -> list[Meta]:
        params = tr.forward.params.params[1:]
        shapes = self.options.input_shapes or []
        metas = []
        for i, p in enumerate(params):
            shape = tuple(shapes[i]) if i < len(shapes) else None
            metas.append(tensor(shape=(None,) + shape, origin=i) if shape is not None else tensor(None, origin=i))
        return metas

    # ---- nested classes used as modules ------------------------------------------------------------------
    def instance(self, spec: ModSpec, metas, torch_path: str, keras_path: str, ctx: Context, existing=None):
        """(constructor in Keras, output metas, entries) of a class of the file used as a submodule."""
        name = spec.torch_path
        if name in self.failed:
            raise TranslationError(self.failed[name].code, f"{name}: {self.failed[name].message}", spec.line)
        if name in self._active:
            raise TranslationError("FWT103", f"{name} contains itself", spec.line)
        cls = self.classes[name]
        n_inputs = len(methods(cls).get("forward").params.params) - 1 if methods(cls).get("forward") else 1
        if metas is None:
            metas = [tensor(None) for _ in range(n_inputs)]
        metas = [m.with_(origin=i) for i, m in enumerate(metas)]   # the block may ask for another layout
        key = tuple(metas)
        self._active.append(name)
        sub = Context(self, self.refs, Notes())
        try:
            tr, (new_cls, wanted, outs, sites) = self._block_memo.translate(name, cls, metas, sub)
        except TranslationError as err:
            if name not in self.failed:
                self.failed[name] = err
                self.fail(err, line_of(cls))
            raise TranslationError(err.code, f"{name}: {err.message}", spec.line) from None
        finally:
            self._active.pop()
        previous = self.class_results.get(name)
        if previous is None:
            self.class_results[name] = (key, new_cls, outs, tr.entries, sites)
            self.result.sites += sites
            for note in sub.notes.items:
                self.finding(note.code, note.message, note.line)
        elif not same_code(previous[1], new_cls):
            raise TranslationError("FWT202", f"{name} is used with inputs that need different Keras code "
                                             "(different layouts or ranks)", spec.line)
        entries = [Entry(f"{torch_path}.{e.torch_path}", f"{keras_path}.{e.keras_path}", e.rule_id, e.keras_class,
                         e.line, e.extra) for e in tr.entries]
        ctor = self.translate_ctor_args(spec.node, ctx, tr)
        from .backends.keras_class_methods import translate_arg_sites
        translate_arg_sites(self, spec.node, ctx, tr)
        return ctor, outs, entries, [m.with_(origin=None) for m in wanted]

    def translate_ctor_args(self, node: cst.Call, ctx: Context, tr: ClassTranslation) -> cst.Call:
        """Module-valued arguments of a class constructor (downsample=nn.Sequential(...)) in place, each
        translated for the input the class's forward gives it; the forward assumed that such a module
        keeps the layout and rank of its input, which is checked here."""
        params = [p.name.value for p in list(tr.init.params.params)[1:]]
        bound = {}
        for i, a in enumerate(node.args):
            if a.keyword is None and not a.star and i < len(params):
                bound[id(a)] = params[i]
            elif a.keyword is not None:
                bound[id(a)] = a.keyword.value
        uses = {}      # init parameter -> input metas it is applied to in forward
        for attr, spec in tr.modules.items():
            if spec.kind == "param":
                uses.setdefault(spec.node.value, []).extend(tr.param_uses.get(attr, []))
        args = []
        for a in node.args:
            if is_module_ctor(a.value, self.table, self.classes, self.helpers):
                metas = uses.get(bound.get(id(a)), [])
                args.append(a.with_changes(value=self.module_expr(a.value, ctx, in_meta=metas[0] if metas else None,
                                                                  check=metas)))
            else:
                left = uses_torch(a.value, self.table)
                if left is not None:
                    raise TranslationError("FWT102", f"{code(left)} in a constructor argument", line_of(node))
                args.append(a)
        return node.with_changes(args=args)

    def module_expr(self, node, ctx: Context, scope=None, params=frozenset(), in_meta=None, check=(), spec=None):
        """A module constructor expression outside a forward, translated in place (for `in_meta`, or for
        the input its first layer expects). `check`: the inputs it gets, each of whose outputs must keep
        the layout and rank (what a forward that receives the module as an argument assumed)."""
        spec = spec or self.specs.spec(node, scope or self.scope, params)
        meta = in_meta.with_(origin=None) if in_meta is not None else assumed_input(spec)
        steps, meta = conform_sequential(ctx, spec, meta, spec.line) if spec.kind == "leaf" else ([], meta)
        exprs, out, _ = SequentialBuilder(ctx).item(spec, meta, "", lambda j=None: "")
        for m in check:
            if steps or not out.is_tensor or (out.layout, out.rank, out.flat) != (m.layout, m.rank, m.flat):
                raise TranslationError("FWT202", f"a module passed as an argument changes the layout or rank of "
                                                 f"its input ({code(node)[:50]}): not translated yet", line_of(node))
        exprs = [s.ctor for s in steps] + exprs
        if len(exprs) == 1:
            return exprs[0]
        return call(self.refs.keras("Sequential"), [cst.List([cst.Element(e) for e in exprs])])

    # ---- helpers returning modules ----------------------------------------------------------------------
    def helper_call(self, spec: ModSpec, meta: Meta, ctx: Context):
        """(the helper call as written, output meta); the helper's body is translated once."""
        exprs, out, _ = SequentialBuilder(ctx).item(spec.inner, meta, "", lambda j=None: "")
        expr = exprs[0] if len(exprs) == 1 else call(self.refs.keras("Sequential"),
                                                     [cst.List([cst.Element(e) for e in exprs])])
        previous = self.helper_results.get(spec.helper)
        if previous is None:
            self.helper_results[spec.helper] = (CodeOf(expr), expr)
        elif previous[0] != CodeOf(expr):
            raise TranslationError("FWT202", f"{spec.helper}() is used where it would need different Keras code",
                                   spec.line)
        left = uses_torch(spec.node, self.table)
        if left is not None:
            raise TranslationError("FWT102", f"{code(left)} in a helper call", spec.line)
        return spec.node, out

    def helper_def(self, func: cst.FunctionDef):
        name = func.name.value
        if name not in self.helper_results:
            ctx = self.context()
            try:
                with internal_errors(line_of(func)):
                    spec = self.specs.helper_spec(cst.Call(cst.Name(name)), name, line_of(func))
                    self.helper_call(spec, assumed_input(spec.inner), ctx)
            except TranslationError as err:
                self.fail(err, line_of(func))
                return flag(func, err.code, err.message)
            self.flush(ctx)
        expr = self.helper_results[name][1]
        last = func.body.body[-1]
        new_last = last.with_changes(body=[last.body[0].with_changes(value=expr)])
        new = func.with_changes(body=func.body.with_changes(body=list(func.body.body[:-1]) + [new_last]))
        if len(func.body.body) > 1:       # layers = []; ...: modules built at run time
            from .backends.keras_class_methods import rewrite_helper
            new = rewrite_helper(self, self.context(), new)
        left = uses_torch(new, self.table)
        if left is not None:
            err = TranslationError("FWT102", f"{code(left)} in helper {name} has no Keras translation", line_of(func))
            self.fail(err, line_of(func))
            return flag(func, err.code, err.message)
        self.result.sites += 1
        return new

    # ---- module-level models: `model = nn.Sequential(...)` -----------------------------------------------
    def module_site(self, stmt: cst.SimpleStatementLine):
        if len(stmt.body) != 1 or not isinstance(stmt.body[0], cst.Assign):
            return stmt
        small = stmt.body[0]
        value = small.value
        if not isinstance(value, cst.Call) or isinstance(value.func, cst.Name) and value.func.value in self.classes:
            return stmt
        if not is_module_ctor(value, self.table, self.classes, self.helpers) or \
                isinstance(value.func, cst.Name) and value.func.value in self.helpers:
            return stmt
        if is_loss(canonical_torch(self.table.resolve(value.func))):   # criterion = nn.MSELoss(): training code
            return stmt
        target = small.targets[0].target
        name = dotted(target) or "model"
        ctx = self.context()
        try:
            with internal_errors(line_of(stmt)):
                spec = self.specs.spec(value, self.scope)
                meta = assumed_input(spec)
                keep = self.options.layout == "keep"
                if spec.kind == "sequential":
                    boundary = None
                    in_meta = meta.with_(origin=0)
                    if keep and meta.layout == "cf" and meta.rank and meta.rank > 2:
                        boundary = ((tuple(range(2, meta.rank)) + (1,)), (meta.rank - 1,) + tuple(range(1, meta.rank - 1)))
                    seq, out, entries = SequentialBuilder(ctx).build(spec, meta, "", "", boundary=boundary, output=True)
                    if keep and out.is_tensor and out.layout == "cf" and boundary is None and out.rank and out.rank > 2:
                        raise TranslationError("FWT401", "an image output of a Sequential without image input", spec.line)
                    outs = [out]
                    expr = seq
                else:
                    expr = self.module_expr(value, ctx)
                    in_meta, outs, entries = meta, [], []
                left = uses_torch(expr, self.table)
                if left is not None:
                    raise TranslationError("FWT102", f"{code(left)} has no Keras translation", line_of(stmt))
        except TranslationError as err:
            self.fail(err, line_of(stmt))
            return flag(stmt, err.code, err.message)
        self.flush(ctx)
        self.result.sites += 1
        if spec.kind == "sequential":
            self.result.models.append(ModelInfo(
                name, name, "sequential", line_of(stmt), _mappings(entries),
                _interface(["input_0"], [in_meta], self.options.layout),
                _interface(["output_0"], outs, self.options.layout)))
        return stmt.with_changes(body=[small.with_changes(value=expr)])


def _mappings(entries: list[Entry]) -> list[LayerMapping]:
    return [LayerMapping(e.keras_class, e.keras_path, e.torch_path, e.rule_id, e.line, dict(e.extra)) for e in entries]


def _interface(names, metas, layout) -> list[InterfaceTensor]:
    out = []
    for name, meta in zip(names, metas):
        if meta is None or not meta.is_tensor:
            out.append(InterfaceTensor(name, None, None))
            continue
        cf = meta.layout == "cf" and meta.rank and meta.rank > 2 and layout == "native"
        shape = meta.shape
        if shape is not None and cf:
            shape = (shape[0],) + tuple(shape[2:]) + (shape[1],)
        out.append(InterfaceTensor(name, shape, to_torch_perm(meta.rank) if cf else None))
    return out


# ---- imports ----------------------------------------------------------------------------------------

def _is_torch_import(path: str) -> bool:
    return path == "torch" or path.startswith("torch.")


def module_names(module: cst.Module, cache: dict) -> set[str]:
    """_used_names(module), the union of its statements' (a module's other fields hold no code): a
    statement kept as it was (the same object) reuses its set from `cache` (id -> (statement, names))."""
    out: set[str] = set()
    for stmt in module.body:
        got = cache.get(id(stmt))
        if got is None or got[0] is not stmt:
            got = cache[id(stmt)] = (stmt, _used_names(stmt))
        out |= got[1]
    return out


def fix_torch_imports(module: cst.Module, needed: list[str], names_cache: dict | None = None) -> cst.Module:
    """Drop torch imports no longer used; add the Keras imports at the place of the first torch import."""
    used = module_names(module, {} if names_cache is None else names_cache)
    body, insert_at, orphan = [], None, []
    for stmt in module.body:
        if orphan:
            stmt = stmt.with_changes(leading_lines=orphan + list(stmt.leading_lines))
            orphan = []
        if isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            kept, touched = [], False
            for small in stmt.body:
                pruned = _prune_torch(small, used)
                touched = touched or pruned is not small or _torch_stmt(small)
                if pruned is not None:
                    kept.append(pruned)
            if touched and insert_at is None:
                insert_at = len(body)
            if kept:
                body.append(stmt.with_changes(body=kept))
            else:
                orphan = [line for line in stmt.leading_lines if line.comment]
            continue
        body.append(stmt)
    present = {node_code(s).strip() for s in body if isinstance(s, cst.SimpleStatementLine)}
    new = [snippets.statement(text + "\n") for text in needed if text not in present]
    if insert_at is None:
        insert_at = _after_header(body)
    return module.with_changes(body=body[:insert_at] + new + body[insert_at:])


def _torch_stmt(small) -> bool:
    if isinstance(small, cst.Import):
        return any(_is_torch_import(dotted(a.name) or "") for a in small.names)
    if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
        return _is_torch_import(dotted(small.module) or "")
    return False


def _prune_torch(small, used):
    if isinstance(small, cst.Import):
        keep = []
        for alias in small.names:
            full = dotted(alias.name)
            local = alias.asname.name.value if alias.asname else full.split(".")[0]
            if _is_torch_import(full) and local not in used:
                continue
            keep.append(alias)
    elif isinstance(small, cst.ImportFrom) and _torch_stmt(small) and not isinstance(small.names, cst.ImportStar):
        keep = [a for a in small.names if (a.asname.name.value if a.asname else dotted(a.name)) in used]
    else:
        return small
    if not keep:
        return None
    if len(keep) == len(small.names):
        return small
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return small.with_changes(names=keep)


def translate_module(module: cst.Module, rules: RuleSet, layout: str, shapes, filename: str, result_cls):
    """The torch -> Keras entry point of translator.api.translate_source (to="keras")."""
    translator = TorchToKeras(module, rules, Options(layout, shapes), filename)
    out = translator.run()
    new_module = out.module
    if out.sites or out.models:          # a model without layers (`return -x`) still needs `import keras`
        new_module = fix_torch_imports(new_module, translator.refs.statements(), translator.names_cache)
    findings = sorted(out.findings, key=lambda f: (f.line, f.code))
    if not out.sites and not out.failed_sites and not out.models:
        findings.append(Finding("FWT904", "no PyTorch model definition found", 1, 0, filename))
    return result_cls(module_code(new_module), findings, out.models, filename, out.sites, out.failed_sites)
