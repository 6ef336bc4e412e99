"""Modules built at run time (torch -> Keras): sites, lists of modules, and methods called from forward.

A *site* is one module constructor of `__init__` (or of a method it calls) that is not a plain
`self.x = nn.X(...)`: an item appended to a list, an element of an nn.ModuleList / ModuleDict, a local
module passed to a block. Each site becomes ONE Keras object (a keras.Sequential when the torch module
needs several Keras layers, e.g. ZeroPadding2D + Conv2D), so lists keep their length and order and
the weights port by index. A site is translated for the input the forward pass gives it; a site
reached with inputs that need different Keras code is reported (FWT202), never guessed.

    nn.Sequential(*layers)   -> keras.Sequential(layers)     (kind "dynseq": items applied in order;
                                loops over items reach a fixed point of the tensor facts)
    nn.ModuleList([...])     -> [...]                        (kind "mlist": Keras tracks lists)
    nn.ModuleDict({...})     -> {...}                        (kind "mdict": Keras tracks dicts)

The driver keeps the translations in `driver.site_exprs` (id(source node) -> (CodeOf(expression), expression)).
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import CodeOf
from ..findings import TranslationError
from ..positions import line_of
from .keras_code import Meta, call, code, tensor

DYNAMIC_KINDS = ("dynseq", "mlist", "mdict")


def record_site(owner, node, expr) -> None:
    text = CodeOf(expr)
    old = owner.site_exprs.get(id(node))
    if old is not None and old[0] != text:
        raise TranslationError("FWT202", f"{code(node)[:60]}: this module is applied to inputs that need different "
                                         f"Keras code ({old[0].code[:50]} vs {text.code[:50]})", line_of(node))
    owner.site_exprs[id(node)] = (text, expr)


# facts the torch -> Keras port reads from the built Keras layer itself (its class picks the rule, a
# DepthwiseConv carries its depth_multiplier): a run-time list needs no mapping entry for them
PORT_READS_FROM_LAYER = {"rule", "depth_multiplier"}


def apply_site(ctx, spec, meta: Meta, torch_path: str | None, keras_path: str = ""):
    """(Keras expression, output meta, entries) of one site applied to `meta`; recorded on the driver."""
    from .keras_forward import SequentialBuilder, conform_sequential
    if spec.kind == "none":
        return None, meta, []
    if spec.kind in DYNAMIC_KINDS:
        raise TranslationError("FWT103", f"a {spec.short} inside a list of modules is not translated yet", spec.line)
    steps, meta = conform_sequential(ctx, spec, meta, spec.line) if spec.kind == "leaf" else ([], meta)
    exprs, out, entries = SequentialBuilder(ctx).item(spec, meta, torch_path or "?", lambda j=None: keras_path)
    exprs = [s.ctor for s in steps] + exprs
    facts = {k for e in entries for k in e.extra if k not in PORT_READS_FROM_LAYER}
    if torch_path is None and facts:
        raise TranslationError("FWT202", f"{spec.short} in a list built at run time needs a weight-porting fact "
                                         f"({', '.join(sorted(facts))}) that "
                                         "depends on its position: not translated yet", spec.line)
    expr = exprs[0] if len(exprs) == 1 else call(ctx.refs.keras("Sequential"),
                                                   [cst.List([cst.Element(e) for e in exprs])])
    record_site(ctx.owner, spec.node, expr)
    if torch_path is None:
        entries = []
    return expr, out, entries


def _same_kind(a: Meta, b: Meta) -> bool:
    return (a.kind, a.layout, a.rank, a.flat) == (b.kind, b.layout, b.rank, b.flat) and \
        (not a.items or len(a.items) == len(b.items) and all(_same_kind(x, y) for x, y in zip(a.items, b.items)))


def merge(a: Meta, b: Meta, what: str, line: int) -> Meta:
    """One meta for a value that is `a` or `b` (shapes generalised where they differ)."""
    if a == b:
        return a
    if not _same_kind(a, b):
        raise TranslationError("FWT202", f"{what}: the items give outputs of different kinds (layouts or ranks): "
                                         "not translated", line)
    if a.kind == "tuple":
        return a.with_(items=tuple(merge(x, y, what, line) for x, y in zip(a.items, b.items)))
    if not a.is_tensor:
        return a
    shape = None if a.shape is None or b.shape is None else tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
    return a.with_(shape=shape, origin=a.origin if a.origin == b.origin else None, nonneg=a.nonneg and b.nonneg)


def _firsts(program) -> tuple[list, bool]:
    """(the items that may come first, whether the program may add no item at all)."""
    out = []
    for op in program.ops:
        if op[0] == "item":
            return out + [op[1]], False
        subs = [_firsts(p) for p in op[1:]]
        out += [s for firsts, _ in subs for s in firsts]
        if op[0] == "if" and not any(empty for _, empty in subs):
            return out, False
    return out, True


def first_item(program):
    """The item that first sees the input of nn.Sequential(*layers) -- one of the possible first items
    when they all ask for the same input (a layout and rank), else None."""
    from .keras_forward import first_leaf, needed_layout, rank_hint
    firsts, _ = _firsts(program)
    leaves = [first_leaf(s) for s in firsts]
    if not leaves or any(f is None or f.kind != "leaf" for f in leaves):
        return None
    wants = {(needed_layout(f), rank_hint(f)) for f in leaves}
    return leaves[0] if len(wants) == 1 else None


def apply_program(ctx, program, meta: Meta, line: int, prefix: str | None, entries: list,
                  keras_prefix: str = "") -> Meta:
    """The output of the items of `program` applied in order (nn.Sequential(*layers)); entries (weight
    mapping) for the items whose index is known (`prefix` + index)."""
    static = program.static()
    for i, op in enumerate(program.ops):
        if op[0] == "item":
            path = f"{prefix}{i}" if prefix is not None and static is not None else None
            _, meta, sub = apply_site(ctx, op[1], meta, path, f"{keras_prefix}{i}")
            entries += sub
        elif op[0] == "if":
            a = apply_program(ctx, op[1], meta, line, None, entries)
            b = apply_program(ctx, op[2], meta, line, None, entries)
            meta = merge(a, b, "modules added under a condition", line)
        else:
            meta = fixed_point(ctx, lambda m: apply_program(ctx, op[1], m, line, None, entries), meta,
                               "modules added in a loop", line)
    return meta


def fixed_point(ctx, step, meta: Meta, what: str, line: int) -> Meta:
    """The meta that `step` (applied 0..n times) keeps; the last application is the one recorded."""
    owner = ctx.owner
    current = meta
    for _ in range(6):
        saved = dict(owner.site_exprs), len(ctx.notes.items)
        out = step(current)
        owner.site_exprs = saved[0]
        del ctx.notes.items[saved[1]:]
        nxt = merge(current, out, what, line)
        if nxt == current:
            break
        current = nxt
    else:
        raise TranslationError("FWT901", f"{what}: tensor facts did not settle", line)
    step(current)
    return current


# ---- elements of lists used in forward ----------------------------------------------------------------

def element_specs(spec, index=None):
    """The specs an element access may give: one when the index is a constant into a static list."""
    if spec.kind == "mdict":
        if index is not None:
            for key, s in spec.items:
                if key == index:
                    return [s], key
            raise TranslationError("FWT103", f"ModuleDict has no key {index!r}", spec.line)
        return [s for _, s in spec.items], None
    static = spec.program.static()
    if index is not None and static is not None and isinstance(index, int) and -len(static) <= index < len(static):
        return [static[index]], index % len(static)
    return spec.program.specs(), None


def element_meta(attr: str, specs, index=None) -> Meta:
    return Meta(kind="module", info=("elements", attr, tuple(id(s) for s in specs), index))


def apply_elements(ft, attr: str, spec, ids, index, node: cst.Call, func_node):
    """`layer(x)` for `layer` one of the elements of self.<attr> (a loop variable or self.<attr>[i])."""
    line = line_of(node)
    specs = [s for s in _all_specs(spec) if id(s) in ids]
    args = ft.tensors_of(node)
    if any(k is not None for k, _, _ in args):
        raise TranslationError("FWT103", f"keyword arguments in a call of an element of self.{attr}", line)
    if len(args) != 1:
        return _apply_instances(ft, attr, specs, args, node, func_node)
    _, x, meta = args[0]
    if not meta.is_tensor:
        raise TranslationError("FWT103", f"an element of self.{attr} applied to a value that is not a tensor", line)
    out = None
    for s in specs:          # an element that decides the layout of a model input asks for it once
        x2, m2 = ft.conform_sequential_input(x, meta, s, line)
        if code(x2) != code(x):
            raise TranslationError("FWT202", f"elements of self.{attr} need different input layouts", line)
        meta = m2
    for s in specs:
        m2 = meta
        path = f"{attr}.{index}" if index is not None else None
        _, o, entries = apply_site(ft.ctx, s, m2, path, f"{ft.cls.keras_attr(attr)}.{index}")
        if entries:
            ft.cls.list_entries += [e for e in entries if e.torch_path not in {x.torch_path for x in ft.cls.list_entries}]
        out = o if out is None else merge(out, o, f"elements of self.{attr}", line)
    if out is None:
        raise TranslationError("FWT103", f"self.{attr} holds no modules", line)
    return node.with_changes(func=func_node, args=[cst.Arg(x)]), out


def _apply_instances(ft, attr, specs, args, node, func_node):
    """`block(x, mask)`: elements that are classes of the file, called with several inputs."""
    line = line_of(node)
    if not specs or any(s.kind != "instance" for s in specs):
        raise TranslationError("FWT103", f"an element of self.{attr} called with {len(args)} arguments: only "
                               "blocks defined in the file take several inputs", line)
    metas = [m for _, _, m in args]
    out = None
    for s in specs:
        ctor, outs, _, wanted = ft.ctx.owner.instance(s, metas, "?", "", ft.ctx)
        for m, w in zip(metas, wanted):
            if m.is_tensor and w.is_tensor and w.layout != m.layout and (w.rank or 0) > 2:
                raise TranslationError("FWT202", f"an element of self.{attr} needs another layout of its inputs: "
                                                 "not translated yet", line)
        record_site(ft.ctx.owner, s.node, ctor)
        o = outs[0] if len(outs) == 1 else Meta(kind="tuple", items=tuple(outs))
        out = o if out is None else merge(out, o, f"elements of self.{attr}", line)
    return node.with_changes(func=func_node, args=[a.with_changes(value=n) for a, (_, n, _) in zip(node.args, args)]), out


def apply_site_module(ft, attr: str, spec, node: cst.Call):
    """self.<attr>(x) for a module built in a local or returned by a method (`self.conv = conv`,
    `self.head = self._make_head()`): one Keras object at its site."""
    line = line_of(node)
    args = ft.tensors_of(node)
    if any(k is not None for k, _, _ in args):
        raise TranslationError("FWT103", f"keyword arguments in a call of self.{attr}", line)
    ref = cst.Attribute(cst.Name("self"), cst.Name(ft.cls.keras_attr(attr)))
    if len(args) != 1:
        if spec.kind != "instance":
            raise TranslationError("FWT103", f"self.{attr} called with {len(args)} arguments", line)
        new, out = _apply_instances(ft, attr, [spec], args, node, ref)
    else:
        _, x, meta = args[0]
        if not meta.is_tensor:
            raise TranslationError("FWT103", f"self.{attr} applied to a value that is not a tensor", line)
        x, meta = ft.conform_sequential_input(x, meta, spec, line)
        _, out, entries = apply_site(ft.ctx, spec, meta, attr, ft.cls.keras_attr(attr))
        new = cst.Call(ref, [cst.Arg(x)])
        ft.cls.list_entries += [e for e in entries if e.torch_path not in {x.torch_path for x in ft.cls.list_entries}]
    ft.cls.record(attr, ("site", id(spec.node)), None, [])
    return new, out


def _all_specs(spec):
    if spec.kind == "mdict":
        return [s for _, s in spec.items]
    return spec.program.specs()


def module_value(ft, node):
    """(node, meta) when `node` is an element of a list/dict of modules (self.layers[i]), else None."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        value = node.value
        if not (isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self"
                and value.attr.value in ft.cls.modules):
            return None
        spec = ft.cls.modules[value.attr.value]
        if spec.kind in ("sequential", "dynseq"):
            raise TranslationError("FWT103", f"indexing the nn.Sequential self.{value.attr.value} is not translated "
                                             "(keras.Sequential has no items by index)", line_of(node))
        if spec.kind not in ("mlist", "mdict"):
            return None
        base, bm = ft.expr(node.value)
        from .keras_forward_base import _const
        from ..ir import UNKNOWN
        idx_node, im = ft.expr(node.slice[0].slice.value)
        if im.is_tensor:
            raise TranslationError("FWT103", "a list of modules indexed with a tensor", line_of(node))
        index = _const(node.slice[0].slice.value)
        index = None if index is UNKNOWN else index
        specs, index = element_specs(spec, index)
        new = node.with_changes(value=base, slice=[node.slice[0].with_changes(
            slice=node.slice[0].slice.with_changes(value=idx_node))])
        return new, element_meta(bm.info, specs, index)
    return None


def call_element(ft, node: cst.Call):
    """A call whose callee is an element of a list of modules; None when it is not one."""
    func = node.func
    if isinstance(func, cst.Name):
        meta = ft.env.get(func.value)
        if meta is None or meta.kind != "module" or not isinstance(meta.info, tuple) or meta.info[0] != "elements":
            return None
        func_node = func
    elif isinstance(func, cst.Subscript):
        got = module_value(ft, func)
        if got is None:
            return None
        func_node, meta = got
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute) and \
            isinstance(func.value.value, cst.Name) and func.value.value.value == "self" and \
            getattr(ft.cls.modules.get(func.value.attr.value), "kind", None) == "mdict":
        # self.blocks.query(x): a key of an nn.ModuleDict read as an attribute -> self.blocks["query"](x)
        key = cst.SimpleString(repr(func.attr.value).replace("'", '"'))
        got = module_value(ft, cst.Subscript(func.value, [cst.SubscriptElement(cst.Index(key))]))
        if got is None:
            return None
        func_node, meta = got
    else:
        return None
    _, attr, ids, index = meta.info
    return apply_elements(ft, attr, ft.cls.modules[attr], set(ids), index, node, func_node)


def apply_unused_sites(ctx, spec) -> None:
    """Sites of a list never applied in forward: translated for the input their first layer expects."""
    from ..torch_to_keras import assumed_input
    for s in _all_specs(spec) if spec.kind in ("mlist", "mdict") else spec.program.specs():
        if s.kind != "none" and id(s.node) not in ctx.owner.site_exprs:
            apply_site(ctx, s, assumed_input(s), None)


# ---- methods of the class called from forward ------------------------------------------------------

def call_method(ft, name: str, node: cst.Call):
    """`self._forward_features(x)`: the method translated like forward, for these inputs (once)."""
    from .keras_forward import ForwardTranslator
    line = line_of(node)
    cls = ft.cls
    func = cls.methods[name]
    if name in cls.method_stack:
        raise TranslationError("FWT103", f"method {name} calls itself", line)
    params = list(func.params.params)[1:]
    if func.params.star_arg not in (cst.MaybeSentinel.DEFAULT, None) or func.params.star_kwarg:
        raise TranslationError("FWT103", f"method {name}(*args/**kwargs) is not translated", line)
    env, args = {}, []
    names = [p.name.value for p in params]
    for i, a in enumerate(node.args):
        if a.star:
            raise TranslationError("FWT103", f"*args in a call of self.{name}", line)
        key = a.keyword.value if a.keyword is not None else (names[i] if i < len(names) else None)
        if key not in names:
            raise TranslationError("FWT103", f"self.{name}: argument {key} not recognised", line)
        n, m = ft.expr(a.value)
        env[key] = m
        args.append(a.with_changes(value=n))
    from .keras_code import OTHER
    for p in params:
        if p.name.value not in env:
            env[p.name.value] = OTHER if p.default is not None else tensor(None)
    sub = ForwardTranslator(cls, ft.ctx, env, root_keep=False)
    _share(ft, sub, func)
    cls.method_stack.append(name)
    try:
        body = sub.block(func.body.body)
    finally:
        cls.method_stack.pop()
    ft.requests.update(sub.requests)
    ft.deferred += sub.deferred
    ft.sites += sub.sites
    if sub.outputs is None:
        raise TranslationError("FWT103", f"method {name}: no return statement at its end", line_of(func))
    new = func.with_changes(body=func.body.with_changes(body=body))
    old = cls.method_results.get(name)
    if old is not None and old[0] != code(new):
        raise TranslationError("FWT202", f"method {name} is called with inputs that need different Keras code", line)
    cls.method_results[name] = (code(new), new)
    outs = sub.outputs
    return node.with_changes(args=args), outs[0] if len(outs) == 1 else Meta(kind="tuple", items=tuple(outs))


def _share(ft, sub, func) -> None:
    from ..torch_to_keras import name_facts
    sub.name_counts, sub.reads, sub.assigned = name_facts(func)
    sub.squeeze = ft.squeeze
    sub.squeeze_reads, sub.squeeze_flattens, sub.squeeze_uses = ft.squeeze_reads, ft.squeeze_flattens, ft.squeeze_uses
