"""Python lists of tensors built in forward (torch -> Keras): U-Net skips, DenseNet features, heads.

A list stays a plain Python list of Keras tensors. Its items must share one kind, layout and rank (their
shapes are generalised where they differ); what is known of them is kept in the environment under the
key "<name>[]" (not an identifier, so it cannot clash), so loops reach a fixed point of it too. The name
itself keeps the meta of an empty tuple, as keras_forward_rnn.py's lists (`outputs.append(h)`) do.
As an expression a list is a Meta of kind "tlist" whose `info` is the meta of one item:

    skips = []; skips.append(x)           kept (item facts merged)
    feats = [x]                            a list literal of tensors assigned to a name: a list
    skips.pop() / skips[-1] / skips[i]     one item
    skips[::-1] / skips[1:] / reversed(skips) / list(skips)      a list of the same items
    for s in skips / zip(reversed(skips), self.ups)              one item per step (keras_forward_loops.py)
    torch.cat(feats, 1)                    keras.ops.concatenate(feats, axis=-1) (the channel axis of images)
    [f(x) for f in self.heads]             a list comprehension: a list

Items of different layouts or ranks are reported (FWT202), never guessed.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import visit
from ..findings import TranslationError
from ..positions import line_of
from .keras_code import OTHER, Meta, call, code, keras_axis, node_of, tensor

EMPTY = Meta(kind="tuple", items=())


def key(name: str) -> str:
    return name + "[]"


def item_meta(ft, name: str):
    return ft.env.get(key(name))


def tlist(elem: Meta) -> Meta:
    return Meta(kind="tlist", info=elem)


def remember(ft, name: str, em: Meta, line: int) -> None:
    """Merge the facts of one more item of list `name`."""
    from .keras_forward_base import merge_metas
    if not em.is_tensor:
        raise TranslationError("FWT103", f"a list '{name}' of values that are not tensors", line)
    if em.is_tensor and em.flat is not None:
        raise TranslationError("FWT202", "a flattened image added to a list", line)
    old = ft.env.get(key(name))
    if old is not None and old != em:
        try:
            em = merge_metas(old, em, name, line)
        except TranslationError:
            err = TranslationError("FWT202", f"the list '{name}' holds tensors of different layouts or ranks: "
                                             "not translated", line)
            loose = [m for m in (old, em) if m.is_tensor and m.rank is None and m.origin is not None]
            if len(loose) != 1:
                raise err from None
            ft.deferred.append(err)          # a model input whose layout and rank a rerun settles
            em = em if loose[0] is old else old
    ft.env[key(name)] = em


def bind_list(ft, name: str, meta: Meta, line: int) -> None:
    """`name = <a list value>`."""
    ft.env[name] = EMPTY
    ft.env.pop(key(name), None)
    if meta.info is not None:
        ft.env[key(name)] = meta.info


def _mutated(cls) -> set:
    """Names that some method of the class mutates as a list (append / insert / pop / extend / x[i] = / +=)."""
    got = getattr(cls, "_tlist_mutated", None)
    if got is not None:
        return got
    names: set = set()

    def call_(n):
        f = n.func
        if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and \
                f.attr.value in ("append", "insert", "pop", "extend"):
            names.add(f.value.value)

    def target(n):
        if isinstance(n.target, cst.Subscript) and isinstance(n.target.value, cst.Name):
            names.add(n.target.value.value)

    def aug(n):
        if isinstance(n.target, cst.Name):
            names.add(n.target.value)
    for fn in cls.methods.values():
        visit(fn, {cst.Call: call_, cst.AssignTarget: target, cst.AugAssign: aug})
    cls._tlist_mutated = names
    return names


def literal_as_list(ft, target: str, value, meta: Meta, line: int):
    """`feats = [x]` where feats is then grown or changed: a list literal of tensors of one layout and rank
    -> a tlist meta (None: not that; a list never changed keeps the exact facts of each item)."""
    if not isinstance(value, cst.List) or meta.kind != "tuple" or not meta.items:
        return None
    if target not in _mutated(ft.cls):
        return None
    if not all(m.is_tensor and m.flat is None for m in meta.items):
        return None
    from .keras_forward_base import merge_metas
    elem = meta.items[0]
    try:
        for m in meta.items[1:]:
            elem = merge_metas(elem, m, "list", line)
    except TranslationError:
        return None
    return tlist(elem)


def name_value(ft, node: cst.Name):
    """A list name read as a value (None: not a list with known items)."""
    m = ft.env.get(node.value)
    elem = ft.env.get(key(node.value))
    if elem is None or m is None or not (m.kind == "tuple" and not m.items):
        return None
    return node, tlist(elem)


def subscript(ft, node: cst.Subscript, base, bm: Meta):
    """skips[-1] (an item) / skips[::-1] (a list)."""
    line = line_of(node)
    if len(node.slice) != 1:
        raise TranslationError("FWT103", f"{code(node)[:60]}: index into a list", line)
    s = node.slice[0].slice
    if isinstance(s, cst.Slice):
        for part in ("lower", "upper", "step"):
            v = getattr(s, part)
            if v is not None:
                n, m = ft.expr(v)
                if m.is_tensor:
                    raise TranslationError("FWT103", "a list sliced with a tensor", line)
        return node.with_changes(value=base), bm
    n, m = ft.expr(s.value)
    if m.is_tensor:
        raise TranslationError("FWT103", "a list indexed with a tensor", line)
    return node.with_changes(value=base, slice=[node.slice[0].with_changes(slice=s.with_changes(value=n))]), bm.info


def special_call(ft, node: cst.Call):
    """skips.pop(), skips.insert(i, x), reversed(skips), list(skips), feats.append(x) on a literal list."""
    func = node.func
    line = line_of(node)
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and \
            func.attr.value in ("pop", "insert", "append"):
        name = func.value.value
        got = name_value(ft, func.value)
        if got is None:
            return None
        elem = got[1].info
        if func.attr.value == "pop":
            args = []
            for a in node.args:
                n, m = ft.expr(a.value)
                if m.is_tensor or a.keyword is not None:
                    raise TranslationError("FWT103", f"{name}.pop() argument not translated", line)
                args.append(a.with_changes(value=n))
            return node.with_changes(args=args), elem
        if func.attr.value == "append":
            return None                       # keras_forward_rnn.list_append (items kept in the env)
        if len(node.args) != 2 or any(a.keyword is not None or a.star for a in node.args):
            raise TranslationError("FWT103", f"{name}.insert() arguments not translated", line)
        i, im = ft.expr(node.args[0].value)
        x, xm = ft.expr(node.args[1].value)
        if im.is_tensor:
            raise TranslationError("FWT103", f"{name}.insert() at a tensor index", line)
        remember(ft, name, xm, line)
        return node.with_changes(args=[node.args[0].with_changes(value=i), node.args[1].with_changes(value=x)]), \
            OTHER
    if isinstance(func, cst.Name) and func.value in ("reversed", "list") and func.value not in ft.env \
            and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star:
        n, m = ft.expr(node.args[0].value)
        if m.kind == "tuple" and m.items and any(i.is_tensor for i in m.items):   # a list never changed
            items = m.items[::-1] if func.value == "reversed" else m.items
            return node.with_changes(args=[node.args[0].with_changes(value=n)]), m.with_(items=tuple(items))
        if m.kind != "tlist":
            return None if not m.is_tensor else _tensor_arg(func.value, line)
        return node.with_changes(args=[node.args[0].with_changes(value=n)]), m
    return None


def _tensor_arg(name, line):
    raise TranslationError("FWT103", f"{name}() of a tensor in forward is not translated", line)


def torch_function(ft, path: str, node: cst.Call):
    """torch.cat(feats, dim) of a list of images (the channel axis remapped); None: not handled here."""
    args = list(node.args)
    if not args or args[0].keyword not in (None,) or args[0].star:
        return None
    first = args[0].value
    if isinstance(first, cst.Name):
        got = name_value(ft, first)
        if got is None:
            return None
        n, m = got
        image = m.info.is_tensor and m.info.layout == "cf" and (m.info.rank or 0) > 2
        if first.value in ft.__dict__.get("_rnn_lists", {}) and not (image and path == "torch.cat"):
            return None                        # keras_forward_rnn.torch_function (the same Keras code)
    elif isinstance(first, (cst.Subscript, cst.Call)):
        n, m = ft.expr(first)
        if m.kind != "tlist":
            return None
    else:
        return None
    line = line_of(node)
    elem = m.info
    if not elem.is_tensor or elem.rank is None:
        err = TranslationError("FWT302", f"{path} of a list whose items' rank is not known", line)
        if not (elem.is_tensor and elem.origin is not None and path == "torch.cat"):
            raise err
        ft.deferred.append(err)              # a model input: the consumer's request settles its rank
        return call(ft.refs.ops("concatenate"), [n], [("axis", node_of(0))]), elem.with_(shape=None)
    dim = 0
    for a in args[1:]:
        if a.keyword is not None and a.keyword.value != "dim" or a.star:
            raise TranslationError("FWT201", f"{path}: argument {code(a)}", line)
        from .keras_forward_base import _const
        dim = _const(a.value)
    if not isinstance(dim, int):
        raise TranslationError("FWT202", f"{path}: dim must be a constant", line)
    shape = tuple(elem.shape) if elem.shape is not None else (None,) * elem.rank
    if path == "torch.cat":
        d = dim % elem.rank
        out = elem.with_(shape=shape[:d] + (None,) + shape[d + 1:], origin=None)
        return call(ft.refs.ops("concatenate"), [n], [("axis", node_of(keras_axis(dim, elem)))]), out
    if elem.layout == "cf" and elem.rank > 2 or elem.flat is not None:
        raise TranslationError("FWT202", "torch.stack of channels-last images is not translated", line)
    rank = elem.rank + 1
    axis = keras_axis(dim, tensor(rank))
    d = dim % rank
    out = tensor(shape=shape[:d] + (None,) + shape[d:])
    kwargs = [("axis", node_of(axis))] if axis != 0 else []
    return call(ft.refs.ops("stack"), [n], kwargs), out


def list_comp(ft, node: cst.ListComp):
    """[f(x) for f in self.heads] -> the same comprehension over the Keras objects: a list."""
    from .keras_forward_loops import bind, iteration
    line = line_of(node)
    comp = node.for_in
    if comp.inner_for_in is not None or comp.ifs or comp.asynchronous is not None:
        raise TranslationError("FWT103", "a list comprehension with several for / if clauses in forward", line)
    saved = dict(ft.env)
    it, item = iteration(ft, comp.iter)
    bind(ft, comp.target, item, line)
    elt, em = ft.expr(node.elt)
    ft.env = saved
    if not em.is_tensor:
        if em.kind == "other":
            return node.with_changes(elt=elt, for_in=comp.with_changes(iter=it)), OTHER
        raise TranslationError("FWT103", "a list comprehension of values that are not tensors", line)
    if em.flat is not None:
        raise TranslationError("FWT202", "a list of flattened images", line)
    return node.with_changes(elt=elt, for_in=comp.with_changes(iter=it)), tlist(em)


def assign_item(ft, small: cst.Assign, target: cst.Subscript, node, meta: Meta, line: int):
    """`feats[i] = t` on a list of tensors (None: not a list)."""
    if not isinstance(target.value, cst.Name) or name_value(ft, target.value) is None:
        return None
    if len(target.slice) != 1 or isinstance(target.slice[0].slice, cst.Slice):
        raise TranslationError("FWT103", f"{code(target)[:60]}: assignment to a slice of a list", line)
    idx = target.slice[0].slice
    i, im = ft.expr(idx.value)
    if im.is_tensor:
        raise TranslationError("FWT103", "a list indexed with a tensor", line)
    remember(ft, target.value.value, meta, line)
    new_target = target.with_changes(slice=[target.slice[0].with_changes(slice=idx.with_changes(value=i))])
    return small.with_changes(targets=[small.targets[0].with_changes(target=new_target)], value=node)
