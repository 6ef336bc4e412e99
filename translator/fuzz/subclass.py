"""The "subclass" form of the Keras fuzzer: random layer graphs written as a `keras.Model` subclass.

Layers are created in `__init__` (after `super().__init__(**kwargs)`), the dataflow is in `call`. The
model is drawn as a trunk of segments, each rendered in one of the structural styles real code uses
(every one keeps the model equivalent to the drawn graph, so the generator predicts its outputs):

    plain      layers held in plain attributes (`self.dense_3 = layers.Dense(8)`), now and then a
               shape-keeping layer called twice (shared weights), a residual merge or two branches
               concatenated (merge layer attribute, `layers.add([...])`, `+` or `keras.ops.*`)
    block      a nested `keras.layers.Layer` subclass for consecutive layers, its sizes constructor
               parameters (`Block1(8, 3)`), used once or several times (shape-keeping blocks)
    seq        `keras.Sequential(items)` of a local list built with `[...]`, append, extend, `+=`,
               appends in a `for` over a constant range, appends under an `if` on a constructor
               parameter (the entry passes a value, drawn)
    list       a Python list of layers (`self.blocks = []` + append, in a loop or one by one),
               iterated in `call`
    tensors    Python lists of tensors in `call`: features concatenated (DenseNet growth or parallel
               heads), skips appended in a loop and read back with `reversed` (through `zip`)

`draw_subclass(b, prefix)` returns the class source, the entry expression, the class name and the
predicted output shapes.
"""
from __future__ import annotations

import dataclasses
import re

from .families import MAX_DIM, MAX_ELEMS

# Families Keras itself cannot build inside a subclassed model: Normalization(mean=, variance=) builds
# its constants in the scratch graph of the model's first (symbolic) call, then fails with "tensor is
# out of scope" (Keras 3.15.1).
UNBUILDABLE = {"normalization"}
_INT = re.compile(r"\d+")
_PARAM_NAMES = {"Dense": "units", "EinsumDense": "units", "Embedding": "dim"}


def _fits(shape) -> bool:
    import math
    if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
        return False
    return all(d <= MAX_DIM for d in shape[:-1]) and math.prod(shape) <= MAX_ELEMS


def _has_op(w, path: str) -> bool:
    return path in w.g.rules.ops


class _Node:                       # what _Builder.draw_layer needs of a node
    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype


class Writer:
    """Accumulates the rendered class: __init__ lines, call lines, helper classes, constructor params."""

    def __init__(self, b, prefix: str):
        self.b, self.g, self.prefix = b, b.g, prefix
        self.init: list[str] = []
        self.call: list[str] = []
        self.classes: list[str] = []             # helper class sources
        self.block_classes: dict = {}            # signature -> class name
        self.params: list[tuple[str, str, str | None]] = []   # (name, default, entry value or None)
        self.names: set[str] = set()
        self.used: set[str] = set()              # Keras layer classes named (from-import style)
        self.families: list[str] = []
        self.counter = 0
        self.var = "x"
        self.shape: tuple = ()
        self.dtype = "float32"
        self.snapshots: list[tuple[str, tuple]] = []   # earlier trunk tensors still bound (outputs)

    # -- names
    def fresh(self, stem: str) -> str:
        self.counter += 1
        name = f"{stem}_{self.counter}"
        self.names.add(name)
        return name

    def param(self, stem: str, default: str, entry: str | None) -> str:
        name, k = stem, 1
        while name in {p[0] for p in self.params} or name in ("self", "x", "inputs", "kwargs"):
            k += 1
            name = f"{stem}{k}"
        self.params.append((name, default, entry))
        return name

    # -- layers
    def draw(self, shape, dtype="float32", keep=None, simple=False):
        """(family, layer) for an input of `shape`, or None. `simple`: called as `layer(x)` (lists)."""
        b = self.b
        saved = b.form
        b.form = "sequential" if simple else "functional"
        try:
            drawn = b.draw_layer(_Node(shape, dtype), keep)
        finally:
            b.form = saved
        if drawn is None:
            return None
        fam, layer = drawn
        if (simple and layer.call != "{layer}({x})") or fam.name in UNBUILDABLE:
            return None
        return drawn

    def ctor(self, fam, layer) -> str:
        self.used.add(layer.cls)
        self.used.update(layer.classes)
        self.families.append(fam.name)
        return layer.render(self.prefix)

    def apply(self, obj: str, layer, var: str) -> str:
        return layer.call.replace("{layer}", obj).replace("{x}", var)

    def rebind(self, new_shape, new_dtype="float32") -> str:
        """The trunk's next variable: `x` again, or a fresh name (earlier ones may become outputs)."""
        if self.g.int(0, 2) == 0 and self.var:
            self.snapshots.append((self.var, self.shape))
            self.var = self.fresh("h")
        self.shape, self.dtype = tuple(new_shape), new_dtype
        return self.var

    def loop_rebinds(self) -> None:
        """A loop is about to rebind the trunk variable: an earlier snapshot of it is gone."""
        self.snapshots = [s for s in self.snapshots if s[0] != self.var]


# ---- segments -------------------------------------------------------------------------------------

def seg_plain(w: Writer) -> bool:
    drawn = w.draw(w.shape, w.dtype)
    if drawn is None:
        return False
    fam, layer = drawn
    attr = f"self.{w.fresh(fam.name)}"
    if _INT.fullmatch(layer.args[0] if layer.args else "") and w.g.int(0, 3) == 0:
        value = layer.args[0]
        name = w.param(_PARAM_NAMES.get(layer.cls, "filters" if "Conv" in layer.cls else "size"), value,
                       w.g.pick([None, value]))
        layer = dataclasses.replace(layer, args=[name] + layer.args[1:])
    w.init.append(f"{attr} = {w.ctor(fam, layer)}")
    src = w.var
    twice = layer.out == w.shape and w.dtype == "float32" and w.g.int(0, 4) == 0
    out = w.rebind(layer.out)
    w.call.append(f"{out} = {w.apply(attr, layer, src)}")
    if twice:                                   # the same layer object again: shared weights
        w.call.append(f"{out} = {w.apply(attr, layer, out)}")
    return True


def _merge_text(w: Writer, merge, layer, vars_: list[str]) -> str:
    """A merge of `vars_`: a layer attribute, the functional form, an operator or keras.ops."""
    g = w.g
    styles = ["attr", "attr"]
    if merge.function and merge.name in w.b.act.functions:
        styles.append("function")
    if merge.name == "add" and len(vars_) == 2:
        styles += ["operator"] + (["ops"] if _has_op(w, "keras.ops.add") else [])
    if merge.name == "multiply" and len(vars_) == 2:
        styles.append("operator")
    if merge.name == "concatenate" and _has_op(w, "keras.ops.concatenate") and layer.args in (
            [], ["axis=-1"]):
        styles.append("ops")
    style = g.pick(styles)
    if style == "operator":
        return f" {'+' if merge.name == 'add' else '*'} ".join(vars_)
    if style == "ops":
        if merge.name == "add":
            return f"keras.ops.add({vars_[0]}, {vars_[1]})"
        return f"keras.ops.concatenate([{', '.join(vars_)}], axis=-1)"
    if style == "function":
        args = ", ".join(a.replace("{L}", w.prefix) for a in layer.args)
        w.used.add(merge.function)
        w.families.append(merge.name)
        return f"{w.prefix}{merge.function}([{', '.join(vars_)}]{', ' + args if args else ''})"
    attr = f"self.{w.fresh(merge.name)}"
    w.init.append(f"{attr} = {w.ctor(merge, layer)}")
    return (layer.call.replace("{layer}", attr).replace("{xs}", f"[{', '.join(vars_)}]")
            .replace("{x0}", vars_[0]).replace("{x1}", vars_[-1]))


def seg_residual(w: Writer) -> bool:
    merges = [m for m in w.b.act.merges if m.kind == "equal"]
    if not merges or w.dtype != "float32":
        return False
    chain = []
    shape = w.shape
    for _ in range(w.g.int(1, 2)):
        drawn = w.draw(shape, keep="shape")
        if drawn is not None:
            chain.append(drawn)
    if not chain:
        return False
    merge = w.g.pick(merges)
    mlayer = merge.build(w.g, [w.shape, w.shape])
    if mlayer is None:
        return False
    y = w.fresh("y")
    src = w.var
    cur = src
    for fam, layer in chain:
        attr = f"self.{w.fresh(fam.name)}"
        w.init.append(f"{attr} = {w.ctor(fam, layer)}")
        w.call.append(f"{y} = {w.apply(attr, layer, cur)}")
        cur = y
    vars_ = [src, y] if w.g.flag() else [y, src]
    text = _merge_text(w, merge, mlayer, vars_)
    out = w.rebind(mlayer.out)
    w.call.append(f"{out} = {text}")
    return True


def seg_branch(w: Writer) -> bool:
    concat = [m for m in w.b.act.merges if m.kind == "concat"]
    if not concat or w.dtype != "float32":
        return False
    ends = []
    src = w.var
    init, call = len(w.init), len(w.call)       # rolled back if the branches cannot be joined
    for k in range(2):
        var, shape = src, w.shape
        for _ in range(w.g.int(0 if not ends else 1, 2)):
            drawn = w.draw(shape, keep="rank")
            if drawn is None:
                continue
            fam, layer = drawn
            attr = f"self.{w.fresh(fam.name)}"
            w.init.append(f"{attr} = {w.ctor(fam, layer)}")
            nxt = w.fresh("b")
            w.call.append(f"{nxt} = {w.apply(attr, layer, var)}")
            var, shape = nxt, layer.out
        ends.append((var, shape))
    mlayer = concat[0].build(w.g, [s for _, s in ends]) if ends[0][0] != ends[1][0] else None
    if mlayer is None or not _fits(mlayer.out):
        del w.init[init:], w.call[call:]
        return False
    text = _merge_text(w, concat[0], mlayer, [v for v, _ in ends])
    out = w.rebind(mlayer.out)
    w.call.append(f"{out} = {text}")
    return True


def _template(w: Writer, shape, dtype, keep, n: int, simple: bool):
    chain = []
    for _ in range(n):
        drawn = w.draw(shape, dtype, keep=keep, simple=simple)
        if drawn is None:
            break
        chain.append(drawn)
        shape, dtype = drawn[1].out, "float32"
    return chain, shape, dtype


def _block_class(w: Writer, chain) -> tuple[str, list[str]]:
    """The helper Layer class for `chain` (shared by chains of the same signature) and the
    constructor arguments of one instance."""
    g = w.g
    params, values, layers = [], [], []
    for fam, layer in chain:
        first = layer.args[0] if layer.args else ""
        if _INT.fullmatch(first) and g.int(0, 3):
            stem = _PARAM_NAMES.get(layer.cls, "filters" if "Conv" in layer.cls else "n")
            name, k = stem, 1
            while name in params:
                k += 1
                name = f"{stem}{k}"
            params.append(name)
            values.append(first)
            layer = dataclasses.replace(layer, args=[name] + layer.args[1:])
        layers.append((fam, layer))
    signature = tuple((layer.cls, tuple(layer.args), layer.call) for _, layer in layers)
    name = w.block_classes.get(signature)
    if name is None:
        name = f"Block{len(w.block_classes) + 1}"
        w.block_classes[signature] = name
        kwargs = ", **kwargs" if g.flag() else ""
        sig = ", ".join(["self"] + params) + kwargs
        lines = [f"class {name}(keras.layers.Layer):", f"    def __init__({sig}):",
                 f"        super().__init__({'**kwargs' if kwargs else ''})"]
        for i, (fam, layer) in enumerate(layers):
            lines.append(f"        self.layer{i} = {w.ctor(fam, layer)}")
        arg = g.pick(["x", "inputs"])
        lines += ["", f"    def call(self, {arg}):"]
        for i, (_, layer) in enumerate(layers):
            lines.append(f"        {arg} = {layer.call.replace('{layer}', f'self.layer{i}').replace('{x}', arg)}")
        lines.append(f"        return {arg}")
        w.classes.append("\n".join(lines) + "\n")
    else:
        for fam, layer in layers:
            w.families.append(fam.name)
    if g.flag():
        args = values
    else:
        args = [f"{p}={v}" for p, v in zip(params, values)]
    return name, args


def seg_block(w: Writer) -> bool:
    repeat = w.g.int(0, 2) == 0 and w.dtype == "float32"
    chain, shape, dtype = _template(w, w.shape, w.dtype, "shape" if repeat else None, w.g.int(1, 3),
                                    simple=False)
    if not chain:
        return False
    times = w.g.int(2, 3) if repeat else 1
    comprehension = times > 1 and w.g.int(0, 2) == 0
    instances = []
    for _ in range(1 if comprehension else times):     # (every class written is used)
        name, args = _block_class(w, chain)
        instances.append(f"{name}({', '.join(args)})")
    if comprehension:                           # a list comprehension of instances, looped over
        attr = f"self.{w.fresh('blocks')}"
        w.init.append(f"{attr} = [{instances[0]} for _ in range({times})]")
        w.loop_rebinds()
        loopvar = w.g.pick(["block", "blk"])
        w.call += [f"for {loopvar} in {attr}:", f"    {w.var} = {loopvar}({w.var})"]
        w.shape, w.dtype = shape, dtype
        return True
    for inst in instances:
        attr = f"self.{w.fresh('block')}"
        w.init.append(f"{attr} = {inst}")
        src = w.var
        out = w.rebind(shape, dtype)
        w.call.append(f"{out} = {attr}({src})")
    return True


def _repeat_unit(w: Writer, shape):
    """(constructor text, families) of one item appended again and again (keeps `shape`): a layer, or
    now and then an instance of a nested Layer class of one or two such layers. None if nothing draws."""
    g = w.g
    if g.int(0, 2) == 0:
        chain, _, _ = _template(w, shape, "float32", "shape", g.int(1, 2), simple=True)
        if not chain:
            return None
        name, args = _block_class(w, chain)
        return f"{name}({', '.join(args)})", [f.name for f, _ in chain]
    chain, _, _ = _template(w, shape, "float32", "shape", 1, simple=True)
    if not chain:
        return None
    (fam, layer), = chain
    return w.ctor(fam, layer), [fam.name]


def _growing(w: Writer, shape, local: str, indent: str = ""):
    """`for i in range(n): local.append(Dense(u * (i + 1)))`: a size that changes in the loop (the
    translation must track the input size of each iteration). (lines, output shape) or None."""
    g = w.g
    if "dense" not in {f.name for f in w.b.act.families} or w.dtype != "float32":
        return None
    n, u = g.int(2, 3), g.int(1, 4)
    out = tuple(shape[:-1]) + (u * n,)
    if not _fits(out):
        return None
    var = g.pick(["i", "k"])
    w.used.add("Dense")
    w.families += ["dense"] * n
    return [f"{indent}for {var} in range({n}):",
            f"{indent}    {local}.append({w.prefix}Dense({u} * ({var} + 1)))"], out


def seg_seq(w: Writer) -> bool:
    """keras.Sequential of a list built in __init__ (append / extend / += / loop / if)."""
    g = w.g
    local = g.pick(["body", "layers_", "stack", "items"])
    lines: list[str] = []
    shape, dtype = w.shape, w.dtype
    parts = []
    chain, shape, dtype = _template(w, shape, dtype, None, g.int(1, 3), simple=True)
    if chain:
        parts.append(("plain", chain))
    if dtype == "float32" and g.flag():
        rep = _repeat_unit(w, shape)
        if rep:
            parts.append(("loop", rep))
    if dtype == "float32" and g.int(0, 3) == 0:
        grow = _growing(w, shape, local, "")
        if grow:
            parts.append(("grow", grow[0]))
            shape = grow[1]
    if dtype == "float32" and g.int(0, 2) == 0:
        cond, _, _ = _template(w, shape, dtype, "shape", g.int(1, 2), simple=True)
        if cond:
            parts.append(("if", cond))
    if all(kind == "if" for kind, _ in parts):     # (Keras cannot build an empty Sequential)
        return False
    first = True
    for kind, items in parts:
        if kind == "plain":
            ctors = [w.ctor(f, la) for f, la in items]
            if first and g.flag():
                lines.append(f"{local} = [{', '.join(ctors)}]")
            else:
                if first:
                    lines.append(f"{local} = []")
                for c in ctors:
                    style = g.pick(["append", "extend", "iadd"])
                    lines.append(f"{local}.append({c})" if style == "append" else
                                 f"{local}.extend([{c}])" if style == "extend" else f"{local} += [{c}]")
        elif kind == "loop":
            if first:
                lines.append(f"{local} = []")
            ctor, fams = items
            n = g.int(1, 3)
            lines += [f"for _ in range({n}):", f"    {local}.append({ctor})"]
            w.families += fams * (n - 1)
        elif kind == "grow":
            if first:
                lines.append(f"{local} = []")
            lines += items
        else:
            if first:
                lines.append(f"{local} = []")
            default = g.flag()
            entry = g.pick([None, "True", "False"])
            flag = w.param(g.pick(["use_extra", "deep", "with_norm"]), repr(default), entry)
            lines.append(f"if {flag}:")
            for f, la in items:
                lines.append(f"    {local}.append({w.ctor(f, la)})")
        first = False
    attr = f"self.{w.fresh('seq')}"
    name = f", name={attr[5:]!r}" if g.int(0, 3) == 0 else ""
    lines.append(f"{attr} = keras.Sequential({local}{name})")
    w.init += lines
    src = w.var
    out = w.rebind(shape, dtype)
    w.call.append(f"{out} = {attr}({src})")
    return True


def seg_list(w: Writer) -> bool:
    """self.blocks = [] + append (in a loop over a constant range, or one by one), iterated in call."""
    g = w.g
    attr = f"self.{w.fresh('blocks')}"
    grow = _growing(w, w.shape, attr) if g.int(0, 4) == 0 else None
    if grow:
        w.init += [f"{attr} = []"] + grow[0]
        shape, dtype = grow[1], "float32"
    elif w.dtype == "float32" and g.int(0, 3):
        rep = _repeat_unit(w, w.shape)
        if not rep:
            return False
        ctor, fams = rep
        n = g.int(1, 3)
        w.init += [f"{attr} = []", f"for i in range({n}):", f"    {attr}.append({ctor})"]
        w.families += fams * (n - 1)
        shape, dtype = w.shape, w.dtype
    else:
        chain, shape, dtype = _template(w, w.shape, w.dtype, None, g.int(1, 3), simple=True)
        if not chain:
            return False
        w.init.append(f"{attr} = []")
        for fam, layer in chain:
            w.init.append(f"{attr}.append({w.ctor(fam, layer)})")
    w.loop_rebinds()
    loopvar = g.pick(["layer", "block", "fn"])
    w.call += [f"for {loopvar} in {attr}:", f"    {w.var} = {loopvar}({w.var})"]
    w.shape, w.dtype = shape, dtype
    return True


def seg_tensors(w: Writer) -> bool:
    if w.dtype != "float32":
        return False
    return w.g.pick([_tensors_concat, _tensors_skips])(w)


def _fill_list(w: Writer, attr: str, items: list[str], loop_ctor: str | None) -> None:
    """`attr = []` then the items appended one by one, or (`loop_ctor`: all items alike) in a loop."""
    w.init.append(f"{attr} = []")
    if loop_ctor is not None:
        w.init += [f"for _ in range({len(items)}):", f"    {attr}.append({loop_ctor})"]
    else:
        w.init += [f"{attr}.append({c})" for c in items]


def _alike(w: Writer, shape, n: int, keep: str):
    """n layers of one drawn kind (the same constructor each time, so the translation of a loop over
    them is the same for each), as ([(family, layer)] * n). None if nothing draws."""
    drawn = w.draw(shape, keep=keep, simple=True)
    return None if drawn is None else [drawn] * n


# Layer classes whose output size does not depend on the input's last axis (a DenseNet layer list built
# in a loop sees a growing input): no groups= (the input channels must divide by it).
_SIZE_FREE = {"Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}


def _tensors_concat(w: Writer) -> bool:
    """feats = [x] (or []); each layer of a list appends its output (on x, or on the concatenation
    so far: DenseNet); the list concatenated on the last axis."""
    if not _has_op(w, "keras.ops.concatenate"):
        return False
    g = w.g
    growth = g.flag()
    start_with_x = growth or g.flag()
    shape = w.shape
    total = list(shape) if start_with_x else None
    chain = []
    alike = None
    if g.int(0, 3):                     # mostly one kind of layer, n times (a loop the engine translates)
        alike = w.draw(tuple(total) if growth else shape, keep="rank", simple=True)
        if alike is not None and growth and (alike[1].cls not in _SIZE_FREE
                                             or any("groups=" in a for a in alike[1].args)):
            alike = None
    for _ in range(g.int(1 if start_with_x else 2, 3)):
        src_shape = tuple(total) if growth else shape
        drawn = alike or w.draw(src_shape, keep="rank", simple=True)
        if drawn is None:
            continue
        out = drawn[1].out
        new_total = list(out) if total is None else total[:-1] + [total[-1] + out[-1]]
        if not _fits(tuple(new_total)):
            break
        chain.append(drawn)
        total = new_total
    if not chain or (not start_with_x and len(chain) < 2):
        return False
    attr = f"self.{w.fresh('heads' if not growth else 'dense_layers')}"
    ctors = [w.ctor(fam, layer) for fam, layer in chain]
    _fill_list(w, attr, ctors, ctors[0] if len(set(ctors)) == 1 and len(ctors) > 1 and g.int(0, 2) else None)
    feats = w.fresh("feats")
    x = w.var
    inner = f"keras.ops.concatenate({feats}, axis=-1)" if growth else x
    w.call += [f"{feats} = [{x}]" if start_with_x else f"{feats} = []",
               f"for layer in {attr}:", f"    {feats}.append(layer({inner}))"]
    out = w.rebind(tuple(total))
    w.call.append(f"{out} = keras.ops.concatenate({feats}, axis=-1)")
    return True


def _tensors_skips(w: Writer) -> bool:
    """skips appended in a loop over a list of (shape-keeping) layers, read back reversed: added
    back one by one, or through zip with a second list of layers."""
    g = w.g
    merges = [m for m in w.b.act.merges if m.name == "add"]
    if not merges:
        return False
    n = g.int(1, 3)

    def layer_list(stem):
        alike = g.int(0, 2) > 0
        drawn = _alike(w, w.shape, n, "shape") if alike else \
            [w.draw(w.shape, keep="shape", simple=True) for _ in range(n)]
        if drawn is None or None in drawn:
            return None
        attr = f"self.{w.fresh(stem)}"
        ctors = [w.ctor(fam, layer) for fam, layer in drawn]
        return attr, ctors, ctors[0] if alike else None

    downs = layer_list("downs")
    zipped = g.flag()
    ups = layer_list("ups") if zipped else None
    if downs is None or (zipped and ups is None):
        return False
    d_attr = downs[0]
    _fill_list(w, *downs)
    skips = w.fresh("skips")
    w.loop_rebinds()
    x = w.var
    w.call += [f"{skips} = []", f"for layer in {d_attr}:", f"    {skips}.append({x})",
               f"    {x} = layer({x})"]
    add = g.pick([lambda a, b: f"{a} + {b}"] + ([lambda a, b: f"keras.ops.add({a}, {b})"]
                                                 if _has_op(w, "keras.ops.add") else []))
    if zipped:
        u_attr = ups[0]
        _fill_list(w, *ups)
        w.call += [f"for layer, skip in zip({u_attr}, reversed({skips})):",
                   f"    {x} = {add(f'layer({x})', 'skip')}"]
    else:
        w.call += [f"for skip in reversed({skips}):", f"    {x} = {add(x, 'skip')}"]
    return True


SEGMENTS = {"plain": (seg_plain, 6), "residual": (seg_residual, 2), "branch": (seg_branch, 1),
            "block": (seg_block, 4), "seq": (seg_seq, 4), "list": (seg_list, 3),
            "tensors": (seg_tensors, 3)}


def _second_input(w: Writer, first) -> str:
    """A second input of the same shape (`x, y = inputs` or `inputs[1]`), through a layer or not, joined
    to the first by a merge (add, concatenate, ...). Returns call()'s parameter name."""
    from .generator import Node
    g, b = w.g, w.b
    b.add(Node(0, tuple(first.shape), "float32", family="input:second"))
    unpack = g.int(0, 2)
    arg = "inputs"
    x, y = ("x", "y") if unpack else ("inputs[0]", "inputs[1]")
    if unpack == 1:
        w.call.append(f"{x}, {y} = inputs")
    elif unpack == 2:
        w.call += [f"{x} = inputs[0]", f"{y} = inputs[1]"]
    shape = w.shape
    if g.flag():                                # the second input through a layer first
        drawn = w.draw(shape, keep=g.pick(["shape", "rank"]))
        if drawn is not None:
            fam, layer = drawn
            attr = f"self.{w.fresh(fam.name)}"
            w.init.append(f"{attr} = {w.ctor(fam, layer)}")
            w.call.append(f"y2 = {w.apply(attr, layer, y)}")
            y, shape = "y2", layer.out
    merges = [m for m in b.act.merges if (m.kind == "equal" and shape == w.shape) or m.kind == "concat"]
    merge = g.pick(merges)
    mlayer = merge.build(g, [w.shape, shape])
    if mlayer is None or not _fits(mlayer.out):
        merge = next(m for m in b.act.merges if m.kind == "concat")
        mlayer = merge.build(g, [w.shape, shape])
    text = _merge_text(w, merge, mlayer, [x, y] if g.flag() else [y, x])
    w.var = "x" if unpack else w.fresh("h")
    w.call.append(f"{w.var} = {text}")
    w.shape = tuple(mlayer.out)
    return arg


def draw_subclass(b, prefix: str, max_steps: int):
    """(source body, entry, class name, output shapes, families) of a random subclassed model."""
    g = b.g
    w = Writer(b, prefix)
    inp = b.new_input()
    w.shape, w.dtype = tuple(inp.shape), inp.dtype
    arg = g.pick(["x", "inputs"])
    w.var = arg
    if inp.dtype == "float32" and g.int(0, 5) == 0:
        arg = _second_input(w, inp)
    kinds = [k for k, (_, weight) in SEGMENTS.items() for _ in range(weight)]
    for _ in range(g.int(1, max(1, max_steps // 2 + 1))):
        kind = g.pick(kinds)
        SEGMENTS[kind][0](w)
    if not w.init:                              # nothing drew: one plain layer at least
        if not seg_plain(w):
            raise RuntimeError(f"no family applies to input {inp.shape} {inp.dtype}")
    outputs = [(w.var, w.shape)]
    if w.snapshots and g.int(0, 4) == 0:
        outputs.append(g.pick(w.snapshots))
    name = g.pick(["Net", "Net", "Model1", "Classifier"])
    training = g.pick(["", "", ", training=None", ", training=False"])
    sig = ", ".join(["self"] + [f"{p}={d}" for p, d, _ in w.params] + ["**kwargs"])
    lines = [f"class {name}(keras.Model):", f"    def __init__({sig}):",
             "        super().__init__(**kwargs)"]
    lines += [f"        {ln}" for ln in w.init]
    lines += ["", f"    def call(self, {arg}{training}):"]
    lines += [f"        {ln}" for ln in w.call]
    if len(outputs) == 1:
        lines.append(f"        return {outputs[0][0]}")
    else:
        ret = ", ".join(v for v, _ in outputs)
        lines.append(f"        return {f'[{ret}]' if g.flag() else ret}")
    source = "\n\n".join(w.classes + ["\n".join(lines) + "\n"])
    entry_args = [f"{p}={e}" for p, _, e in w.params if e is not None]
    entry = f"{name}({', '.join(entry_args)})"
    return source, entry, name, [tuple(s) for _, s in outputs], w.used, sorted(set(w.families))


def subclass_spec(g, b, max_steps: int, import_styles):
    """The ModelSpec of a random subclassed model (generator.model_specs' "subclass" form)."""
    from .generator import IMPORT_STYLES, InputSpec, ModelSpec

    style = g.pick(list(import_styles))
    header, prefix = IMPORT_STYLES[style]
    body, entry, name, outputs, used, families = draw_subclass(b, prefix, max_steps)
    if "{names}" in header:
        header = header.format(names=", ".join(sorted(used))) if used else "import keras\n"
    source = header + "\n\n" + body
    inputs = [InputSpec(tuple(n.shape), n.dtype) for n in b.nodes if n.layer is None]
    return ModelSpec(source, entry, name, inputs, outputs, "subclass", families)
