"""Modules built at run time in `__init__` (torch -> Keras): what each `self.<name>` holds.

`__init__` is read statement by statement, following module values through local names:

    layers = []                                  a list of modules being built (a Program)
    layers.append(nn.Conv2d(...)) / .extend([...]) / layers += [...]   items, in order
    for ...: / if ...: around them              the items repeat / are optional
    self.features = nn.Sequential(*layers)       kind "dynseq": applied in order
    self.blocks = nn.ModuleList([...] | [m for ...] | layers); self.blocks.append(...)   kind "mlist"
    self.heads = nn.ModuleDict({"a": ..., "b": ...})                                      kind "mdict"
    downsample = nn.Sequential(...)              a module-valued local (passed to a block later)
    self.layer1 = self._make_layer(Block, 64, 2) a method of the class returning a module: its body
                                                 is read the same way, `block` bound to the class

Every module constructor met this way is a *site*: a ModSpec whose node is the constructor call in
the source. The Keras code keeps the statements (loops, appends, calls) and only replaces each site
by its Keras expression, the containers by Keras' own (a list, a dict, keras.Sequential(list)),
once the forward pass has said which input each site gets. Weight initialisation (`nn.init.*`,
`self.apply(self._init_weights)`, loops over `self.modules()`) is set aside: ported weights replace it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..cst_visit import nodes_of, visit
from ..cst_walk import node_code
from ..findings import TranslationError
from ..ir import Sym
from ..positions import line_of
from .scopes import function_scope
from .torch_models import SEQUENTIAL, ModSpec, is_module_ctor, resolve

MODULE_LIST = "torch.nn.ModuleList"
MODULE_DICT = "torch.nn.ModuleDict"
INPLACE_INIT = {"fill_", "zero_", "normal_", "uniform_", "constant_", "copy_", "xavier_uniform_"}
WEIGHT_ITERATORS = {"modules", "named_modules", "parameters", "named_parameters", "children", "named_children"}


@dataclass
class Program:
    """The items of a list of modules in build order: ("item", ModSpec) | ("if", Program, Program) |
    ("loop", Program)."""
    ops: list = field(default_factory=list)

    def specs(self) -> list[ModSpec]:
        out = []
        for op in self.ops:
            if op[0] == "item":
                out.append(op[1])
            else:
                for sub in op[1:]:
                    out += sub.specs()
        return out

    def static(self) -> list[ModSpec] | None:
        """The items when they are known one by one (no loop, no condition)."""
        return [op[1] for op in self.ops] if all(op[0] == "item" for op in self.ops) else None


class ListBuilder:
    """A Python list of modules being built; `cursor` is where appends go (inside loops / branches)."""

    sink = None                # InitModules.locals of the reader (set by the reader)

    def __init__(self, node):
        self.node = node
        self.program = Program()
        self.cursor = [self.program]
        self.sink = ListBuilder.sink

    def add(self, spec: ModSpec) -> None:
        self.cursor[-1].ops.append(("item", spec))
        if self.sink is not None:
            self.sink.append(spec)


@dataclass(frozen=True)
class ClassRef:
    """A name bound to a module class of the file (`block` in `_make_layer(self, block, ...)`)."""
    name: str


@dataclass
class Choice:
    """A local that holds one of several modules, depending on a branch (`downsample = None` / `...`)."""
    specs: tuple


class DictBuilder:
    def __init__(self, node):
        self.node = node
        self.items: list = []


@dataclass
class Dropped:
    """A weight-initialisation statement or method, set aside with a note."""
    node: cst.CSTNode
    what: str
    line: int


@dataclass
class InitModules:
    modules: dict = field(default_factory=dict)        # attr -> ModSpec
    module_stmts: dict = field(default_factory=dict)   # attr -> id(statement) for `self.x = <ctor>`
    containers: dict = field(default_factory=dict)     # id(call node) -> "sequential" | "list" | "dict"
    dropped: dict = field(default_factory=dict)        # id(statement or method) -> Dropped
    arg_sites: dict = field(default_factory=dict)      # id(Name arg of a class constructor) -> [ModSpec]
    locals: list = field(default_factory=list)         # every module built in a list or a local: [ModSpec]


def _is_dynamic(node, table) -> bool:
    """A module expression this module reads (a container built at run time)."""
    if not isinstance(node, cst.Call):
        return False
    path = resolve(node.func, table)
    if path in (MODULE_LIST, MODULE_DICT):
        return True
    return path == SEQUENTIAL and any(a.star == "*" for a in node.args)


def _assigned_names(func: cst.FunctionDef) -> dict[str, int]:
    counts: dict[str, int] = {}

    def names(t, k=1):
        if isinstance(t, cst.Name):
            counts[t.value] = counts.get(t.value, 0) + k
        elif isinstance(t, (cst.Tuple, cst.List)):
            for el in t.elements:
                names(el.value, k)
    visit(func, {cst.AssignTarget: lambda n: names(n.target), cst.AugAssign: lambda n: names(n.target),
                 cst.For: lambda n: names(n.target, 2), cst.CompFor: lambda n: names(n.target, 2),
                 cst.FunctionDef: lambda n: n is func})
    return counts


class InitReader:
    """Reads `__init__` (and the methods it calls) of one nn.Module class."""

    def __init__(self, driver, cls_methods: dict, init: cst.FunctionDef):
        self.driver = driver
        self.table = driver.table
        self.builder = driver.specs
        self.methods = cls_methods
        self.init = init
        self.out = InitModules()
        self._stack: list[str] = []

    # -- scopes --
    def scope_of(self, func: cst.FunctionDef, skip_self: bool = True) -> tuple[dict, set]:
        scope = function_scope(func, self.driver.scope)
        params = {p.name.value for p in list(func.params.params)[1 if skip_self else 0:]
                  + list(func.params.kwonly_params)}
        for name, n in _assigned_names(func).items():
            if n > 1 and name not in params:
                scope[name] = Sym(name)
        return scope, params

    def read(self) -> InitModules:
        ListBuilder.sink = self.out.locals
        try:
            return self._read()
        finally:
            ListBuilder.sink = None

    def _read(self) -> InitModules:
        scope, params = self.scope_of(self.init)
        env = {}
        for p in list(self.init.params.params)[1:] + list(self.init.params.kwonly_params):
            if isinstance(p.default, cst.Name) and p.default.value in self.driver.classes:
                env[p.name.value] = ClassRef(p.default.value)      # block=BasicBlock
        self.block(self.init.body.body, env, scope, params, top=True)
        return self.out

    # -- statements --
    def block(self, stmts, env, scope, params, top=False):
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                if self.weight_init(stmt, stmt):
                    continue
                for small in stmt.body:
                    self.small(small, stmt, env, scope, params, top)
            elif isinstance(stmt, cst.For):
                if self.weight_init(stmt, stmt):
                    continue
                self.loop(stmt, env, scope, params)
            elif isinstance(stmt, cst.If):
                self.branch(stmt, env, scope, params)
            elif isinstance(stmt, (cst.While, cst.With, cst.Try)):
                from ..torch_to_keras import _blocks
                for part in _blocks(stmt):
                    self.nested(part, env, scope, params, "loop" if isinstance(stmt, cst.While) else "if")
            elif isinstance(stmt, cst.FunctionDef | cst.ClassDef):
                continue
        return env

    def nested(self, stmts, env, scope, params, kind):
        """Statements run 0..n times (a loop body) or maybe (a branch): appends go to a sub-program."""
        builders = [b for b in _builders(env)]
        subs = []
        for b in builders:
            sub = Program()
            b.cursor.append(sub)
            subs.append(sub)
        inner = dict(env)
        self.block(stmts, inner, scope, params)
        for b, sub in zip(builders, subs):
            b.cursor.pop()
            if sub.ops:
                b.cursor[-1].ops.append(("loop", sub) if kind == "loop" else ("if", sub, Program()))
        _merge_env(env, inner)

    def loop(self, stmt: cst.For, env, scope, params):
        self.nested(stmt.body.body, env, scope, params, "loop")
        if stmt.orelse is not None:
            self.nested(stmt.orelse.body.body, env, scope, params, "if")

    def branch(self, stmt: cst.If, env, scope, params):
        builders = _builders(env)
        a_subs, b_subs = [Program() for _ in builders], [Program() for _ in builders]
        for b, sub in zip(builders, a_subs):
            b.cursor.append(sub)
        env_a = dict(env)
        self.block(stmt.body.body, env_a, scope, params)
        for b in builders:
            b.cursor.pop()
        for b, sub in zip(builders, b_subs):
            b.cursor.append(sub)
        env_b = dict(env)
        if isinstance(stmt.orelse, cst.If):
            self.branch(stmt.orelse, env_b, scope, params)
        elif stmt.orelse is not None:
            self.block(stmt.orelse.body.body, env_b, scope, params)
        for b in builders:
            b.cursor.pop()
        for b, a, c in zip(builders, a_subs, b_subs):
            if a.ops or c.ops:
                b.cursor[-1].ops.append(("if", a, c))
        merged = dict(env_a)
        _merge_env(merged, env_b)
        env.clear()
        env.update(merged)

    def small(self, small, stmt, env, scope, params, top):
        line = line_of(stmt)
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
            attr = _self_attr(target)
            if attr is not None:
                self.assign_attr(attr, value, stmt, env, scope, params)
                return
            if isinstance(target, cst.Name):
                v = self.value(value, env, scope, params)
                if v is None:
                    env.pop(target.value, None)
                else:
                    env[target.value] = v
                    if isinstance(v, ModSpec):
                        self.out.locals.append(v)
                return
            if isinstance(target, cst.Subscript):
                holder = self.value(target.value, env, scope, params)
                if isinstance(holder, (DictBuilder, ListBuilder)):
                    raise TranslationError("FWT103", "modules stored by index into a list/dict in __init__ are not "
                                                     "translated", line)
            return
        if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
            holder = self.value(small.target, env, scope, params)
            if isinstance(holder, ListBuilder):
                self.extend(holder, small.value, env, scope, params, line)
            return
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            func = call.func
            if isinstance(func, cst.Attribute):
                holder = self.value(func.value, env, scope, params)
                name = func.attr.value
                if isinstance(holder, ListBuilder):
                    if name == "append" and len(call.args) == 1:
                        holder.add(self.module(call.args[0].value, env, scope, params))
                        return
                    if name in ("extend",) and len(call.args) == 1:
                        self.extend(holder, call.args[0].value, env, scope, params, line)
                        return
                    raise TranslationError("FWT103", f"list of modules: .{name}() is not translated", line)
                if isinstance(holder, DictBuilder):
                    raise TranslationError("FWT103", f"ModuleDict: .{name}() is not translated", line)
                if isinstance(func.value, cst.Name) and func.value.value == "self" and name == "add_module":
                    raise TranslationError("FWT103", "self.add_module(...) is not translated", line)
                if isinstance(func.value, cst.Name) and func.value.value == "self" and name in self.methods \
                        and self.returns_modules(self.methods[name]) is None:
                    self.call_method(name, call, env, scope, params)   # a method that assigns self.<x>

    def assign_attr(self, attr, value, stmt, env, scope, params):
        out = self.out
        plain = is_module_ctor(value, self.table, self.driver.classes, self.driver.helpers) and \
            not _is_dynamic(value, self.table) and not self.class_ref(value, env)
        if plain or isinstance(value, cst.Name) and value.value in params and value.value not in env:
            if attr in out.modules:
                raise TranslationError("FWT103", f"self.{attr} is assigned a module twice", line_of(stmt))
            out.modules[attr] = self.builder.spec(value, scope, params)
            out.module_stmts[attr] = id(stmt)
            if out.modules[attr].kind == "instance":
                self.note_args(out.modules[attr], env)
            env["self." + attr] = out.modules[attr]
            return
        v = self.value(value, env, scope, params)
        if v is None:
            env.pop("self." + attr, None)
            return
        if attr in out.modules:
            raise TranslationError("FWT103", f"self.{attr} is assigned a module twice", line_of(stmt))
        env["self." + attr] = v
        if isinstance(v, ModSpec):
            out.modules[attr] = v
        elif isinstance(v, ListBuilder) and _is_container(value, self.table, MODULE_LIST):
            out.modules[attr] = ModSpec("mlist", value, line_of(stmt), program=v.program)
        elif isinstance(v, DictBuilder):
            out.modules[attr] = ModSpec("mdict", value, line_of(stmt), items=v.items)
        elif isinstance(v, Choice):
            raise TranslationError("FWT103", f"self.{attr} holds a module only on some paths of __init__: "
                                             "not translated yet", line_of(stmt))

    # -- values --
    def class_ref(self, node, env):
        return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and \
            isinstance(env.get(node.func.value), ClassRef)

    def module(self, node, env, scope, params) -> ModSpec:
        v = self.value(node, env, scope, params)
        if not isinstance(v, ModSpec):
            raise TranslationError("FWT103", f"not a module: {_code(node)[:60]}", line_of(node))
        return v

    def value(self, node, env, scope, params):
        """ModSpec | ListBuilder | DictBuilder | ClassRef | Choice | None (not a module value)."""
        if isinstance(node, cst.Name):
            if node.value in env:
                return env[node.value]
            if node.value in self.driver.classes:
                return ClassRef(node.value)
            if node.value in params:
                return None
            return None
        attr = _self_attr(node)
        if attr is not None:
            return env.get("self." + attr)
        if isinstance(node, (cst.List, cst.Tuple)):
            lb = ListBuilder(node)
            for el in node.elements:
                if isinstance(el, cst.StarredElement):
                    inner = self.value(el.value, env, scope, params)
                    if not isinstance(inner, ListBuilder):
                        return None
                    lb.program.ops += inner.program.ops
                    continue
                v = self.value(el.value, env, scope, params)
                if not isinstance(v, ModSpec):
                    return None
                lb.add(v)
            return lb
        if isinstance(node, cst.ListComp):
            v = self.comprehension(node, env, scope, params)
            return v
        if isinstance(node, cst.Dict):
            db = DictBuilder(node)
            for el in node.elements:
                if not isinstance(el, cst.DictElement) or not isinstance(el.key, cst.SimpleString):
                    return None
                v = self.value(el.value, env, scope, params)
                if not isinstance(v, ModSpec):
                    return None
                db.items.append((el.key.evaluated_value, v))
            return db
        if not isinstance(node, cst.Call):
            return None
        func = node.func
        if isinstance(func, cst.Name) and isinstance(env.get(func.value), ClassRef):
            spec = ModSpec("instance", node, line_of(node), torch_path=env[func.value].name)
            self.note_args(spec, env)
            return spec
        if isinstance(func, cst.Name) and func.value in self.driver.classes:
            spec = self.builder.spec(node, scope, params)
            self.note_args(spec, env)
            return spec
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self" \
                and func.attr.value in self.methods:
            return self.call_method(func.attr.value, node, env, scope, params)
        path = resolve(func, self.table)
        if path == SEQUENTIAL and any(a.star for a in node.args):
            if len(node.args) != 1 or node.args[0].star != "*":
                raise TranslationError("FWT103", "nn.Sequential: only one *list argument is translated",
                                       line_of(node))
            inner = self.value(node.args[0].value, env, scope, params)
            if not isinstance(inner, ListBuilder):
                raise TranslationError("FWT103", f"nn.Sequential(*{_code(node.args[0].value)}): not a list of "
                                                 "modules built in __init__", line_of(node))
            self.out.containers[id(node)] = "sequential"
            return ModSpec("dynseq", node, line_of(node), program=_snapshot(inner.program))
        if path == MODULE_LIST:
            self.out.containers[id(node)] = "list"
            if not node.args:
                return ListBuilder(node)
            inner = self.value(node.args[0].value, env, scope, params) if len(node.args) == 1 else None
            if not isinstance(inner, ListBuilder):
                raise TranslationError("FWT103", "nn.ModuleList of something other than a list of modules",
                                       line_of(node))
            lb = ListBuilder(node)            # nn.ModuleList(layers) copies the list
            lb.program = _snapshot(inner.program)
            lb.cursor = [lb.program]
            return lb
        if path == MODULE_DICT:
            self.out.containers[id(node)] = "dict"
            if not node.args:
                return DictBuilder(node)
            inner = self.value(node.args[0].value, env, scope, params) if len(node.args) == 1 else None
            if not isinstance(inner, DictBuilder):
                raise TranslationError("FWT103", "nn.ModuleDict of something other than a literal dict of modules",
                                       line_of(node))
            return inner
        if is_module_ctor(node, self.table, self.driver.classes, self.driver.helpers):
            return self.builder.spec(node, scope, params)
        return None

    def comprehension(self, node: cst.ListComp, env, scope, params):
        if not isinstance(node.elt, cst.Call) or not (
                is_module_ctor(node.elt, self.table, self.driver.classes, self.driver.helpers)
                or self.class_ref(node.elt, env)):
            return None
        inner_scope = dict(scope)
        f = node.for_in
        while f is not None:
            for name in _target_names(f.target):
                inner_scope[name] = Sym(name)
            f = f.inner_for_in
        spec = self.value(node.elt, env, inner_scope, params)
        if not isinstance(spec, ModSpec):
            return None
        lb = ListBuilder(node)
        lb.program.ops.append(("loop", Program([("item", spec)])))
        return lb

    def extend(self, lb: ListBuilder, node, env, scope, params, line):
        v = self.value(node, env, scope, params)
        if not isinstance(v, ListBuilder):
            raise TranslationError("FWT103", f"list of modules extended by {_code(node)[:50]}: not translated", line)
        lb.cursor[-1].ops += v.program.ops

    def note_args(self, spec: ModSpec, env):
        """Module-valued locals passed to a class constructor (`block(..., downsample)`)."""
        for a in spec.node.args:
            if isinstance(a.value, cst.Name) and a.value.value in env:
                v = env[a.value.value]
                cands = list(v.specs) if isinstance(v, Choice) else [v]
                if all(isinstance(c, ModSpec) for c in cands):
                    self.out.arg_sites[id(a.value)] = cands
                    if not hasattr(self.driver, "arg_sites"):
                        self.driver.arg_sites = {}
                    self.driver.arg_sites[id(a.value)] = cands

    # -- methods of the class called from __init__ --
    def returns_modules(self, func):
        found = []
        visit(func, {cst.Return: found.append, cst.FunctionDef: lambda n: n is func})
        return found or None

    def call_method(self, name, node: cst.Call, env, scope, params):
        if name in self._stack:
            raise TranslationError("FWT103", f"method {name} calls itself", line_of(node))
        func = self.methods[name]
        fparams = [p.name.value for p in list(func.params.params)[1:]]
        if func.params.star_arg not in (cst.MaybeSentinel.DEFAULT, None) or func.params.star_kwarg:
            raise TranslationError("FWT103", f"method {name}(*args/**kwargs) called in __init__", line_of(node))
        bound_env = {}
        for i, a in enumerate(node.args):
            key = a.keyword.value if a.keyword is not None else (fparams[i] if i < len(fparams) else None)
            if key is None or a.star:
                raise TranslationError("FWT103", f"call of method {name} not translated", line_of(node))
            v = self.value(a.value, env, scope, params)
            if v is not None:
                bound_env[key] = v
        for p in func.params.params[1:]:
            if p.name.value not in bound_env and p.default is not None:
                v = self.value(p.default, env, scope, params)
                if v is not None:
                    bound_env[p.name.value] = v
        for key, v in env.items():
            if key.startswith("self."):
                bound_env[key] = v
        mscope, mparams = self.scope_of(func)
        self._stack.append(name)
        try:
            body = list(func.body.body)
            ret = None
            if body and isinstance(body[-1], cst.SimpleStatementLine) and isinstance(body[-1].body[-1], cst.Return):
                ret = body[-1].body[-1].value
                self.block(body[:-1], bound_env, mscope, mparams)
                for small in body[-1].body[:-1]:
                    self.small(small, body[-1], bound_env, mscope, mparams, False)
            else:
                self.block(body, bound_env, mscope, mparams)
            if self.returns_modules(func) and ret is None:
                raise TranslationError("FWT103", f"method {name}: returns other than at its end", line_of(func))
            for key, v in bound_env.items():       # attributes the method set
                if key.startswith("self."):
                    env[key] = v
            return self.value(ret, bound_env, mscope, mparams) if ret is not None else None
        finally:
            self._stack.pop()

    # -- weight initialisation --
    def weight_init(self, stmt, node) -> bool:
        what = _init_kind(node, self.table, self.methods)
        if what is None:
            return False
        self.out.dropped[id(stmt)] = Dropped(stmt, what, line_of(stmt))
        if isinstance(node, cst.SimpleStatementLine):
            for name in _applied_methods(node):
                if name in self.methods:
                    self.out.dropped[id(self.methods[name])] = Dropped(self.methods[name], f"method {name}",
                                                                       line_of(self.methods[name]))
        return True


def read_helper(driver, func: cst.FunctionDef, ret) -> ModSpec:
    """A module-level function that fills a list and returns nn.Sequential(*layers): its returned spec
    (sites in its body; the containers to rewrite are kept on the driver)."""
    reader = InitReader(driver, {}, func)
    scope, params = reader.scope_of(func, skip_self=False)
    env: dict = {}
    body = list(func.body.body)
    reader.block(body[:-1], env, scope, params)
    spec = reader.value(ret, env, scope, params)
    if not isinstance(spec, ModSpec):
        raise TranslationError("FWT103", f"{func.name.value} returns a list of modules: not translated",
                               line_of(func))
    if reader.out.dropped:
        raise TranslationError("FWT103", f"{func.name.value}: weight initialisation in a helper is not translated",
                               line_of(func))
    if not hasattr(driver, "helper_containers"):
        driver.helper_containers = {}
    driver.helper_containers.update(reader.out.containers)
    return spec


def _init_kind(node, table, methods) -> str | None:
    """What a statement initialises weights with, or None when it does something else too."""
    if isinstance(node, cst.SimpleStatementLine):
        if not all(isinstance(s, cst.Expr) and isinstance(s.value, cst.Call) for s in node.body):
            return None
        kinds = [_init_call(s.value, table, methods) for s in node.body]
        return kinds[0] if all(kinds) else None
    if isinstance(node, cst.For):
        it = node.iter
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and
                it.func.attr.value in WEIGHT_ITERATORS):
            return None
        calls = nodes_of(node.body, cst.Call, skip=(cst.Call,))
        stmts_ok = _only_init(node.body.body, table, methods)
        if calls and stmts_ok:
            return f"loop over .{it.func.attr.value}() with weight initialisation"
    return None


def _only_init(stmts, table, methods) -> bool:
    for s in stmts:
        if isinstance(s, cst.SimpleStatementLine):
            if _init_kind(s, table, methods) is None and not all(isinstance(x, cst.Pass) for x in s.body):
                return False
        elif isinstance(s, cst.If):
            if not _only_init(s.body.body, table, methods):
                return False
            o = s.orelse
            if isinstance(o, cst.If):
                if not _only_init([o], table, methods):
                    return False
            elif o is not None and not _only_init(o.body.body, table, methods):
                return False
        else:
            return False
    return True


def _init_call(call: cst.Call, table, methods) -> str | None:
    path = resolve(call.func, table)
    if path and path.startswith("torch.nn.init."):
        return path.replace("torch.nn.init.", "nn.init.")
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in INPLACE_INIT:
        base = func.value
        if isinstance(base, cst.Attribute) and base.attr.value == "data":
            base = base.value
        if isinstance(base, cst.Attribute) and base.attr.value in ("weight", "bias"):
            return f".{func.attr.value}() on a {base.attr.value}"
    name = _self_attr(func)
    if name in methods and not call.args and _only_init(methods[name].body.body, table, methods):
        return f"self.{name}()"
    if isinstance(func, cst.Attribute) and func.attr.value == "apply" and len(call.args) == 1:
        arg = call.args[0].value
        name = _self_attr(arg)
        if name in methods and _only_init(methods[name].body.body, table, methods):
            return f"self.apply(self.{name})"
    return None


def _applied_methods(stmt) -> list[str]:
    """Methods that a weight-initialisation statement runs: self.apply(self.m) / self.m()."""
    out = []
    for s in stmt.body:
        call = s.value
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "apply" and call.args:
            name = _self_attr(call.args[0].value)
            if name:
                out.append(name)
        elif _self_attr(call.func) and not call.args:
            out.append(_self_attr(call.func))
    return out


def _snapshot(program: Program) -> Program:
    """The items a list holds now (later appends to the list do not change a container built from it)."""
    return Program(list(program.ops))


def _builders(env) -> list:
    seen, out = set(), []
    for v in env.values():
        if isinstance(v, ListBuilder) and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _merge_env(env, other) -> None:
    """env := the values after either path (one of several modules: a Choice)."""
    for key in set(env) | set(other):
        a, b = env.get(key), other.get(key)
        if a is b:
            continue
        cands = []
        for v in (a, b):
            for c in (v.specs if isinstance(v, Choice) else (v,)):
                c = ModSpec("none", None, 0) if c is None else c
                if not any(c is d for d in cands):
                    cands.append(c)
        env[key] = Choice(tuple(cands))


def _self_attr(node) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


def _is_container(node, table, path) -> bool:
    return isinstance(node, cst.Call) and resolve(node.func, table) == path


def _target_names(t) -> list[str]:
    if isinstance(t, cst.Name):
        return [t.value]
    if isinstance(t, (cst.Tuple, cst.List)):
        return [n for el in t.elements for n in _target_names(el.value)]
    return []


def _code(node) -> str:
    return node_code(node)
