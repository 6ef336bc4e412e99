"""Translations of the file's blocks (classes used as submodules of another class) reused (torch -> Keras).

A U-Net builds the same `DoubleConv` eight times, and the class that builds them is translated more
than once (input layouts settle in passes), so a block is translated many times for the same inputs.
`BlockMemo.translate` reuses an earlier translation of the block when nothing it depends on differs:

  - the block's input metas, compared strictly (same types, equal values; metas holding other objects
    are not memoised);
  - the driver state the translation can read: every attribute of the driver, each dict entry and
    list item compared by identity (plain values by value), except entries for what the translation
    never reaches: in dicts keyed by id(source node) (site_exprs, ...), the nodes of the classes and
    helpers of the file that the block does not name, directly or through the classes and helpers it
    names or module-level code; in dicts keyed by class or helper name (class_results, failed,
    helper_results), those classes and helpers and the block itself (its own entries are read where
    it is built, TorchToKeras.instance, not by its translation);
  - the driver's findings and site counts are written, never read: they are replayed as a delta.

What the translation wrote is recorded on the first run (dict entries added or replaced, findings and
sites added, the Keras imports it needed, its notes) and written again on reuse, so that the driver
ends in the state a new translation would leave. A translation that changes the driver in any other
way (an attribute replaced, a dict entry removed, a list changed) is not memoised; neither is one that
raises.
"""
from __future__ import annotations

import dataclasses

import libcst as cst

from ..cst_visit import nodes_of
from ..cst_walk import child_nodes
from .keras_code import Meta

NODE_KEYED = ("site_exprs", "arg_sites", "helper_containers")    # dicts keyed by id(source node)
NAME_KEYED = ("class_results", "failed", "helper_results")      # dicts keyed by class or helper name
_PLAIN = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    """A value compared by value: plain constants, tuples of them, metas of them."""
    if isinstance(value, _PLAIN):
        return True
    if type(value) is tuple:
        return all(_plain(v) for v in value)
    if type(value) is Meta:
        return all(_plain(getattr(value, f.name)) for f in dataclasses.fields(Meta))
    return False


def _strict(a, b) -> bool:
    """a == b with the same types throughout (1 and True differ)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(_strict(x, y) for x, y in zip(a, b))
    if type(a) is Meta:
        return all(_strict(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Meta))
    return a == b


def _same(a, b) -> bool:
    return a is b or (type(a) is type(b) and isinstance(a, _PLAIN) and a == b)


def _same_items(a, b) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


class _Snapshot:
    """The driver's attributes as they were (containers copied), to see what a translation wrote."""

    def __init__(self, driver):
        self.attrs = {k: (v, _copy(v)) for k, v in vars(driver).items() if k != "_block_memo"}
        r = driver.result
        self.result = (r.module, len(r.findings), list(r.findings), r.sites, r.failed_sites, list(r.models))
        self.refs = {k: (v, _copy(v)) for k, v in vars(driver.refs).items()}

    def delta(self, driver, ctx):
        """What the translation wrote, as a replayable _Writes; None when it cannot be replayed."""
        writes = _Writes()
        now = {k: v for k, v in vars(driver).items() if k != "_block_memo"}
        for name, (old, copy) in self.attrs.items():
            if name not in now:
                return None
        for name, value in now.items():
            old, copy = self.attrs.get(name, (None, None))
            if isinstance(value, dict) and (name not in self.attrs or isinstance(copy, dict)):
                copy = copy or {}
                if any(k not in value for k in copy) or list(value)[:len(copy)] != list(copy):
                    return None
                replaced = old is not None and value is not old     # (a new attribute is created on replay)
                writes.dicts.append((name, replaced, [(k, v) for k, v in value.items()
                                                      if k not in copy or copy[k] is not v]))
            elif name == "result" or name == "refs":
                if value is not old:
                    return None
            elif value is not old or (isinstance(copy, (list, set)) and not _same_items(list(value), list(copy))):
                return None
        r = driver.result
        module, n, findings, sites, failed, models = self.result
        if r.module is not module or len(r.findings) < n or not _same_items(r.findings[:n], findings) \
                or not _same_items(r.models, models):
            return None
        writes.findings = r.findings[n:]
        writes.sites, writes.failed_sites = r.sites - sites, r.failed_sites - failed
        for name, value in vars(driver.refs).items():
            old, copy = self.refs.get(name, (None, None))
            if isinstance(value, set) and (name not in self.refs or isinstance(copy, set)):
                copy = copy or set()
                if not copy <= value:
                    return None
                writes.refs.append((name, value - copy))
            elif value is not old:
                return None
        writes.notes = list(ctx.notes.items)
        return writes


def _copy(value):
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, set)):
        return type(value)(value)
    return None


class _Writes:
    def __init__(self):
        self.dicts: list[tuple[str, bool, list]] = []    # (attribute, dict replaced, entries written)
        self.findings: list = []
        self.sites = self.failed_sites = 0
        self.refs: list[tuple[str, set]] = []
        self.notes: list = []

    def replay(self, driver, ctx) -> None:
        for name, replaced, entries in self.dicts:
            d = getattr(driver, name, None)
            if d is None:
                d = {}
                setattr(driver, name, d)
            elif replaced:
                d = dict(d)
                setattr(driver, name, d)
            for k, v in entries:
                d[k] = v
        driver.result.findings.extend(self.findings)
        driver.result.sites += self.sites
        driver.result.failed_sites += self.failed_sites
        for name, added in self.refs:
            getattr(driver.refs, name).update(added)
        ctx.notes.items = list(self.notes)


class _Entry:
    def __init__(self, metas, state, tr, result, writes):
        self.metas, self.state, self.tr, self.result, self.writes = metas, state, tr, result, writes


class BlockMemo:
    def __init__(self, driver):
        self.driver = driver
        self.entries: dict[str, list[_Entry]] = {}
        self._reach: dict[str, tuple] = {}
        self._graph = None

    def translate(self, name: str, cls: cst.ClassDef, metas: list, ctx):
        """(ClassTranslation, (new class, wanted metas, output metas, sites)) of block `name` for `metas`."""
        from ..torch_to_keras import ClassTranslation
        if not all(_plain(m) for m in metas):
            tr = ClassTranslation(self.driver, cls, root=False)
            return tr, tr.translate(metas, ctx, "native")
        state = self.state(name)
        for entry in self.entries.get(name, ()):
            if len(entry.metas) == len(metas) and all(_strict(a, b) for a, b in zip(entry.metas, metas)) \
                    and _same_state(entry.state, state):
                entry.writes.replay(self.driver, ctx)
                new_cls, wanted, outs, sites = entry.result
                return entry.tr, (new_cls, list(wanted), list(outs), sites)
        before = _Snapshot(self.driver)
        tr = ClassTranslation(self.driver, cls, root=False)
        result = tr.translate(metas, ctx, "native")
        writes = before.delta(self.driver, ctx)
        if writes is not None:
            new_cls, wanted, outs, sites = result
            self.entries.setdefault(name, []).append(
                _Entry(list(metas), state, tr, (new_cls, list(wanted), list(outs), sites), writes))
        return tr, result

    def state(self, name: str) -> list:
        """What the translation of block `name` can read of the driver: [(attribute, kind, payload)]."""
        reached, unreached = self.reach(name)
        out = []
        for attr, value in vars(self.driver).items():
            if attr in ("_block_memo", "result", "refs"):
                continue
            if isinstance(value, dict):
                items = value.items()
                if attr in NODE_KEYED:
                    items = [(k, v) for k, v in items if k not in unreached]
                elif attr in NAME_KEYED:
                    items = [(k, v) for k, v in items if k in reached]
                out.append((attr, "dict", tuple(items)))
            elif isinstance(value, (list, set)):
                out.append((attr, "items", tuple(value)))
            else:
                out.append((attr, "value", value))
        return out

    def graph(self) -> tuple[dict, dict, dict]:
        """(the file's classes and helpers by name, the names each holds, module-level statements by the
        names they bind)."""
        if self._graph is None:
            driver = self.driver
            defs = {**driver.helpers, **driver.classes}
            names = {n: _names(node) for n, node in defs.items()}
            binders: dict[str, list] = {}
            for s in driver.module.body:
                if not (isinstance(s, (cst.ClassDef, cst.FunctionDef)) and defs.get(s.name.value) is s):
                    for b in _bound(s):
                        binders.setdefault(b, []).append(s)
            self._graph = (defs, names, binders)
        return self._graph

    def reach(self, name: str) -> tuple[set[str], set[int]]:
        """(the file's classes and helpers that block `name` reaches; ids of the nodes of those it does not
        reach). It reaches what it names, what those name, and what the module-level statements binding a
        name it reaches name. Its own entries in the NAME_KEYED dicts are read where it is built, not by
        its translation (unless it reaches itself)."""
        got = self._reach.get(name)
        if got is None:
            defs, names, binders = self.graph()
            seen, todo = set(), list(names[name])
            while todo:
                n = todo.pop()
                if n in seen:
                    continue
                seen.add(n)
                if n in names:
                    todo.extend(names[n])
                for s in binders.get(n, ()):
                    todo.extend(_names(s))
            reached = seen & defs.keys()
            unreached = set()
            for n, node in defs.items():
                if n not in reached and n != name:
                    unreached |= _node_ids(node)
            got = self._reach[name] = (reached, unreached)
        return got


def _names(node) -> set[str]:
    """The names in a tree; for a class or function, not its own name where it is defined."""
    own = getattr(node, "name", None) if isinstance(node, (cst.ClassDef, cst.FunctionDef)) else None
    return {x.value for x in nodes_of(node, cst.Name) if x is not own}


def _bound(stmt) -> set[str]:
    """Names a module-level statement may bind (more than it does: every name in a target)."""
    out = set()
    targets = [n.target for n in nodes_of(stmt, cst.AssignTarget)]
    targets += [n.target for t in (cst.AnnAssign, cst.AugAssign, cst.For, cst.NamedExpr, cst.CompFor)
                for n in nodes_of(stmt, t)]
    targets += [n.asname for n in nodes_of(stmt, cst.WithItem) if n.asname is not None]
    targets += nodes_of(stmt, cst.ImportAlias) + nodes_of(stmt, cst.FunctionDef) + nodes_of(stmt, cst.ClassDef)
    targets += nodes_of(stmt, cst.Global) + nodes_of(stmt, cst.Nonlocal)
    for t in targets:
        if isinstance(t, (cst.FunctionDef, cst.ClassDef)):
            out.add(t.name.value)
        else:
            out |= _names(t)
    return out


def _node_ids(node) -> set[int]:
    out = set()
    stack = [node]
    while stack:
        n = stack.pop()
        out.add(id(n))
        stack.extend(child_nodes(n))
    return out


def _same_state(a: list, b: list) -> bool:
    """Two BlockMemo.state results alike: dict keys equal and values identical, items and values _same."""
    if len(a) != len(b):
        return False
    for (name_a, kind_a, pa), (name_b, kind_b, pb) in zip(a, b):
        if name_a != name_b or kind_a != kind_b:
            return False
        if kind_a == "dict":
            if len(pa) != len(pb) or not all(_same(ka, kb) and va is vb for (ka, va), (kb, vb) in zip(pa, pb)):
                return False
        elif kind_a == "items":
            if not _same_items(pa, pb):
                return False
        elif not _same(pa, pb):
            return False
    return True
