"""`for` loops in forward (torch -> Keras).

A loop is kept as a Python loop in `call`; what it iterates decides what its variables are:

    for layer in self.layers            an element of an nn.ModuleList / nn.Sequential (any of them)
    for i, layer in enumerate(self.layers)
    for a, b in zip(self.convs, self.norms)
    for name, m in self.blocks.items()  / .values() / .keys()
    for i in range(n)                   plain Python values (no tensors)

The body is translated until the tensor facts of the variables it changes settle (the loop runs 0..n
times, so a variable must keep its layout and rank); the last translation is the one emitted.
Handlers for other loops (e.g. stepping a recurrent cell over time) go first: append a function
`handler(ft, stmt) -> cst.For | None` to LOOP_HANDLERS (None: not this handler's loop).
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..positions import line_of
from .keras_code import OTHER, Meta
from .keras_forward_lists import element_meta, element_specs, merge

LOOP_HANDLERS: list = []


def for_stmt(ft, s: cst.For):
    for handler in LOOP_HANDLERS:
        out = handler(ft, s)
        if out is not None:
            return out
    line = line_of(s)
    if s.orelse is not None:
        raise TranslationError("FWT103", "for ... else in forward is not translated", line)
    if s.asynchronous is not None:
        raise TranslationError("FWT103", "async for in forward", line)
    iter_node, item = iteration(ft, s.iter)
    return loop(ft, s, lambda: bind(ft, s.target, item, line), iter_node)


def loop(ft, s: cst.For, bind_targets, iter_node=None):
    """Translate the body of `s` to a fixed point of the environment; returns the new For node."""
    line = line_of(s)
    env = dict(ft.env)
    for _ in range(6):
        saved = _save(ft)
        ft.env = dict(env)
        bind_targets()
        ft.block(s.body.body)
        after = ft.env
        _restore(ft, saved)
        nxt = merge_env(env, after, line, ft)
        if nxt == env:
            break
        env = nxt
    else:
        raise TranslationError("FWT901", "the tensor facts of a loop did not settle", line)
    ft.env = dict(env)
    bind_targets()
    body = ft.block(s.body.body)
    ft.env = merge_env(env, ft.env, line, ft)
    return s.with_changes(iter=iter_node if iter_node is not None else s.iter,
                          body=s.body.with_changes(body=body))


def merge_env(before: dict, after: dict, line: int, ft=None) -> dict:
    out = dict(after)
    for name, a in before.items():
        b = after.get(name)
        if b is None:
            out[name] = a
            continue
        if a.kind == "module" or b.kind == "module":
            out[name] = b
            continue
        try:
            out[name] = merge(a, b, f"'{name}' in a loop", line)
        except TranslationError:
            err = TranslationError("FWT202", f"the loop changes the layout or rank of '{name}': not translated",
                                   line)
            if ft is not None and ft.requests and a.is_tensor and a.origin is not None and a.rank is None:
                ft.deferred.append(err)      # a model input whose layout/rank a rerun settles
                out[name] = b
                continue
            raise err from None
    return out


def _save(ft):
    owner = ft.ctx.owner
    cls = ft.cls
    return (owner.snapshot(), list(ft.ctx.notes.items), ft.sites, dict(ft.requests), len(ft.deferred),
            dict(cls.records), dict(cls.extra_layers), {k: list(v) for k, v in cls.param_uses.items()},
            dict(cls.method_results), list(cls.list_entries), dict(ft.squeeze_reads), dict(ft.squeeze_flattens),
            dict(ft.squeeze_uses), list(ft.carry))


def _restore(ft, saved) -> None:
    (snap, notes, sites, requests, deferred, records, extra, uses, methods, entries, sr, sf, su, carry) = saved
    ft.ctx.owner.restore(snap)
    ft.ctx.notes.items[:] = notes
    ft.sites = sites          # requests for model input layouts stay: the class is translated again with them
    del ft.deferred[deferred:]
    cls = ft.cls
    cls.records, cls.extra_layers, cls.param_uses, cls.method_results = records, extra, uses, methods
    cls.list_entries = entries
    ft.squeeze_reads.clear(), ft.squeeze_reads.update(sr)
    ft.squeeze_flattens.clear(), ft.squeeze_flattens.update(sf)
    ft.squeeze_uses.clear(), ft.squeeze_uses.update(su)
    ft.carry = carry


def bind(ft, target, meta: Meta, line: int) -> None:
    if isinstance(target, cst.Name):
        ft.env[target.value] = meta
        return
    if isinstance(target, (cst.Tuple, cst.List)):
        if meta.kind != "tuple" or len(meta.items) != len(target.elements):
            if meta.kind == "other":
                for el in target.elements:
                    bind(ft, el.value, OTHER, line)
                return
            raise TranslationError("FWT103", f"loop target {cst.Module([]).code_for_node(target)} does not match "
                                             "what the loop iterates", line)
        for el, m in zip(target.elements, meta.items):
            bind(ft, el.value, m, line)
        return
    raise TranslationError("FWT103", "loop target not translated", line)


def iteration(ft, node):
    """(the iterable in Keras, the meta of one item)."""
    got = _list_items(ft, node)
    if got is not None:
        return got
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("enumerate", "zip") \
            and node.func.value not in ft.env:
        items, args = [], []
        for a in node.args:
            if a.keyword is not None or a.star:
                if node.func.value == "enumerate" and a.keyword is not None and a.keyword.value == "start":
                    n, _ = ft.expr(a.value)
                    args.append(a.with_changes(value=n))
                    continue
                raise TranslationError("FWT103", f"{node.func.value}(...) arguments not translated", line_of(node))
            n, m = iteration(ft, a.value)
            items.append(m)
            args.append(a.with_changes(value=n))
        if node.func.value == "enumerate":
            if len(items) != 1:
                raise TranslationError("FWT103", "enumerate of more than one iterable", line_of(node))
            items = [OTHER] + items
        return node.with_changes(args=args), Meta(kind="tuple", items=tuple(items))
    n, m = ft.expr(node)
    if m.is_tensor:
        raise TranslationError("FWT103", "a loop over a tensor in forward is not translated", line_of(node))
    if m.kind == "tlist":                 # a list of tensors built in forward (keras_forward_tlists.py)
        return n, m.info
    if m.kind == "tuple":
        first = m.items[0] if m.items else OTHER
        for it in m.items[1:]:
            first = merge(first, it, "items of the iterated tuple", line_of(node))
        return n, first
    if m.kind == "module":
        raise TranslationError("FWT103", f"a loop over {cst.Module([]).code_for_node(node)} is not translated",
                               line_of(node))
    return n, OTHER


def _list_items(ft, node):
    """self.layers / self.blocks.items() / .values() / .keys(): the meta of one item."""
    call_name = None
    base = node
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Slice):
        base = node.value            # self.layers[1:]: any of the elements
        spec = _list_spec(ft, base)
        if spec is None or spec.kind != "mlist":
            return None
        for part in ("lower", "upper", "step"):
            value = getattr(node.slice[0].slice, part)
            if value is not None and ft.expr(value)[1].is_tensor:
                raise TranslationError("FWT103", "a list of modules sliced with a tensor", line_of(node))
        specs, _ = element_specs(spec)
        return node, element_meta(base.attr.value, specs)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and not node.args \
            and node.func.attr.value in ("items", "values", "keys"):
        call_name = node.func.attr.value
        base = node.func.value
    if not (isinstance(base, cst.Attribute) and isinstance(base.value, cst.Name) and base.value.value == "self"):
        return None
    attr = base.attr.value
    spec = ft.cls.modules.get(attr)
    if spec is None or spec.kind not in ("mlist", "mdict", "dynseq", "sequential"):
        return None
    if spec.kind in ("sequential", "dynseq"):
        raise TranslationError("FWT103", f"a loop over the modules of the nn.Sequential self.{attr} is not "
                                         "translated yet", line_of(node))
    specs, _ = element_specs(spec)
    elem = element_meta(attr, specs)
    if spec.kind == "mdict":
        item = {"items": Meta(kind="tuple", items=(OTHER, elem)), "values": elem, "keys": OTHER,
                None: OTHER}[call_name]
    else:
        if call_name is not None:
            raise TranslationError("FWT103", f"self.{attr}.{call_name}() of a list of modules", line_of(node))
        item = elem
    return node, item


def _list_spec(ft, node):
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return ft.cls.modules.get(node.attr.value)
    return None
