"""Python lists of tensors in a Keras `call` -> the same lists in forward (U-Net skips, DenseNet features).

    skips = []                                      skips = []
    for down in self.downs:                         for down in self.downs:
        skips.append(x)                                 skips.append(x)
        x = down(self.pool(x))                          x = down(self.pool(x))
    for up, conv, skip in zip(self.ups, self.convs, reversed(skips)):   (same loop)
        x = keras.ops.concatenate([skip, x], axis=-1)                    x = torch.cat([skip, x], dim=1)
    keras.ops.concatenate(features, axis=-1)        torch.cat(features, dim=1)

The translator keeps, for each such list, the meta (shape, layout) of every tensor in it, in order:
`L = []` / `L = [a, b]` start it, `L.append(t)` adds t's meta (the tensor keeps its layout: image
tensors stay channels-first). Loops over layer lists and lists of tensors (`zip`, `reversed`) are
unrolled while translating: the body is translated once per iteration, with the loop variables bound
to the layer / the tensor of that iteration, and must give the same code every time. A list whose
contents are not known (appended in a loop or branch that is not unrolled) or used any other way
(passed to a function, `len`, `pop`, returned) is FWT302, never a guess of its layouts.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all, node_code
from ..findings import TranslationError
from ..names import dotted
from ..positions import line_of
from ..values import evaluate


def list_snapshot(ft) -> dict:
    return {k: (list(v) if v is not None else None) for k, v in ft.tensor_lists.items()}


def forget_changed_lists(ft, before: dict) -> None:
    """Lists appended to in a block translated once (a loop not unrolled, a branch): contents unknown."""
    for name, metas in list(ft.tensor_lists.items()):
        if name not in before:
            continue
        old = before[name]
        if old is None or metas is None or len(old) != len(metas) or any(a is not b for a, b in zip(old, metas)):
            ft.tensor_lists[name] = None


def _fail(message: str, node) -> TranslationError:
    return TranslationError("FWT302", message, line_of(node))


def _channels_first(ft, expr, meta):
    """Image tensors (rank 4, 5) are kept in lists channels-first, as torch code holds them: a list
    joined along channels or read back by layers then needs no permute (a model input put in a list
    first is taken channels-first by the next pass of the translation)."""
    if meta is None or isinstance(meta, list) or meta.rank is None or meta.rank < 4 or meta.layout == "cf":
        return expr, meta
    return ft.convert(expr, meta, "cf")


def list_statement(ft, small):
    """`L = []`, `L = [a, b]` (tensors) and `L.append(t)`: the translated statement, or None."""
    from ..frontends.keras_packed_inputs import unpack_statement
    done = unpack_statement(ft, small)           # `x, y = inputs`
    if done is not None:
        return done
    if isinstance(small, cst.Assign):
        if not (len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, cst.List)
                and not any(isinstance(el, cst.StarredElement) for el in small.value.elements)):
            return None
        name = small.targets[0].target.value
        pairs = [_channels_first(ft, *ft.expr(el.value)) for el in small.value.elements]
        value = small.value.with_changes(elements=[el.with_changes(value=e) for el, (e, _) in
                                                   zip(small.value.elements, pairs)])
        metas = [m for _, m in pairs]
        ft.bind(small.targets[0].target, None)
        if all(m is not None and not isinstance(m, list) for m in metas):
            ft.tensor_lists[name] = metas
        return small.with_changes(value=value)
    if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
        return None
    call = small.value
    func = call.func
    if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
            and func.value.value in ft.tensor_lists):
        return None
    name = func.value.value
    if func.attr.value != "append" or len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
        raise _fail(f"{name}.{func.attr.value}(...) on a list of tensors: only append(tensor) is translated", small)
    expr, meta = _channels_first(ft, *ft.expr(call.args[0].value))
    if meta is None or isinstance(meta, list):
        raise _fail(f"{name}.append(...) of something that is not one tensor known here", small)
    if ft.tensor_lists[name] is not None:
        ft.tensor_lists[name] = ft.tensor_lists[name] + [meta]
    return small.with_changes(value=call.with_changes(args=[call.args[0].with_changes(value=expr)]))


def list_expr(ft, node):
    """`L[i]` (a constant index): (expression, the tensor's meta); a bare list name: FWT302; else None."""
    if isinstance(node, cst.Name) and node.value in ft.tensor_lists:
        raise _fail(f"the list of tensors '{node.value}' used in a form not translated here "
                    "(its tensors' layouts would be lost)", node)
    if not (isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name)
            and node.value.value in ft.tensor_lists):
        return None
    name = node.value.value
    metas = ft.tensor_lists[name]
    index = node.slice[0].slice if len(node.slice) == 1 else None
    i = evaluate(index.value, ft.scope) if isinstance(index, cst.Index) else None
    if metas is None or not isinstance(i, int) or isinstance(i, bool) or not -len(metas) <= i < len(metas):
        raise _fail(f"{node_code(node)}: an item of a list of tensors whose contents or index are not known here",
                    node)
    return node, metas[i]


def custom_item(ft, node: cst.Subscript):
    """`self.blocks[0]` / `self.blocks[-1]` (a constant index) of a layer list holding instances of the
    file's classes: that instance, called through the same subscript in torch (an nn.ModuleList item);
    None when the node is no such item."""
    from .torch_forward import CustomRef
    group = ft.layer_lists.get(dotted(node.value) or "")
    if not group or len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    if len(group) > 1 and group[0] is group[-1]:
        return None                        # `[Dense(8) for _ in range(n)]`: layer_of's (rule layers only)
    i = evaluate(node.slice[0].slice.value, ft.scope)
    if not isinstance(i, int) or isinstance(i, bool) or not -len(group) <= i < len(group) or \
            not isinstance(group[i], CustomRef):
        return None
    group[i].ref = node
    return group[i]


def list_argument(op, name: str):
    """A list of tensors passed by name where an op takes a list (`keras.ops.concatenate(features)`):
    (the name, the metas of its tensors), or None when the argument is not such a name."""
    ft = op.ft
    node = op.bound.get(name)
    if not (isinstance(node, cst.Name) and node.value in ft.tensor_lists):
        return None
    metas = ft.tensor_lists[node.value]
    if not metas:
        raise _fail(f"'{node.value}': a list of tensors whose contents are not known here", node)
    return node, metas


def check_list_layout(node, metas, want: str) -> None:
    """The tensors of a list passed whole must already be in the layout the op works in."""
    for m in metas:
        if m.flat_from is not None or (m.layout != want and (m.rank is None or m.rank > 2)):
            raise _fail(f"'{node.value}': its tensors are not all in one layout (a per-item permute "
                        "would be needed)", node)


# ---- loops over layer lists and lists of tensors ------------------------------------------------------------

def _sequence(ft, node):
    """("layers", [Layer/CustomRef]) or ("tensors", [metas]) for `self.blocks`, `skips`, `reversed(...)`;
    None when the node is neither; FWT302/FWT103 when it is one whose items are not known."""
    if isinstance(node, cst.Call) and dotted(node.func) == "reversed" and len(node.args) == 1 \
            and not node.args[0].keyword and not node.args[0].star:
        inner = _sequence(ft, node.args[0].value)
        return (inner[0], list(reversed(inner[1]))) if inner is not None else None
    if isinstance(node, cst.Name) and node.value in ft.tensor_lists:
        metas = ft.tensor_lists[node.value]
        if metas is None:
            raise _fail(f"a loop over the list of tensors '{node.value}' whose contents are not known here", node)
        return "tensors", metas
    group = ft.layer_lists.get(dotted(node) or "")
    if group:
        if len(group) > 1 and group[0] is group[-1]:
            return "repeated", group           # `[Dense(8) for _ in range(n)]`: n not known
        return "layers", group
    return None


def _involves_lists(ft, node) -> bool:
    return any(n.value in ft.tensor_lists for n in find_all(node, cst.Name))


def loop_over_lists(ft, stmt):
    """`for a, b in zip(L1, L2, ...)` / `for t in L` / `for t in reversed(L)` over layer lists and lists of
    tensors: unrolled (the translated loop, or None when the loop is not one of these)."""
    if not isinstance(stmt, cst.For):
        return None
    it = stmt.iter
    zipped = isinstance(it, cst.Call) and dotted(it.func) == "zip" and it.args and \
        not any(a.keyword or a.star for a in it.args)
    nodes = [a.value for a in it.args] if zipped else [it]
    sequences = [_sequence(ft, n) for n in nodes]
    tensors = any(s is not None and s[0] == "tensors" for s in sequences)
    if not zipped and not tensors:
        return None                        # a single layer list: loop_over_layers
    if any(s is not None and s[0] == "repeated" for s in sequences):
        raise TranslationError("FWT103", "a loop over a layer list repeated a number of times that is not "
                               "constant, together with other lists", line_of(stmt))
    if any(s is None for s in sequences) or not any(s is not None for s in sequences):
        if tensors or _involves_lists(ft, stmt.iter):
            raise _fail("a loop over a list of tensors together with something else than layer lists and "
                        "lists of tensors", stmt)
        if not any(s is not None for s in sequences):
            return None
        raise TranslationError("FWT103", "a loop over layer lists together with other values: not translated",
                               line_of(stmt))
    target = stmt.target
    names = [el.value for el in target.elements] if zipped and isinstance(target, (cst.Tuple, cst.List)) \
        else [target] if not zipped else None
    if names is None or len(names) != len(sequences) or not all(isinstance(n, cst.Name) for n in names):
        raise TranslationError("FWT103", "a loop over lists whose variables are not one name per list",
                               line_of(stmt))
    if stmt.orelse is not None or find_all(stmt.body, (cst.Break, cst.Continue, cst.Return)):
        raise TranslationError("FWT103", "a loop over lists with break/continue/return/else: not translated",
                               line_of(stmt))
    iterated = {name.value for n in nodes for name in find_all(n, cst.Name) if name.value in ft.tensor_lists}
    for call in find_all(stmt.body, cst.Call):
        if isinstance(call.func, cst.Attribute) and dotted(call.func.value) in iterated:
            raise _fail("a loop that changes the list of tensors it iterates over", stmt)
    count = min(len(s[1]) for s in sequences)
    if count == 0:
        raise TranslationError("FWT103", "a loop over an empty list: not translated", line_of(stmt))
    from .torch_forward import CustomRef
    codes, body = set(), None
    variables = [n.value for n in names]
    for k in range(count):
        before = ft.snapshot()
        for (kind, items), var in zip(sequences, variables):
            item = items[k]
            if kind == "layers":
                item.ref = cst.Name(var)
                (ft.custom_refs if isinstance(item, CustomRef) else ft.layer_refs)[var] = item
            else:
                ft.tensor_lists.pop(var, None)
                ft.env[var] = item
        body = ft.restore_layouts(ft.block(stmt.body.body), before)
        codes.add("".join(node_code(s) for s in body))
        for (kind, items), var in zip(sequences, variables):
            if kind == "layers" and isinstance(items[k], CustomRef):
                items[k].ref = None
    for var, (kind, _) in zip(variables, sequences):
        if kind == "layers":
            ft.layer_refs.pop(var, None)
            ft.custom_refs.pop(var, None)
    if len(codes) != 1:
        raise TranslationError("FWT103", "the loop over lists translates differently for its items (sizes or "
                               "layouts change): unroll it by hand", line_of(stmt))
    return stmt.with_changes(body=stmt.body.with_changes(body=body))
