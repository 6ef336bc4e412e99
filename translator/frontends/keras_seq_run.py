"""Running the code that builds a list of layers (frontends/keras_seq_lists.py) abstractly, with the
shape facts of the Sequential's input: each item's torch expression and the list's output shape.

Loops over constant iterables are unrolled, `if` on a known value follows its branch (the other is still
translated, its runs not counted), `if` on an unknown value runs both branches and merges the sizes into
`a if <condition> else b`. Values are computed from values (`_eval`: a symbolic operand gives an
expression in its value, never in a name that a loop rebinds). An item run several times gets one
expression for all its runs (`_unify`): the same code, or a variable of the code / an argument as written
/ an added tracking variable where a constant differs; otherwise FWT103.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import libcst as cst

from ..backends.torch_sequence import MARKER, _unwrap, ref_code, split_pre_pad
from ..cst_walk import find_all, node_code
from ..findings import TranslationError
from ..ir import UNKNOWN, Layer, Sym, TensorMeta, _fold
from ..names import dotted
from ..positions import line_of
from ..values import evaluate, evaluate_items, to_node
from .keras_helpers import expand_helper, _items
from .keras_seq_lists import ListSequence, _assigned, _is_literal_init, _list_op, _plain_args, all_names
from .scopes import _bindings


class LayoutChange(Exception):
    pass


@dataclass
class _Visit:
    live: bool
    node: cst.BaseExpression
    scope: dict
    bound: frozenset
    size: object = None          # the last dim of the item's input (what a tracking variable holds)


@dataclass
class _State:
    scope: dict
    meta: TensorMeta | None
    bound: set
    live: bool = True

    def copy(self):
        return _State(dict(self.scope), self.meta, set(self.bound), self.live)


class ListRun:
    def __init__(self, ft, seq: ListSequence):
        self.ft, self.seq = ft, seq
        self.visits: dict[int, list[_Visit]] = {}
        self.sources: dict[int, cst.CSTNode] = {}
        self.started = False
        self.live = True
        self.top = None                                   # the top-level statement being run
        self.site_top: dict[int, int] = {}                # id(item) -> id(its top-level statement)
        self.entry_size: dict[int, object] = {}           # id(top-level statement) -> last dim before it
        self.effects: dict[int, list] = {}                # id(statement line growing the list) -> visits
        self.effect_top: dict[int, int] = {}
        self.lines: dict[int, cst.CSTNode] = {}
        self.tracked: dict[int, tuple] = {}               # id(top-level stmt) -> (name, init, {id(line): expr})
        self.comprehensions: set[int] = set()             # id(top-level stmt) starting the list by a comprehension
        self.customs = 0                                  # items that are layer classes of the file

    def run(self, meta: TensorMeta):
        ft, seq = self.ft, self.seq
        scope = dict(ft.scope)
        bound = set(seq.params) | set(getattr(seq.owner.owner, "scope", {}) or {})
        state = _State(scope, None, bound)
        saved_scope = ft.scope
        try:
            for stmt in seq.region[:-1]:
                if not self.started and stmt is seq.building[0]:
                    self.started = True
                    state.meta = meta
                self.top = id(stmt)
                self.entry_size[id(stmt)] = _last(state.meta)
                self.statement(stmt, state)
        finally:
            ft.scope = saved_scope
            ft.env.pop(MARKER, None)
        replacements = {}
        for key, visits in self.visits.items():
            replacements[key] = _plain_args(self.unify(key, visits, self.sources[key]))
        return replacements, state.meta

    # statements
    def statement(self, stmt, state: _State) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            before = _last(state.meta)
            for small in stmt.body:
                self.small(small, state)
            if self.started and any(_list_op(small, self.seq.var) for small in stmt.body):
                self.effects.setdefault(id(stmt), []).append(
                    _Visit(state.live, to_node(_last(state.meta)) if _known(_last(state.meta)) else None,
                           dict(state.scope), frozenset(state.bound), before))
                self.effect_top[id(stmt)] = self.top
                self.lines[id(stmt)] = stmt
        elif isinstance(stmt, cst.If):
            self.if_stmt(stmt, state)
        elif isinstance(stmt, cst.For):
            self.for_stmt(stmt, state)
        else:
            for name in _assigned(stmt):
                state.scope.pop(name, None)
                state.bound.add(name)

    def small(self, small, state: _State) -> None:
        var = self.seq.var
        if self.started:
            op = _list_op(small, var)
            if op is not None:
                kind, items = op
                if kind != "append" and isinstance(items, cst.ListComp):      # += [... for ...]
                    self.comprehension(items, state)
                    return
                for el in ([items] if kind == "append" else [e.value for e in items.elements]):
                    self.item(el, state)
                return
            if isinstance(small, cst.Assign) and _is_literal_init(cst.SimpleStatementLine([small]), var) \
                    and state.meta is not None and var in all_names(small.targets[0].target):
                if isinstance(small.value, cst.ListComp):
                    self.comprehension(small.value, state)
                    state.bound.add(var)
                    return
                for el in small.value.elements:
                    if isinstance(el, cst.StarredElement):
                        raise TranslationError("FWT103", f"{self.seq.attr}: a starred item in the list "
                                               f"'{var}'", line_of(small))
                    self.item(el.value, state)
                state.bound.add(var)
                return
        if isinstance(small, cst.Assign):
            for t in small.targets:
                self.bind(t.target, small.value, state)
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            op = {cst.AddAssign: cst.Add(), cst.SubtractAssign: cst.Subtract(), cst.MultiplyAssign: cst.Multiply(),
                  cst.FloorDivideAssign: cst.FloorDivide()}.get(type(small.operator))
            value = cst.BinaryOperation(small.target, op, small.value) if op is not None else None
            self.bind(small.target, value, state)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self.bind(small.target, small.value, state)

    def comprehension(self, comp: cst.ListComp, state: _State) -> None:
        """`[<item> for <target> in <iterable>]`: the item once per value of a constant iterable, else once
        with the target unknown (the item must then keep the shape). Its variables do not leak out; no
        variable can track a size inside it (with_tracking refuses it)."""
        self.comprehensions.add(self.top)
        loop = comp.for_in
        names = {n.value for n in find_all(loop.target, (cst.Name,))}
        saved = {n: state.scope[n] for n in names if n in state.scope}
        saved_bound = set(state.bound)
        values = _iterable(loop.iter, state.scope)
        self.loop_depth += 1
        try:
            for value in (values if values is not None else [None]):
                for name in names:
                    state.scope.pop(name, None)
                    state.bound.add(name)
                if values is not None:
                    for name, v in _target_values(loop.target, value):
                        state.scope[name] = v
                before = state.meta
                self.item(comp.elt, state)
                if values is None and state.meta != before:
                    raise TranslationError("FWT103", f"{self.seq.attr}: the comprehension over "
                                           f"{node_code(loop.iter)} (not a constant) changes the shape from one "
                                           "item to the next", line_of(comp))
        finally:
            self.loop_depth -= 1
        for name in names:
            state.scope.pop(name, None)
        state.scope.update(saved)
        state.bound = saved_bound

    def bind(self, target, value, state: _State) -> None:
        if isinstance(target, cst.Name):
            v = _eval(value, state.scope) if value is not None else UNKNOWN
            name = target.value
            if v is UNKNOWN and self.seq.assign_counts.get(name) == 1 and not self.loop_depth:
                v = Sym(name)       # computed once (e.g. int(round(inp * t))): the variable itself
            if v is UNKNOWN:
                state.scope.pop(name, None)
            else:
                state.scope[name] = v
            state.bound.add(name)
            return
        if not isinstance(target, (cst.Tuple, cst.List)):
            return               # `self.x = ...`, `d[k] = ...`: no variable of __init__ changes
        pairs = _bindings(target, value, state.scope) if value is not None else []
        names = {n.value for n in find_all(target, (cst.Name,))}
        for name in names:
            state.scope.pop(name, None)
            state.bound.add(name)
        for name, v in pairs:
            if v is not UNKNOWN and not name.startswith("self."):
                state.scope[name] = v

    loop_depth = 0

    def if_stmt(self, stmt: cst.If, state: _State) -> None:
        cond = _eval(stmt.test, state.scope)
        known = cond is not UNKNOWN and not isinstance(cond, Sym)
        live = state.live
        other = state.copy()
        if known:              # the branch not taken is still translated, its items not counted as run
            state.live, other.live = live and bool(cond), live and not cond
        for s in stmt.body.body:
            self.statement(s, state)
        if stmt.orelse is not None:
            body = [stmt.orelse] if isinstance(stmt.orelse, cst.If) else stmt.orelse.body.body
            for s in body:
                self.statement(s, other)
        if known:
            result = state if cond else other
        else:
            result = _State(_merge_scopes(state.scope, other.scope), self.merge(state.meta, other.meta, stmt),
                            state.bound & other.bound)
        state.scope, state.meta, state.bound, state.live = result.scope, result.meta, result.bound, live

    def merge(self, a: TensorMeta | None, b: TensorMeta | None, stmt: cst.If):
        if a is None or b is None or a == b:
            return a if a is not None else b
        if a.rank != b.rank or a.layout != b.layout or a.flat_from != b.flat_from or a.dtype != b.dtype:
            raise TranslationError("FWT103", f"{self.seq.attr}: the branches of the `if` give tensors of "
                                   "different ranks or layouts", line_of(stmt))
        test = node_code(stmt.test).strip()
        names = all_names(stmt.test)
        stable = all(self.seq.assign_counts.get(n, 0) <= 1 for n in names) and \
            not names & (_assigned(stmt) | self.seq.loop_assigned)
        dims = []
        for x, y in zip(a.shape, b.shape):
            if x == y and type(x) is type(y):
                dims.append(x)
            elif x is None or y is None or not stable:
                dims.append(None)
            else:
                dims.append(Sym(f"({x} if {test} else {y})"))
        last = a.last if a.last == b.last else None
        return replace(a, shape=tuple(dims), last=last)

    def for_stmt(self, stmt: cst.For, state: _State) -> None:
        values = _iterable(stmt.iter, state.scope)
        names = {n.value for n in find_all(stmt.target, (cst.Name,))}
        grows = self.seq.var in all_names(stmt.body)
        self.loop_depth += 1
        try:
            self.loop(stmt, state, values, names, grows)
        finally:
            self.loop_depth -= 1

    def loop(self, stmt, state, values, names, grows) -> None:
        if values is not None:
            for value in values:
                pairs = _target_values(stmt.target, value)
                for name in names:
                    state.scope.pop(name, None)
                    state.bound.add(name)
                for name, v in pairs:
                    state.scope[name] = v
                for s in stmt.body.body:
                    self.statement(s, state)
            return
        if not grows:
            for name in names | _assigned(stmt):
                state.scope.pop(name, None)
                state.bound.add(name)
            return
        before = state.meta
        for name in names | _assigned(stmt):
            state.scope.pop(name, None)
            state.bound.add(name)
        for s in stmt.body.body:
            self.statement(s, state)
        if state.meta != before:
            raise TranslationError("FWT103", f"{self.seq.attr}: the loop over {node_code(stmt.iter)} (not a "
                                   "constant) changes the shape from one iteration to the next, so its "
                                   "layers' sizes differ between iterations", line_of(stmt))
        for name in _assigned(stmt):
            state.scope.pop(name, None)

    # items
    def item(self, node, state: _State) -> None:
        ft = self.ft
        if state.meta is None:
            raise TranslationError("FWT103", f"{self.seq.attr}: an item added before the list starts",
                                   line_of(node))
        ft.scope = state.scope
        self.live = state.live
        size = _last(state.meta)
        expr, meta = self.element(node, state.meta)
        state.meta = meta
        self.visits.setdefault(id(node), []).append(
            _Visit(state.live, expr, dict(state.scope), frozenset(state.bound), size))
        self.sources[id(node)] = node
        self.site_top[id(node)] = self.top

    def element(self, node, meta):
        """(torch expression of one list item, its output meta)."""
        ft, owner = self.ft, self.seq.owner.owner
        value = expand_helper(node, owner.helpers, owner.inlined) or node
        if not isinstance(value, cst.Call):
            raise TranslationError("FWT103", f"{self.seq.attr}: an item of the list '{self.seq.var}' is not a "
                                   "Keras layer", line_of(node))
        if ft.table.resolve(value.func) == "keras.Sequential":
            items = _items(value)
            if items is None or not items.elements:
                raise TranslationError("FWT103", f"{self.seq.attr}: a Sequential in the list without a literal "
                                       "list of layers", line_of(node))
            from .keras_helpers import sequence_items
            modules = []
            for inner in sequence_items(ft, items.elements):
                mods, meta = self.layer_modules(inner, meta)
                modules += mods
            return cst.Call(ft.imports.ref("torch.nn.Sequential"), [cst.Arg(m) for m in modules]), meta
        if isinstance(value.func, cst.Name) and value.func.value in ft.custom_classes:
            return self.custom(value, meta)
        mods, meta = self.layer_modules(value, meta)
        if len(mods) == 1:
            return mods[0], meta
        if not mods:
            return cst.Call(ft.imports.ref("torch.nn.Identity"), []), meta
        return cst.Call(ft.imports.ref("torch.nn.Sequential"), [cst.Arg(m) for m in mods]), meta

    def layer_modules(self, value, meta):
        ft = self.ft
        found = ft.rule_for(value.func) if isinstance(value, cst.Call) else None
        if found is None:
            raise TranslationError("FWT103", f"{self.seq.attr}: an item of the list '{self.seq.var}' is not a "
                                   "Keras layer with a rule", line_of(value))
        path, rule = found
        args = ft.bind_args(value, rule, path)
        ft.resolve_function_refs(args)
        args = {k: v for k, v in args.items()}
        args.update({k: v for k, v in _values(args, ft.scope).items() if k != "activation" or not args[k].known})
        name = args.get("name")
        layer = Layer(attr="_fwt_list_item", rule=rule, keras_path=path, args=args, line=line_of(value),
                      node=value, name=name.const if name is not None and isinstance(name.const, str) else None)
        ft.env[MARKER] = meta
        pending = len(ft.pending)
        out, out_meta = ft.apply_layer(layer, [cst.Name(MARKER)], [meta], {}, value)
        if len(ft.pending) != pending:
            del ft.pending[pending:]
            raise LayoutChange(layer.keras_class)
        if isinstance(out_meta, list):
            raise TranslationError("FWT103", f"{self.seq.attr}: {layer.keras_class} has several outputs",
                                   layer.line)
        if layer.extra:
            raise TranslationError("FWT103", f"{self.seq.attr}: {layer.keras_class} in a list needs its weights "
                                   "permuted at porting (after a channels-first flatten)", layer.line)
        if isinstance(out, cst.Name) and out.value == MARKER:
            return [], out_meta
        ref = ref_code(ft, layer.attr)
        out, pre = split_pre_pad(out, ref, ft.imports)
        wrappers, has_module = _unwrap(out, ref, ft.imports)
        if wrappers is None:
            raise TranslationError("FWT103", f"{self.seq.attr}: {layer.keras_class} is not a plain torch module "
                                   "call, so it cannot go in an nn.Sequential", layer.line)
        modules = ([pre] if pre is not None else []) + ([ft.emissions[id(layer)][0].ctor] if has_module else [])
        return modules + wrappers, out_meta

    def custom(self, value: cst.Call, meta):
        ft = self.ft
        name = value.func.value
        from .keras_classes import _framework_refs
        if value.args and _framework_refs(cst.Tuple([cst.Element(a.value) for a in value.args]), ft.table):
            raise TranslationError("FWT103", f"{self.seq.attr}: {name} in a list, given Keras objects as "
                                   "arguments", line_of(value))
        self.customs += 1
        # after a channels-first flatten the class would get torch's element order, and no reordering
        # code can go between two items of an nn.Sequential
        if meta.flat_from is not None:
            raise TranslationError("FWT103", f"{self.seq.attr}: {name} in a list after a channels-first "
                                   "flatten (its input would be in torch's order)", line_of(value))
        shaped = name in ft.shaped_classes
        if meta.shape is None or (shaped and any(d is None for d in _used_dims(self.seq, name, meta.shape)[1:])):
            raise TranslationError("FWT302", f"{name}: input shape unknown at its call", line_of(value))
        specialised = _with_values(value, ft.scope)
        outputs, layouts = ft.custom_outputs(name, specialised, [meta], ft.scope)
        if name in getattr(ft, "class_defs", {}):
            try:        # its channels a constructor parameter? (keras_channel_params: recorded and checked)
                from .keras_channel_params import observe_call
            except ImportError:
                observe_call = None
            if observe_call is not None and self.live:       # a branch not taken is no call
                from types import SimpleNamespace
                observe_call(ft, SimpleNamespace(class_name=name, ctor=value, shape_ctor=specialised), [meta],
                             line_of(value))
        if meta.rank and meta.rank > 2 and layouts and layouts[0] != meta.layout:
            raise LayoutChange(name)
        if len(outputs) != 1:
            raise TranslationError("FWT103", f"{self.seq.attr}: {name} has several outputs", line_of(value))
        ft.sites += 1
        self.seq.classes.add(name)
        ctor = value
        if shaped:
            arg = cst.Arg(to_node(_used_dims(self.seq, name, meta.shape)), keyword=cst.Name("input_shape"),
                          equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
            args = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                    if i == len(ctor.args) - 1 else a for i, a in enumerate(ctor.args)]
            ctor = ctor.with_changes(args=args + [arg])
        return ctor, outputs[0]

    # one expression per item
    def unify(self, key: int, visits: list, source):
        """The item's torch expression for all its runs: the same code on each, or with a variable of the
        code where a constant differs; else with a tracking variable holding the input's last dim."""
        live = [v for v in visits if v.live] or visits[:1]
        sources = _argument_values(source)
        node = _unify([v.node for v in live], live, sources=sources)
        if node is None:
            node = self.with_tracking(key, live, sources)
        if node is None:
            raise TranslationError("FWT103", f"{self.seq.attr}: the item `{node_code(source).strip()}` is built "
                                   "several times with sizes that differ and that no variable of the code "
                                   "holds", line_of(source))
        return node

    def size_argument(self, line: int, runs: list):
        """An argument of the line's items (last first) whose value is the size after the line on every
        run: `Conv2D(filters * 2, 1)` -> `filters * 2`."""
        stmt = self.lines.get(line)
        for value in reversed(_argument_values(stmt) if stmt is not None else ()):
            if all(_same(_eval(value, r.scope), _value_of(r.node)) for r in runs):
                return value
        return None

    def with_tracking(self, key: int, live: list, sources: tuple = ()):
        """`channels = <size>` before the loop and `channels = <new size>` after each statement of it that
        changes the size: the item then reads `channels` where its input's last dim differs per run."""
        top = self.site_top.get(key)
        if top is None or top in self.comprehensions or any(not _known(v.size) for v in live):
            return None
        name = self.tracked[top][0] if top in self.tracked else _fresh("channels", self.seq)
        node = _unify([v.node for v in live], live, track=name, sources=sources)
        if node is None or top in self.tracked:
            return node
        init = self.entry_size.get(top)
        if not _known(init):
            return None
        updates = {}
        for line, runs in self.effects.items():
            if self.effect_top.get(line) != top:
                continue
            runs = [r for r in runs if r.live] or runs[:1]
            if all(r.node is not None and _same(_value_of(r.node), r.size) for r in runs):
                continue                        # the statement keeps the size
            if any(r.node is None for r in runs):
                return None
            expr = _unify([r.node for r in runs], runs) or self.size_argument(line, runs)
            if expr is None:
                return None
            updates[line] = expr
        self.tracked[top] = (name, to_node(init), updates)
        return node

def _with_values(ctor: cst.Call, scope: dict) -> cst.Call:
    """The constructor call with each argument's value on this run (the outputs are looked up by it)."""
    args = []
    for arg in ctor.args:
        value = _eval(arg.value, scope)
        if value is not UNKNOWN and not arg.star:
            try:
                arg = arg.with_changes(value=to_node(value))
            except TypeError:
                pass
        args.append(arg)
    return ctor.with_changes(args=args)


def _used_dims(seq: ListSequence, name: str, shape) -> tuple:
    """The input shape a shaped class is given: None where its translation does not read the dim."""
    dims = getattr(seq.owner.owner, "class_dims", {}).get(name)
    full = (None,) + tuple(shape[1:])
    if dims is None:
        return full
    return tuple(d if i in dims else None for i, d in enumerate(full))


def _merge_scopes(a: dict, b: dict) -> dict:
    return {k: v for k, v in a.items() if k in b and b[k] == v and type(b[k]) is type(v)}


def _same(a, b) -> bool:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and str(a) == str(b)
    return type(a) is type(b) and a == b


def _value_of(node):
    v = evaluate(node, {})
    return Sym(node_code(node).strip()) if v is UNKNOWN else v


def _unify(nodes: list, visits: list, track: str | None = None, sources: tuple = ()):
    """One expression that is each node on its visit: the node when all are the same code, else the same
    call/tuple shape with a variable where constants differ (the variable holding them on every visit;
    `track`: a variable that holds each visit's input size)."""
    if len(nodes) == 1 or len({node_code(n) for n in nodes}) == 1:     # (one visit: nothing to compare)
        return nodes[0]
    values = [_value_of(n) for n in nodes]
    first = visits[0]
    for name, value in first.scope.items():
        if not name.isidentifier() or name not in first.bound:
            continue
        if all(name in v.bound and name in v.scope and _same(v.scope[name], x) for v, x in zip(visits, values)):
            return cst.Name(name)
    for source in sources:          # an argument as the user wrote it (`filters * 2`)
        if all(_same(_eval(source, v.scope), x) for v, x in zip(visits, values)):
            return source
    if track is not None and all(_known(v.size) and _same(v.size, x) for v, x in zip(visits, values)):
        return cst.Name(track)
    head = nodes[0]
    if any(type(n) is not type(head) for n in nodes):
        return None
    if isinstance(head, cst.Call):
        if len({node_code(n.func) for n in nodes}) != 1 or len({len(n.args) for n in nodes}) != 1:
            return None
        args = []
        for i, arg in enumerate(head.args):
            group = [n.args[i] for n in nodes]
            if len({(a.keyword.value if a.keyword else None, a.star) for a in group}) != 1:
                return None
            value = _unify([a.value for a in group], visits, track, sources)
            if value is None:
                return None
            args.append(arg.with_changes(value=value))
        return head.with_changes(args=args)
    if isinstance(head, (cst.Tuple, cst.List)):
        if len({len(n.elements) for n in nodes}) != 1:
            return None
        elements = []
        for i, el in enumerate(head.elements):
            group = [n.elements[i] for n in nodes]
            if any(isinstance(e, cst.StarredElement) for e in group):
                return None
            value = _unify([e.value for e in group], visits, track, sources)
            if value is None:
                return None
            elements.append(el.with_changes(value=value))
        return head.with_changes(elements=elements)
    return None


def _argument_values(node) -> tuple:
    """The argument expressions in `node`, in source order (`name=` excepted)."""
    from ..cst_walk import preorder
    return tuple(n.value for n in preorder(node) if type(n) is cst.Arg and not n.star
                 and (n.keyword is None or n.keyword.value != "name")
                 and not isinstance(n.value, (cst.SimpleString, cst.ConcatenatedString)))


def _last(meta):
    return meta.shape[-1] if meta is not None and meta.shape else None


def _known(size) -> bool:
    return size is not None and (isinstance(size, Sym) or isinstance(size, int) and not isinstance(size, bool))


def _fresh(base: str, seq) -> str:
    taken = set(seq.assign_counts) | seq.params
    for stmt in seq.region:
        taken |= all_names(stmt)
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


_BUILTINS = {"int": int, "round": round, "max": max, "min": min, "abs": abs, "float": float, "len": len}


def _eval(node, scope: dict):
    if isinstance(node, cst.IfExp):
        test = _eval(node.test, scope)
        if test is UNKNOWN or isinstance(test, Sym):
            return UNKNOWN
        return _eval(node.body if test else node.orelse, scope)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _BUILTINS \
            and node.func.value not in scope and all(a.keyword is None and not a.star for a in node.args):
        values = [_eval(a.value, scope) for a in node.args]
        if any(v is UNKNOWN or isinstance(v, Sym) for v in values):
            return UNKNOWN
        try:
            return _BUILTINS[node.func.value](*values)
        except Exception:       # noqa: BLE001 - not foldable
            return UNKNOWN
    if isinstance(node, cst.BinaryOperation):      # a symbolic operand: an expression in its *value*
        a, b = _eval(node.left, scope), _eval(node.right, scope)
        if isinstance(a, Sym) or isinstance(b, Sym):
            op = _SYM_OPS.get(type(node.operator))
            if op is None or not all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (a, b)):
                return UNKNOWN
            return _fold(a, b, op)
        return evaluate(node.with_changes(left=_literal(a, node.left), right=_literal(b, node.right)), {})
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        v = _eval(node.expression, scope)
        if isinstance(v, Sym):
            return _fold(0, v, "-")
        return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNKNOWN
    if isinstance(node, (cst.Tuple, cst.List)):
        return evaluate_items(node, _eval, scope)
    return evaluate(node, scope)


_SYM_OPS = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.FloorDivide: "//"}


def _literal(value, node):
    """A constant back as a node for `evaluate` (the node itself when unknown)."""
    if value is UNKNOWN or isinstance(value, Sym):
        return node
    try:
        return to_node(value)
    except TypeError:
        return node


def _values(args: dict, scope: dict) -> dict:
    """A layer's bound arguments with their values computed from values (never from names a loop
    rebinds): the code written stays the user's."""
    from ..ir import Val
    return {k: Val(v.node, _eval(v.node, scope)) if v.node is not None and k != "name" else v
            for k, v in args.items()}


def _iterable(node, scope: dict):
    value = _eval(node, scope)
    if isinstance(value, (tuple, list)):
        return list(value)
    if isinstance(node, cst.Call) and dotted(node.func) == "range" and "range" not in scope:
        args = [_eval(a.value, scope) for a in node.args]
        if args and all(isinstance(a, int) and not isinstance(a, (Sym, bool)) for a in args):
            return list(range(*args))
    if isinstance(node, cst.Call) and dotted(node.func) == "enumerate" and len(node.args) == 1:
        inner = _iterable(node.args[0].value, scope)
        return None if inner is None else [(i, v) for i, v in enumerate(inner)]
    return None


def _target_values(target, value) -> list:
    if isinstance(target, cst.Name):
        return [(target.value, value)]
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (tuple, list)) \
            and len(target.elements) == len(value):
        out = []
        for el, v in zip(target.elements, value):
            out += _target_values(el.value, v)
        return out
    return []
