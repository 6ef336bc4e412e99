"""A hypothesis strategy for random valid Keras models, written out as source code.

`model_specs()` draws a model graph from the active families (families.py): a Sequential stack, or a
Functional graph with one or two inputs, branches, residual blocks, merges, shared layers and
several outputs. Every draw goes through hypothesis, so failures shrink to small models. The
graph is rendered in one of several source styles (import forms, Sequential list / .add(),
`input_shape=` on the first layer, a builder function, inline or named layer objects, rebinding
`x = f(x)`), with the output shapes it predicts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .families import (MAX_DIM, MAX_ELEMS, VOCAB, Active, Family, G, Layer, Merge, active)

# Keras layer classes whose __init__ takes no **kwargs, so no `input_shape=` either.
NO_KWARGS = {"SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"}

IMPORT_STYLES = {
    "layers": ("import keras\nfrom keras import layers\n", "layers."),
    "keras.layers": ("import keras\n", "keras.layers."),
    "from-import": ("import keras\nfrom keras.layers import {names}\n", ""),
    "tf.keras": ("import tensorflow as tf\nfrom tensorflow import keras\n", "tf.keras.layers."),
}


@dataclass
class InputSpec:
    shape: tuple             # without the batch axis
    dtype: str = "float32"
    high: int = VOCAB        # token inputs: ids in [0, high)


@dataclass
class ModelSpec:
    """A generated model: source, how to build it, what to feed it, what it should output."""
    source: str
    entry: str                       # expression building the model in the source's namespace
    model_name: str                  # the translated model's name (Result.model(...))
    inputs: list[InputSpec]
    outputs: list[tuple]             # predicted output shapes, without the batch axis
    form: str
    families: list[str] = field(default_factory=list)

    def __repr__(self) -> str:       # hypothesis prints this for a falsifying example
        return f"ModelSpec(form={self.form!r}, entry={self.entry!r})\n{self.source}"


@dataclass
class Node:
    id: int
    shape: tuple
    dtype: str
    layer: Layer | None = None       # None: a model input
    srcs: list = field(default_factory=list)
    family: str = ""
    merge_fn: str | None = None      # rendered as keras.layers.<fn>([...]) (functional form)
    declare: bool = False            # the layer object gets its own variable (shareable)
    shared_from: int | None = None   # this node calls the layer object of that node again
    name_arg: bool = False


def _weighted(items, weight):
    out = []
    for item in items:
        out += [item] * max(1, weight(item))
    return out


def _fits(shape) -> bool:
    if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
        return False
    if any(d > MAX_DIM for d in shape[:-1]):
        return False
    return math.prod(shape) <= MAX_ELEMS


class _Builder:
    def __init__(self, g: G, act: Active, form: str):
        self.g, self.act, self.form = g, act, form
        self.nodes: list[Node] = []
        self.uses: dict[int, int] = {}

    # -- nodes
    def add(self, node: Node) -> Node:
        node.id = len(self.nodes)
        self.nodes.append(node)
        for s in node.srcs:
            self.uses[s] = self.uses.get(s, 0) + 1
        return node

    def new_input(self) -> Node:
        kind = self.g.pick(_weighted(self.act.inputs, lambda k: k.weight))
        g = self.g
        if kind.dtype == "int32":
            shape = (g.int(1, 8),)
        elif kind.rank == 1:
            shape = (g.int(1, 8),)
        elif kind.rank == 2:
            shape = (g.int(1, 10), g.int(1, 6))
        elif kind.rank == 3:
            shape = (g.int(1, 10), g.int(1, 10), g.int(1, 4))
        else:
            shape = (g.int(1, 5), g.int(1, 5), g.int(1, 5), g.int(1, 3))
        return self.add(Node(0, shape, kind.dtype, family=f"input:{kind.name}"))

    # -- layers
    def families_for(self, node: Node) -> list[Family]:
        return [f for f in self.act.families if len(node.shape) in f.ranks and f.dtype == node.dtype]

    def draw_layer(self, node: Node, keep: str | None = None) -> tuple[Family, Layer] | None:
        candidates = self.families_for(node)
        for _ in range(4):
            if not candidates:
                return None
            fam = self.g.pick(_weighted(candidates, lambda f: f.weight))
            layer = fam.build(self.g, tuple(node.shape), keep)
            if (layer is None or not _fits(layer.out)
                    or (layer.functional_only and self.form == "sequential")):
                candidates = [f for f in candidates if f is not fam]
                continue
            return fam, layer
        return None

    def apply(self, node: Node, keep: str | None = None) -> Node | None:
        drawn = self.draw_layer(node, keep)
        if drawn is None:
            return None
        fam, layer = drawn
        declare = self.form == "functional" and self.g.int(0, 3) == 0
        return self.add(Node(0, layer.out, "float32", layer, [node.id], fam.name, declare=declare,
                             name_arg=self.g.int(0, 7) == 0))

    def merge(self, merge: Merge, srcs: list[Node]) -> Node | None:
        layer = merge.build(self.g, [tuple(s.shape) for s in srcs])
        if layer is None or not _fits(layer.out):
            return None
        fn = merge.function if merge.name in self.act.functions and self.g.int(0, 2) == 0 else None
        return self.add(Node(0, layer.out, "float32", layer, [s.id for s in srcs], merge.name, merge_fn=fn,
                             name_arg=self.g.int(0, 7) == 0))

    # -- choosing operands
    def pick_node(self, pool: list[Node]) -> Node:
        """Most of the time one of the newest tensors (hypothesis shrinks towards the newest)."""
        return pool[len(pool) - 1 - self.g.int(0, len(pool) - 1)]

    def merge_candidates(self, merge: Merge) -> list[list[Node]]:
        floats = [n for n in self.nodes if n.dtype == "float32"]
        groups = []
        if merge.kind == "equal":
            by_shape: dict = {}
            for n in floats:
                by_shape.setdefault(tuple(n.shape), []).append(n)
            groups = [ns for ns in by_shape.values() if len(ns) >= 2]
        elif merge.kind == "concat":
            for i, a in enumerate(floats):
                for b in floats[i + 1:]:
                    if len(a.shape) == len(b.shape) and sum(x != y for x, y in zip(a.shape, b.shape)) <= 1:
                        groups.append([a, b])
        elif merge.kind == "pair":
            for i, a in enumerate(floats):
                for b in floats[i + 1:]:
                    if len(a.shape) == len(b.shape) == 2 or (len(a.shape) == len(b.shape) == 1
                                                             and a.shape == b.shape):
                        groups.append([a, b])
        return groups


def _functional_graph(b: _Builder, max_steps: int) -> list[Node]:
    g = b.g
    inputs = [b.new_input() for _ in range(1 if g.int(0, 4) else 2)]
    steps = g.int(1, max_steps)
    equal_merges = [m for m in b.act.merges if m.kind == "equal"]
    concat = [m for m in b.act.merges if m.kind == "concat"]
    for _ in range(steps):
        ops = ["layer"] * 5
        merges = [m for m in b.act.merges if b.merge_candidates(m)]
        if merges:
            ops += ["merge"] * 3
        if equal_merges:
            ops += ["residual"] * 2
        if concat:
            ops.append("branch")
        sharable = _sharable(b)
        if sharable:
            ops.append("shared")
        op = g.pick(ops)
        if op == "layer":
            b.apply(b.pick_node(b.nodes))
        elif op == "merge":
            merge = g.pick(_weighted(merges, lambda m: m.weight))
            groups = b.merge_candidates(merge)
            group = g.pick(groups) if len(groups) > 1 else groups[0]
            lo, hi = merge.arity
            n = min(g.int(lo, hi), len(group))
            chosen = []
            rest = list(group)
            for _ in range(n):
                chosen.append(rest.pop(len(rest) - 1 - g.int(0, len(rest) - 1)))
            if g.flag():
                chosen.reverse()
            b.merge(merge, chosen)
        elif op == "residual":
            start = b.pick_node([n for n in b.nodes if n.dtype == "float32"] or b.nodes)
            if start.dtype != "float32":
                start = b.apply(start) or start
                if start.dtype != "float32":
                    continue
            end = start
            for _ in range(g.int(1, 2)):
                end = b.apply(end, keep="shape") or end
            merge = g.pick(_weighted(equal_merges, lambda m: m.weight))
            b.merge(merge, [start, end] if g.flag() else [end, start])
        elif op == "branch":
            start = b.pick_node([n for n in b.nodes if n.dtype == "float32"] or b.nodes)
            if start.dtype != "float32":
                continue
            ends = []
            for _ in range(2):
                end = start
                for _ in range(g.int(0 if not ends else 1, 2)):
                    end = b.apply(end, keep="rank") or end
                ends.append(end)
            if ends[0] is ends[1]:
                continue
            b.merge(concat[0], ends)
        elif op == "shared":
            node, target = g.pick(sharable)
            b.add(Node(0, node.layer.out, "float32", node.layer, [target.id], node.family,
                       shared_from=node.id))
    # every input feeds the model
    for inp in inputs:
        if not b.uses.get(inp.id):
            if b.apply(inp) is None:
                raise RuntimeError(f"no family applies to input {inp.shape} {inp.dtype}")
    leaves = [n for n in b.nodes if n.layer is not None and not b.uses.get(n.id)]
    outputs = leaves[-3:]
    if g.int(0, 5) == 0:
        inner = [n for n in b.nodes if n.layer is not None and n not in outputs]
        if inner:
            outputs.append(g.pick(inner))
    for inp in inputs:            # keep every input connected to some output
        if not any(_reaches(b, inp.id, o) for o in outputs):
            outputs.append(next(n for n in reversed(leaves) if _reaches(b, inp.id, n)))
    return outputs


def _reaches(b: _Builder, src: int, node: Node) -> bool:
    stack = [node.id]
    seen = set()
    while stack:
        i = stack.pop()
        if i == src:
            return True
        if i in seen:
            continue
        seen.add(i)
        stack += b.nodes[i].srcs
    return False


def _sharable(b: _Builder) -> list[tuple[Node, Node]]:
    """(declared layer node, another tensor of the same shape as that layer's input)."""
    out = []
    for node in b.nodes:
        if not node.declare or node.shared_from is not None or len(node.srcs) != 1:
            continue
        src = b.nodes[node.srcs[0]]
        for other in b.nodes:
            if other.id != src.id and other.dtype == src.dtype and other.shape == src.shape \
                    and not _reaches(b, node.id, other):
                out.append((node, other))
    return out


def _sequential_graph(b: _Builder, max_steps: int) -> list[Node]:
    node = b.new_input()
    for _ in range(b.g.int(1, max_steps)):
        nxt = b.apply(node)
        if nxt is None:
            break
        node = nxt
    if node.layer is None:
        raise RuntimeError(f"no family applies to input {node.shape} {node.dtype}")
    return [node]


# ---- rendering ------------------------------------------------------------------------------------

def _with_kwarg(call: str, kwarg: str) -> str:
    """`f(a)` -> `f(a, kwarg)`; `f()` -> `f(kwarg)`."""
    return call[:-1] + ("" if call.endswith("()") else ", ") + kwarg + ")"


def _ctor(node: Node, prefix: str) -> str:
    text = node.layer.render(prefix)
    return _with_kwarg(text, f"name='layer_{node.id}'") if node.name_arg else text


def _render_functional(b: _Builder, outputs: list[Node], prefix: str, rebind: bool) -> list[str]:
    nodes, g = b.nodes, b.g
    inputs = [n for n in nodes if n.layer is None]
    names: dict[int, str] = {}
    for i, n in enumerate(inputs):
        names[n.id] = "inputs" if len(inputs) == 1 and g.flag() else f"inp{i if i else ''}"
    out_ids = {o.id for o in outputs}
    lines = []
    for n in inputs:
        dtype = f", dtype={n.dtype!r}" if n.dtype != "float32" else ""
        lines.append(f"{names[n.id]} = keras.Input(shape={tuple(n.shape)!r}{dtype})")
    layer_vars: dict[int, str] = {}
    counter = 0
    for n in nodes:
        if n.layer is None:
            continue
        srcs = [names[s] for s in n.srcs]
        src0 = nodes[n.srcs[0]]
        if (rebind and len(n.srcs) == 1 and src0.layer is not None and b.uses.get(src0.id) == 1
                and src0.id not in out_ids and n.shared_from is None):
            var = names[src0.id]
        else:
            counter += 1
            var = f"x{counter}"
        names[n.id] = var
        call = n.layer.call
        if n.merge_fn:
            args = ", ".join(a.replace("{L}", prefix) for a in n.layer.args)
            expr = f"{prefix}{n.merge_fn}([{', '.join(srcs)}]{', ' + args if args else ''})"
        else:
            if n.shared_from is not None:
                obj = layer_vars[n.shared_from]
            elif n.declare:
                obj = f"{n.family}_{n.id}"
                layer_vars[n.id] = obj
                lines.append(f"{obj} = {_ctor(n, prefix)}")
            else:
                obj = _ctor(n, prefix)
            expr = (call.replace("{layer}", obj).replace("{xs}", f"[{', '.join(srcs)}]")
                    .replace("{x0}", srcs[0]).replace("{x1}", srcs[-1]).replace("{x}", srcs[0]))
        lines.append(f"{var} = {expr}")
    ins = [names[n.id] for n in inputs]
    outs = [names[o.id] for o in outputs]
    in_text = ins[0] if len(ins) == 1 else f"[{', '.join(ins)}]"
    out_text = outs[0] if len(outs) == 1 and g.int(0, 3) else f"[{', '.join(outs)}]"
    if g.int(0, 3) == 0:
        lines.append(f"keras.Model(inputs={in_text}, outputs={out_text})")
    else:
        lines.append(f"keras.Model({in_text}, {out_text})")
    return lines


def _render_sequential(b: _Builder, prefix: str, style: str) -> list[str]:
    inp, *layers = b.nodes
    items = [_ctor(n, prefix) for n in layers]
    if style == "input_shape":
        items[0] = _with_kwarg(items[0], f"input_shape={tuple(inp.shape)!r}")
    else:
        dtype = f", dtype={inp.dtype!r}" if inp.dtype != "float32" else ""
        items.insert(0, f"keras.Input(shape={tuple(inp.shape)!r}{dtype})")
    if style == "add":
        return ["keras.Sequential()"] + [f"model.add({item})" for item in items]
    return ["keras.Sequential([" + "".join(f"\n    {item}," for item in items) + "\n])"]


def _source(b: _Builder, outputs, prefix: str, header: str, form: str) -> tuple[str, str, str]:
    g = b.g
    if form == "functional":
        lines = _render_functional(b, outputs, prefix, rebind=g.flag())
    else:
        first = b.nodes[1].layer.cls if len(b.nodes) > 1 else None
        input_shape_ok = b.nodes[0].dtype == "float32" and first not in NO_KWARGS
        style = g.pick(["list", "list", "add"] + (["input_shape"] if input_shape_ok else []))
        lines = _render_sequential(b, prefix, style)
    builder = g.int(0, 5) == 0
    if builder:
        body = lines[:-1]
        last = lines[-1]
        if last.startswith("model.add("):       # Sequential().add(...) form
            seq = [ln for ln in lines if not ln.startswith("model.add(")]
            adds = [ln for ln in lines if ln.startswith("model.add(")]
            text = [f"model = {seq[0]}"] + adds + ["return model"]
        else:
            text = body + [f"return {last}"]
        code = "def build_model():\n" + "".join(
            "".join(f"    {part}\n" for part in line.split("\n")) for line in text)
        return code, "build_model()", "build_model"
    if lines[0] == "keras.Sequential()":
        code = "model = keras.Sequential()\n" + "".join(f"{ln}\n" for ln in lines[1:])
    else:
        code = "".join(f"{ln}\n" for ln in lines[:-1]) + f"model = {lines[-1]}\n"
    return code, "model", "model"


def model_specs(rules=None, max_steps: int = 6, forms=("sequential", "functional"),
                import_styles=tuple(IMPORT_STYLES)):
    """Hypothesis strategy of `ModelSpec`s built from the families whose rules exist in `rules`
    (default: `load_rules()`)."""
    from hypothesis import strategies as st

    if rules is None:
        from ..rules import load_rules
        rules = load_rules()
    act = active(rules)
    if not act.families:
        raise RuntimeError("no layer family has a rule")

    @st.composite
    def strategy(draw):
        g = G(draw, rules)
        form = g.pick(list(forms))
        b = _Builder(g, act, form)
        if form == "subclass":                   # a keras.Model subclass: translator/fuzz/subclass.py
            from .subclass import subclass_spec
            return subclass_spec(g, b, max_steps, import_styles)
        outputs = _functional_graph(b, max_steps) if form == "functional" else _sequential_graph(b, max_steps)
        style = g.pick(list(import_styles))
        header, prefix = IMPORT_STYLES[style]
        body, entry, model_name = _source(b, outputs, prefix, header, form)
        if "{names}" in header:
            used = sorted({n.layer.cls for n in b.nodes if n.layer is not None and not n.merge_fn}
                          | {c for n in b.nodes if n.layer is not None for c in n.layer.classes}
                          | {n.merge_fn for n in b.nodes if n.merge_fn})
            header = header.format(names=", ".join(used)) if used else "import keras\n"
        source = header + "\n" + body
        inputs = [InputSpec(tuple(n.shape), n.dtype) for n in b.nodes if n.layer is None]
        families = sorted({n.family for n in b.nodes if n.layer is not None})
        return ModelSpec(source, entry, model_name, inputs, [tuple(o.shape) for o in outputs], form, families)

    return strategy()
