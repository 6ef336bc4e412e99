"""A hypothesis strategy for random valid PyTorch models, written out as source code (`--to keras`).

`torch_model_specs()` draws a stack of steps from the active torch families (torch_families.py) and
renders it either as a module-level `nn.Sequential` (steps that are modules only) or as an
`nn.Module` subclass whose `forward` applies them, with residual blocks (`x = x + self.block(x)`,
`y = ...; y += x`) and channel concatenations (`torch.cat([x, self.b(x)], dim=1)`), functional
activations and tensor methods. Each spec carries the output shapes it predicts (torch layout,
without the batch), which the harness checks against torch.
"""
from __future__ import annotations

import math

from .generator import InputSpec, ModelSpec
from .torch_families import MAX_DIM, MAX_ELEMS, VOCAB, TG, Step, active_families

HEADERS = [
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
    "import torch\nfrom torch import nn\nfrom torch.nn import functional as F\n",
    "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n",
]
KIND_RANKS = {"vec": 1, "seq": 2, "cl1": 2, "img": 3, "vol": 4, "tok": 1}


def _input_shape(g: TG, kind: str) -> tuple:
    if kind == "vec":
        return (g.int(1, 12),)
    if kind == "seq":
        return (g.int(1, 8), g.int(1, 8))
    if kind == "cl1":
        return (g.int(1, 6), g.int(2, 12))
    if kind == "img":
        return (g.int(1, 4), g.int(2, 10), g.int(2, 10))
    if kind == "vol":
        return (g.int(1, 3), g.int(2, 5), g.int(2, 5), g.int(2, 5))
    return (g.int(1, 8),)         # tok


def _fits(shape, kind) -> bool:
    if not shape or any(d < 1 for d in shape):
        return False
    if kind != "vec" and any(d > MAX_DIM for d in shape):
        return False
    return math.prod(shape) <= MAX_ELEMS


class _Draw:
    def __init__(self, g: TG, families, form: str):
        self.g, self.families, self.form = g, families, form

    def step(self, shape, kind, keep=None):
        """(family name, Step) for a tensor of `shape`/`kind`, or None."""
        candidates = [f for f in self.families if kind in f.kinds]
        for _ in range(5):
            if not candidates:
                return None
            weights = []
            for f in candidates:
                weights += [f] * f.weight
            fam = self.g.pick(weights)
            step = fam.build(self.g, tuple(shape), kind, keep)
            if step is None or not _fits(step.out, step.kind) or (self.form == "sequential" and not step.in_sequential) \
                    or (keep == "shape" and (tuple(step.out) != tuple(shape) or step.kind != kind)):
                candidates = [f for f in candidates if f is not fam]
                continue
            if keep and step.ctor and "inplace=True" in step.ctor:     # x is read again after a branch
                step.ctor = step.ctor.replace("inplace=True", "")
            return fam.name, step
        return None


def torch_model_specs(rules=None, max_steps: int = 6, forms=("sequential", "subclassed")):
    """Hypothesis strategy of `ModelSpec`s (torch source) from the families the rules support."""
    from hypothesis import strategies as st

    if rules is None:
        from ..rules import load_rules
        rules = load_rules()
    families = active_families(rules)
    kinds = sorted({k for f in families for k in f.kinds if f.requires})

    @st.composite
    def strategy(draw):
        g = TG(draw)
        form = g.pick(list(forms))
        kind = g.pick(kinds)
        shape = _input_shape(g, kind)
        d = _Draw(g, families, form)
        lines, modules, used = [], [], []      # forward lines, (attr, ctor), family names
        cur, cur_kind, x = shape, kind, "x"
        for i in range(g.int(1, max_steps)):
            if form == "subclassed" and cur_kind in ("vec", "seq", "cl1", "img") and g.pick([0, 0, 0, 1]):
                branch = d.step(cur, cur_kind, keep="shape")
                if branch is None:
                    continue
                name, step = branch
                registered = len(modules)
                expr = _apply(step, x, f"b{i}", modules)
                used.append(name)
                combine = g.pick(["add", "add_inplace", "cat"])
                if combine == "cat":
                    dim = g.pick([1, -1]) if cur_kind in ("vec", "seq") else 1
                    axis = len(cur) if dim == -1 else 1          # in the batched tensor
                    out = list(cur)
                    out[axis - 1] *= 2
                    if not _fits(tuple(out), cur_kind):
                        del modules[registered:]        # no unused module (a separate, reported bug)
                        used.pop()
                        continue
                    lines.append(f"x = torch.cat([{x}, {expr}], dim={dim})")
                    cur = tuple(out)
                elif combine == "add":
                    lines.append(f"x = {x} + {expr}")
                else:
                    lines.append(f"y = {expr}")
                    lines.append(f"y += {x}")
                    lines.append("x = y")
                x = "x"
                continue
            found = d.step(cur, cur_kind)
            if found is None:
                break
            name, step = found
            used.append(name)
            lines.append(f"x = {_apply(step, x, f'l{i}', modules)}")
            x, cur, cur_kind = "x", step.out, step.kind
        if not lines:
            found = d.step(cur, cur_kind)
            if found is None:
                raise ValueError(f"no family for {kind} input")   # a generator bug: every kind has one
            name, step = found
            used.append(name)
            lines.append(f"x = {_apply(step, x, 'l0', modules)}")
            cur = step.out
        header = g.pick(HEADERS)
        if form == "sequential":
            items = [ctor for _, ctor in modules]
            if g.flag(1, 3):
                body = ("from collections import OrderedDict\n\nmodel = nn.Sequential(OrderedDict([\n"
                        + "".join(f"    ('{attr}', {ctor}),\n" for attr, ctor in modules) + "]))\n")
            else:
                body = "model = nn.Sequential(\n" + "".join(f"    {c},\n" for c in items) + ")\n"
            source, entry, name = header + "\n" + body, "model", "model"
        else:
            init = "".join(f"        self.{attr} = {ctor}\n" for attr, ctor in modules) or "        pass\n"
            forward = "".join(f"        {line}\n" for line in lines)
            source = (header + "\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      f"{init}\n    def forward(self, x):\n{forward}        return x\n")
            entry, name = "Net()", "Net"
        dtype = "int64" if kind == "tok" else "float32"
        return ModelSpec(source, entry, name, [InputSpec(tuple(shape), dtype, VOCAB)], [tuple(cur)], form,
                         sorted(set(used)))

    return strategy()


def _apply(step: Step, x: str, attr: str, modules: list) -> str:
    if step.ctor is None:
        return step.call.replace("{x}", x)
    modules.append((attr, step.ctor))
    return step.call.replace("{m}", f"self.{attr}").replace("{x}", x)


def generate_torch(count: int, seed: int, rules=None, max_steps: int = 6, forms=("sequential", "subclassed"),
                   start: int = 0) -> list[ModelSpec]:
    """Torch models #start .. #start+count-1 of `seed` (each drawn by its own seeded hypothesis run)."""
    from . import PICK, hypothesis_run, model_seed
    strategy = torch_model_specs(rules, max_steps=max_steps, forms=forms)
    specs = []
    for index in range(start, start + count):
        drawn = []
        hypothesis_run(strategy, model_seed(seed, index), drawn.append)
        specs.append(drawn[min(PICK, len(drawn) - 1)])
    return specs
