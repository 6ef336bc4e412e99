"""torch `forward` -> Keras `call`, and nn.Sequential -> keras.Sequential (the torch -> Keras direction).

Values are followed with a `Meta` (translator/backends/keras_code.py): image tensors stay
channels-last in Keras (`cf` metas), so every axis argument (cat, softmax, mean) is remapped, a
flatten of an image keeps Keras' (H, W, C) order and the next Dense gets its kernel rows permuted at
port time, and a layer that needs the other layout gets one explicit transpose (FWT401).
A model input first consumed by an image layer is channels-last at the interface (native layout)
or transposed once at the top of `call` (`--layout keep`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, Sym, dim_prod
from ..names import dotted
from ..positions import line_of
from ..frontends.torch_models import ModSpec, is_torch, resolve
from ..rules import LayerRule
from ..rules.transforms import INVERSES, VALUE_TRANSFORMS
from .keras_code import (OTHER, KerasRefs, Meta, Notes, call, code, keras_axis, node_of, tensor,
                         to_keras_perm, to_torch_perm)
from . import keras_forward_tlists as tlists
from .keras_layers import Applied, LeafContext, Step, _pretty, apply_leaf, flat_meta, loosely_equal
from . import keras_forward_rnn as rnn_fwd
from . import keras_tied

RANK_OF_SUFFIX = {"1d": 3, "2d": 4, "3d": 5}
# Op rules with an `emit:` (code in the Keras -> torch direction) whose params map back generically.
REVERSIBLE_OP_EMITS = {"softmax", "gelu"}
ELEMENTWISE_KERAS = {"ReLU", "LeakyReLU", "Activation", "Dropout"}


def first_leaf(spec: ModSpec):
    """The module that first sees the input of `spec` (through Sequentials and helpers)."""
    seen = 0
    while spec is not None and seen < 50:
        seen += 1
        if spec.kind == "sequential":
            spec = spec.items[0][1] if spec.items else None
        elif spec.kind == "helper":
            spec = spec.inner
        elif spec.kind == "dynseq":
            from .keras_forward_lists import first_item
            spec = first_item(spec.program)
        else:
            return spec
    return None


def rank_hint(spec: ModSpec) -> int | None:
    if spec.kind != "leaf" or spec.torch_path.endswith("BatchNorm1d"):
        return None
    return RANK_OF_SUFFIX.get(spec.torch_path[-2:].lower()) or getattr(spec.rule, "rank", None)   # rules' `rank:`


def needed_layout(spec: ModSpec) -> str:
    return {"cf": "cf", "cl": "same"}.get(getattr(spec.rule, "layout", None), "any")


def transpose(refs: KerasRefs, node, perm) -> cst.Call:
    return call(refs.ops("transpose"), [node, node_of(tuple(perm))])


@dataclass
class Entry:
    """One torch submodule with weights and the Keras layer it became (for ModelInfo.layers)."""
    torch_path: str
    keras_path: str
    rule_id: str
    keras_class: str
    line: int
    extra: dict = field(default_factory=dict)


class Context:
    """What module application needs from the class (or file) being translated."""

    def __init__(self, owner, refs: KerasRefs, notes: Notes):
        self.owner = owner          # the driver (TorchToKeras): nested classes, helpers, rules
        self.refs = refs
        self.notes = notes


# ---- one module applied to one input --------------------------------------------------------------

def convert(refs: KerasRefs, node, meta: Meta, layout: str, notes: Notes, line: int, sequential=False):
    """(node or Step, meta) of `meta` brought to `layout` (one transpose / Permute layer)."""
    rank = meta.rank
    if layout == meta.layout or rank is None or rank <= 2:
        return node, meta.with_(layout=layout) if rank is not None and rank <= 2 else meta
    perm = to_keras_perm(rank) if layout == "cf" else to_torch_perm(rank)
    notes.add("FWT401", f"layout conversion inserted: a {'channels-first' if layout == 'same' else 'channels-last'} "
                        f"view of a rank-{rank} tensor is needed here (one transpose)", line)
    new = meta.with_(layout=layout, origin=None)
    if sequential:
        return Step("layer", call(refs.layer("Permute"), [node_of(tuple(p for p in perm[1:]))])), new
    return transpose(refs, node, perm), new


def materialize(refs: KerasRefs, node, meta: Meta, notes: Notes, line: int, sequential=False):
    """A flattened image in Keras (S, C) column order -> torch's (C, S) order."""
    channels, spatial = meta.flat
    if not isinstance(spatial, int) and isinstance(channels, int) and meta.shape and isinstance(meta.shape[-1], int):
        spatial = meta.shape[-1] // channels
    if not isinstance(channels, int) or sequential and not isinstance(spatial, int):
        raise TranslationError("FWT302", "a flattened image is used other than by nn.Linear, and its "
                                         "channel count is not known statically", line)
    notes.add("FWT401", "a flattened image is used other than by nn.Linear: its columns are reordered to "
                        "torch's (C, H, W) order", line)
    new = meta.with_(flat=None, origin=None)
    if sequential:
        return [Step("layer", call(refs.layer("Reshape"), [node_of((spatial, channels))])),
                Step("layer", call(refs.layer("Permute"), [node_of((2, 1))])),
                Step("layer", call(refs.layer("Reshape"), [node_of((channels * spatial,))]))], new
    if isinstance(spatial, int):
        inner = call(refs.ops("reshape"), [node, node_of((-1, spatial, channels))])
        return call(refs.ops("reshape"), [transpose(refs, inner, (0, 2, 1)), node_of((-1, channels * spatial))]), new
    batch = cst.Subscript(call(refs.ops("shape"), [node]), [cst.SubscriptElement(cst.Index(node_of(0)))])
    inner = call(refs.ops("reshape"), [node, cst.Tuple([cst.Element(batch), cst.Element(node_of(-1)),
                                                        cst.Element(node_of(channels))])])
    return call(refs.ops("reshape"), [transpose(refs, inner, (0, 2, 1)),
                                      cst.Tuple([cst.Element(batch), cst.Element(node_of(-1))])]), new


def conform_sequential(ctx: Context, spec: ModSpec, meta: Meta, line: int) -> tuple[list[Step], Meta]:
    """Layer steps that bring `meta` to what `spec` needs inside a keras.Sequential."""
    steps = []
    if not meta.is_tensor:
        raise TranslationError("FWT202", f"{spec.short} applied to a non-tensor value", line)
    elementwise = spec.kind == "leaf" and _elementwise(spec)
    if meta.flat is not None and not elementwise and not (spec.kind == "leaf" and spec.rule.id == "dense"):
        more, meta = materialize(ctx.refs, None, meta, ctx.notes, line, sequential=True)
        steps += more
    need = needed_layout(spec) if spec.kind == "leaf" else "any"
    if meta.rank is None and need == "cf" and rank_hint(spec):
        meta = tensor(rank_hint(spec), "cf") if meta.layout == "cf" else meta.with_(rank=rank_hint(spec),
                                                                                      shape=(None,) * rank_hint(spec))
    if need in ("cf", "same") and meta.layout != need:
        step, meta = convert(ctx.refs, None, meta, need, ctx.notes, line, sequential=True)
        if isinstance(step, Step):
            steps.append(step)
    return steps, meta


def _elementwise(spec: ModSpec) -> bool:
    rule = spec.rule
    return not isinstance(rule, LayerRule) or (rule.layout == "any" and rule.shape == "same"
                                               and rule.id not in ("softmax",))


def leaf(ctx: Context, spec: ModSpec, meta: Meta, sequential: bool, squeeze: bool = False) -> Applied:
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, meta, ctx.refs, ctx.notes, spec.line, sequential,
                     squeeze=squeeze)
    return apply_leaf(lc)


def _is_plain_flatten(spec: ModSpec) -> bool:
    return spec.kind == "leaf" and getattr(spec.rule, "id", "") == "flatten" and not spec.args.given


class SequentialBuilder:
    """nn.Sequential -> keras.Sequential([...]) applied to one input meta; records the weight mapping."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def build(self, spec: ModSpec, meta: Meta, torch_prefix: str, keras_prefix: str,
              boundary: tuple | None = None, output: bool = False):
        """(keras.Sequential call, output meta, [Entry]). `boundary`: (in perm, out perm) for keep mode.
        `output`: the Sequential is the model (its output leaves it: a flattened image gets torch's order)."""
        elements, entries, meta = [], [], meta
        opening, commas, closing = _layout_of(spec)
        if boundary and boundary[0]:
            elements.append((call(self.ctx.refs.layer("Permute"), [node_of(boundary[0])]), None))
        skip = False
        for i, (name, item) in enumerate(spec.items):
            if skip:          # a Flatten right after a global pool: the pool drops the 1x1 axes itself
                skip = False
                if elements and commas[i] is not None:
                    elements[-1] = (elements[-1][0], commas[i])
                continue
            torch_path = f"{torch_prefix}{name if name is not None else i}"
            steps, meta = conform_sequential(self.ctx, item, meta, item.line)
            elements += [(s.ctor, None) for s in steps]
            squeeze = (i + 1 < len(spec.items) and _is_plain_flatten(spec.items[i + 1][1])
                       and getattr(item.rule, "id", "").startswith("global_") and item.kind == "leaf")
            if squeeze:
                applied = leaf(self.ctx, item, meta, sequential=True, squeeze=True)
                squeeze = applied.out.rank == 2
            if squeeze:
                skip = True
                exprs, meta, sub = [s.ctor for s in applied.steps], applied.out, []
            else:
                exprs, meta, sub = self.item(item, meta, torch_path,
                                             lambda j=None: f"{keras_prefix}{len(elements) + (j or 0)}")
            if name is not None and exprs:
                exprs[-1] = _with_name(exprs[-1], name)
            entries += sub
            elements += [(e, commas[i] if k == len(exprs) - 1 else None) for k, e in enumerate(exprs)]
        if output and meta.is_tensor and meta.flat is not None:      # Keras flattened (S, C), torch (C, S)
            channels = meta.flat[0]
            if not isinstance(channels, int):
                raise TranslationError("FWT302", "a flattened image is the output, and its channel count is not "
                                                 "known statically", spec.line)
            self.ctx.notes.add("FWT401", "a flattened image is the output: its columns are reordered to torch's "
                                         "(C, H, W) order", spec.line)
            elements += [(call(self.ctx.refs.layer("Reshape"), [node_of((-1, channels))]), None),
                         (call(self.ctx.refs.layer("Permute"), [node_of((2, 1))]), None),
                         (call(self.ctx.refs.layer("Flatten"), []), None)]
            meta = meta.with_(flat=None, origin=None)
        if boundary and boundary[1] and meta.is_tensor and meta.layout == "cf" and meta.rank and meta.rank > 2:
            elements.append((call(self.ctx.refs.layer("Permute"), [node_of(boundary[1])]), None))
            meta = meta.with_(layout="same")
        seq = call(self.ctx.refs.keras("Sequential"), [_keras_list(elements, opening, closing)])
        return seq, meta, entries

    def item(self, item: ModSpec, meta: Meta, torch_path: str, keras_path) -> tuple[list, Meta, list]:
        """(Keras layer expressions, output meta, entries) of one Sequential item."""
        if item.kind == "leaf":
            applied = leaf(self.ctx, item, meta, sequential=True)
            layers = [s.ctor for s in applied.steps]
            entries = []
            if applied.steps:
                entries.append(Entry(torch_path, keras_path(len(layers) - 1), _rule_id(item, applied),
                                     applied.keras_class, item.line, dict(applied.extra)))
            return layers, applied.out, entries
        if item.kind == "sequential":
            seq, out, entries = self.build(item, meta, torch_path + ".", keras_path() + ".")
            return [seq], out, entries
        if item.kind == "instance":
            ctor, out, entries, wanted = self.ctx.owner.instance(item, [meta], torch_path, keras_path(), self.ctx)
            pre = []
            if wanted and wanted[0].layout != meta.layout and (wanted[0].rank or 0) > 2:
                step, _ = convert(self.ctx.refs, None, meta.with_(rank=wanted[0].rank), wanted[0].layout,
                                  self.ctx.notes, item.line, sequential=True)
                pre = [step.ctor]
            return pre + [ctor], out[0] if len(out) == 1 else Meta(kind="tuple", items=tuple(out)), entries
        if item.kind == "helper":
            expr, out = self.ctx.owner.helper_call(item, meta, self.ctx)
            return [expr], out, []
        if item.kind == "dynseq":            # returned by a helper: keras_forward_lists.py
            from .keras_forward_lists import apply_program
            out = apply_program(self.ctx, item.program, meta, item.line, None, [])
            return [call(self.ctx.refs.keras("Sequential"), [item.node.args[0].value])], out, []
        raise TranslationError("FWT103", f"nn.Sequential item not supported: {item.kind}", item.line)


def _layout_of(spec: ModSpec):
    """(whitespace after the opening bracket, each item's comma, whitespace before the closing one) of
    the nn.Sequential as written, so that the Keras list keeps one item per line and the comments."""
    node = spec.node
    n = len(spec.items)
    empty = (cst.SimpleWhitespace(""), [None] * n, cst.SimpleWhitespace(""))
    if not isinstance(node, cst.Call):
        return empty
    if spec.ordered_dict:
        inner = node.args[0].value.args[0].value
        if not isinstance(inner, cst.List) or len(inner.elements) != n:
            return empty
        return (inner.lbracket.whitespace_after, [e.comma for e in inner.elements], inner.rbracket.whitespace_before)
    if len(node.args) != n:
        return empty
    closing = node.args[-1].whitespace_after_arg if node.args else cst.SimpleWhitespace("")
    return node.whitespace_before_args, [a.comma for a in node.args], closing


def _keras_list(elements, opening, closing) -> cst.List:
    """[a, b, ...] with the source's line breaks: an inserted layer takes the line break of the item
    after which it stands, without its comment."""
    multiline = isinstance(opening, cst.ParenthesizedWhitespace)
    out = []
    for i, (expr, comma) in enumerate(elements):
        last = i == len(elements) - 1
        if comma is None or comma is cst.MaybeSentinel.DEFAULT:
            nxt = next((c for _, c in elements[i + 1:] if c not in (None, cst.MaybeSentinel.DEFAULT)), None)
            if multiline and isinstance(nxt, cst.Comma) and isinstance(nxt.whitespace_after, cst.ParenthesizedWhitespace):
                ws = nxt.whitespace_after
                ws = ws.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
                comma = cst.Comma(whitespace_after=ws) if not last or multiline else cst.MaybeSentinel.DEFAULT
            elif multiline and last:
                comma = cst.Comma()
            else:
                comma = cst.MaybeSentinel.DEFAULT if last else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        if last and not multiline and isinstance(comma, cst.Comma) and not isinstance(comma.whitespace_after,
                                                                                        cst.ParenthesizedWhitespace):
            comma = cst.MaybeSentinel.DEFAULT
        out.append(cst.Element(expr, comma=comma))
    if multiline and out and isinstance(out[-1].comma, cst.Comma) and not isinstance(
            out[-1].comma.whitespace_after, cst.ParenthesizedWhitespace):
        out[-1] = out[-1].with_changes(comma=cst.Comma(whitespace_after=closing))
        closing = cst.SimpleWhitespace("")
    return cst.List(out, lbracket=cst.LeftSquareBracket(whitespace_after=opening),
                    rbracket=cst.RightSquareBracket(whitespace_before=closing))


def _rule_id(spec: ModSpec, applied: Applied) -> str:
    return applied.extra.get("rule") or getattr(spec.rule, "id", "")


def _with_name(ctor: cst.Call, name: str) -> cst.Call:
    """OrderedDict names become Keras layer names."""
    if any(a.keyword is not None and a.keyword.value == "name" for a in ctor.args):
        return ctor
    args = list(ctor.args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    from .keras_code import AEQ
    args.append(cst.Arg(node_of(name), keyword=cst.Name("name"), equal=cst.AssignEqual(**AEQ)))
    return ctor.with_changes(args=args)


# ---- forward -> call -------------------------------------------------------------------------------

class ForwardTranslator:
    """Translate one `forward` body, given the metas of its tensor parameters."""

    def __init__(self, cls_tr, ctx: Context, env: dict, root_keep: bool):
        self.cls = cls_tr                # ClassTranslation: modules, extra layers, mapping
        self.ctx = ctx
        self.refs = ctx.refs
        self.notes = ctx.notes
        self.env = dict(env)
        self.root_keep = root_keep
        self.requests: dict[int, Meta] = {}
        self.outputs: list[Meta] | None = None
        self.sites = 0
        self.name_counts: dict[str, int] = {}
        self.carry: list = []                     # comments of a dropped statement
        self.deferred: list = []                  # errors that a rerun with known input ranks may remove
        self.reads: dict[str, list[int]] = {}     # name -> lines where it occurs (set by the driver)
        self.assigned: dict[str, list[int]] = {}  # name -> lines of statements assigning it
        self.squeeze: set[str] = set()            # global pools applied with keepdims=False
        self.squeeze_reads: dict[str, int] = {}   # pool attr -> reads of its output by name
        self.squeeze_flattens: dict[str, int] = {}  # ... of which by a flatten (directly)
        self.squeeze_uses: dict[str, int] = {}    # pool attr -> flattens of its output

    # -- statements --
    def block(self, stmts) -> list:
        out = []
        for s in stmts:
            out += self.stmt(s)
        return out

    def stmt(self, s) -> list:
        line = line_of(s)
        if isinstance(s, cst.SimpleStatementLine):
            new, multi = [], False
            for small in s.body:
                n = self.small(small, line)
                multi = multi or isinstance(n, list)          # several statements (an RNN call)
                new += n if isinstance(n, list) else [] if n is None else [n]
            if not new:
                if any(l.comment for l in s.leading_lines):
                    self.carry = list(s.leading_lines)
                return []
            if self.carry:
                s = s.with_changes(leading_lines=self.carry + list(s.leading_lines))
                self.carry = []
            if multi:
                return rnn_fwd.separate_lines(s, new)
            return [s.with_changes(body=new)]
        if isinstance(s, cst.If):
            return [self.if_stmt(s)]
        if isinstance(s, cst.For):
            from .keras_forward_loops import for_stmt
            return [for_stmt(self, s)]
        raise TranslationError("FWT103", f"statement not translated in forward: {type(s).__name__}", line)

    def squeezable(self) -> set[str]:
        """Global pools whose output is read only by flattens: rerun them with keepdims=False."""
        return {a for a, n in self.squeeze_uses.items()
                if n and self.squeeze_reads.get(a, 0) == self.squeeze_flattens.get(a, 0)} - self.squeeze

    def small(self, small, line):
        if isinstance(small, cst.Assign):
            if len(small.targets) != 1:
                raise TranslationError("FWT103", "chained assignment in forward", line)
            target = small.targets[0].target
            self.lazy_target = small.value         # a module call whose result is unpacked here
            node, meta = self.expr(small.value)
            if meta.kind == "rnn":
                return self.assign_rnn(small, target, node, meta, line)
            if meta.kind == "lazy":          # a module call whose tuple result is built on assignment
                return meta.info.assign(self, target, line)
            if meta.kind == "shape" and isinstance(target, (cst.Tuple, cst.List)):
                node, meta = _ops().unpack_shape(self, target, meta, line)
            elif meta.is_tensor and isinstance(target, (cst.Tuple, cst.List)):
                node, meta = _ops().unpack_tensor(self, target, node, meta, line)
            if isinstance(target, cst.Subscript):           # feats[i] = ... on a list of tensors
                done = tlists.assign_item(self, small, target, node, meta, line)
                if done is not None:
                    return done
            if isinstance(target, cst.Name):
                meta = tlists.literal_as_list(self, target.value, small.value, meta, line) or meta
                if meta.kind == "tlist":
                    tlists.bind_list(self, target.value, meta, line)
                    return small.with_changes(value=node)
                self.env.pop(tlists.key(target.value), None)
            self.bind(target, meta, line)
            if isinstance(target, cst.Name) and isinstance(node, cst.Name) and node.value == target.value:
                return None          # `x = torch.flatten(x, 1)` after a pool that already dropped the axes
            return small.with_changes(value=node)
        if isinstance(small, cst.AugAssign):
            extended = rnn_fwd.list_extend(self, small)     # `outputs += [h]` (keras_forward_rnn.py)
            if extended is not None:
                return extended
            op = {cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
                  cst.DivideAssign: cst.Divide}.get(type(small.operator))
            if op is None or not isinstance(small.target, cst.Name):
                raise TranslationError("FWT103", "augmented assignment not translated", line)
            left, lm = self.expr(small.target)
            right, rm = self.expr(small.value)
            (left2, right2), meta = self.unify([(left, lm), (right, rm)], line)
            self.env[small.target.value] = meta
            if code(left2) != code(left):
                return cst.Assign([cst.AssignTarget(small.target)],
                                  cst.BinaryOperation(left2, op(), right2))
            return small.with_changes(value=right2)
        if isinstance(small, cst.Return):
            if small.value is None:
                raise TranslationError("FWT103", "forward returns nothing", line)
            node, meta = self.expr(small.value)
            node, metas = self.outputs_of(node, meta, line)
            self.outputs = metas
            return small.with_changes(value=node)
        if isinstance(small, cst.Pass):
            return small
        if isinstance(small, cst.Expr):
            if isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
                return small
            done = _ops().inplace_statement(self, small.value, line)     # x.masked_fill_(m, v) -> x = ...
            if done is not None:
                return done
            node, meta = self.expr(small.value)
            if meta.kind == "dropped":         # a call with no effect in Keras (`self.lstm.flatten_parameters()`)
                return None
            return small.with_changes(value=node)
        raise TranslationError("FWT103", f"statement not translated in forward: {type(small).__name__}", line)

    def outputs_of(self, node, meta: Meta, line):
        if meta.kind == "tuple" and isinstance(node, (cst.Tuple, cst.List)):
            nodes, metas = [], []
            for el, m in zip(node.elements, meta.items):
                n, m2 = self.output(el.value, m, line)
                nodes.append(el.with_changes(value=n))
                metas.append(m2)
            return node.with_changes(elements=nodes), metas
        n, m = self.output(node, meta, line)
        return n, [m]

    def output(self, node, meta: Meta, line):
        if not meta.is_tensor:
            raise TranslationError("FWT103", "forward returns a value that is not a tensor", line)
        if meta.flat is not None:
            node, meta = materialize(self.refs, node, meta, self.notes, line)
        if self.root_keep and meta.layout == "cf" and meta.rank and meta.rank > 2:
            return transpose(self.refs, node, to_torch_perm(meta.rank)), meta.with_(layout="same")
        return node, meta

    def bind(self, target, meta: Meta, line):
        if isinstance(target, cst.Name):
            self.env[target.value] = meta
            return
        if isinstance(target, (cst.Tuple, cst.List)):
            if meta.kind != "tuple" or len(meta.items) != len(target.elements):
                raise TranslationError("FWT103", "tuple unpacking of a value that is not a matching tuple", line)
            for el, m in zip(target.elements, meta.items):
                self.bind(el.value, m, line)
            return
        raise TranslationError("FWT103", f"assignment target not translated: {code(target)}", line)

    def assign_rnn(self, small, target, node, meta: Meta, line):
        """`out, (h, c) = self.lstm(x)`: one statement or a list of them (translator/backends/keras_forward_rnn.py)."""
        return rnn_fwd.assign(self, small, target, meta, line)

    def unused(self, target) -> bool:
        names = [target] if isinstance(target, cst.Name) else [e.value for e in getattr(target, "elements", [])]
        for n in names:
            if isinstance(n, (cst.Tuple, cst.List)):
                if not self.unused(n):
                    return False
            elif not isinstance(n, cst.Name) or (n.value != "_" and self.name_counts.get(n.value, 0) > 1):
                return False
        return True

    def if_stmt(self, s: cst.If):
        line = line_of(s)
        test, tm = self.expr(s.test)
        if tm.is_tensor:
            raise TranslationError("FWT103", "`if` on a tensor value in forward", line)
        before = dict(self.env)
        body = self.block(s.body.body)
        env_body = self.env
        self.env = dict(before)
        orelse = None
        if s.orelse is not None:
            if isinstance(s.orelse, cst.If):
                orelse = self.if_stmt(s.orelse)
            else:
                orelse = s.orelse.with_changes(body=s.orelse.body.with_changes(body=self.block(s.orelse.body.body)))
        env_else = self.env
        merged = {}
        for name in set(env_body) | set(env_else):
            a, b = env_body.get(name), env_else.get(name)
            if a is None or b is None:
                merged[name] = a or b
                continue
            merged[name] = merge_metas(a, b, name, line)
        self.env = merged
        return s.with_changes(test=test, body=s.body.with_changes(body=body), orelse=orelse)

    # -- expressions --
    def expr(self, node) -> tuple:
        if isinstance(node, cst.Name):
            if node.value in self.env:
                meta = self.env[node.value]
                if meta.kind == "states":      # final RNN states held per layer (keras_forward_rnn.py)
                    return rnn_fwd.read_states(self, meta), rnn_fwd.states_meta_as_tensor(meta)
                if meta.info and isinstance(meta.info, tuple) and meta.info[0] == "squeezable":
                    self.squeeze_reads[meta.info[1]] = self.squeeze_reads.get(meta.info[1], 0) + 1
                return tlists.name_value(self, node) or (node, meta)      # a list of tensors: keras_forward_tlists.py
            if is_torch(resolve(node, self.ctx.owner.table)):
                raise TranslationError("FWT102", f"{node.value} (torch) used as a value in forward", line_of(node))
            return node, OTHER
        if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)):
            return node, Meta(kind="const")
        if isinstance(node, cst.Attribute):
            return self.attribute(node)
        if isinstance(node, cst.Call):
            self.sites += 1
            return self.call(node)
        if isinstance(node, cst.Subscript):
            return self.subscript(node)
        if isinstance(node, cst.BinaryOperation):
            return self.binary(node)
        if isinstance(node, cst.UnaryOperation):
            inner, m = self.expr(node.expression)
            return node.with_changes(expression=inner), m.with_(origin=None, nonneg=False) if m.is_tensor else m
        if isinstance(node, (cst.Tuple, cst.List)):
            elements, metas = [], []
            for el in node.elements:
                if isinstance(el, cst.StarredElement):
                    raise TranslationError("FWT103", "starred element in forward", line_of(node))
                n, m = self.expr(el.value)
                elements.append(el.with_changes(value=n))
                metas.append(m)
            return node.with_changes(elements=elements), Meta(kind="tuple", items=tuple(metas))
        if isinstance(node, cst.Comparison):
            done = _ops().comparison(self, node)
            if done is not None:
                return done
        if isinstance(node, cst.ListComp):
            return tlists.list_comp(self, node)
        if isinstance(node, cst.IfExp):
            done = _ops().if_training(self, node)
            if done is not None:
                return done
        if isinstance(node, (cst.Comparison, cst.BooleanOperation)):
            self.no_tensors(node)
            return node, OTHER
        raise TranslationError("FWT103", f"expression not translated in forward: {code(node)[:60]}", line_of(node))

    def no_tensors(self, node):
        class V(cst.CSTVisitor):
            def __init__(v):
                v.bad = None

            def visit_Name(v, n):
                m = self.env.get(n.value)
                if m is not None and m.is_tensor and v.bad is None:
                    v.bad = n
        v = V()
        node.visit(v)
        if v.bad is not None:
            raise TranslationError("FWT103", f"tensor '{v.bad.value}' used in a condition", line_of(node))
        if any(is_torch(resolve(n, self.ctx.owner.table)) for n in _names_and_attrs(node)):
            raise TranslationError("FWT102", f"torch used in a condition: {code(node)[:60]}", line_of(node))

    def attribute(self, node: cst.Attribute):
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            name = node.attr.value
            if name in self.cls.modules:
                if self.cls.modules[name].kind == "weight":        # nn.Parameter: keras_params.py
                    from .keras_params import read_weight
                    return read_weight(self, name, node)
                return node, Meta(kind="module", info=name)
            if name == "training":
                raise TranslationError("FWT102", "self.training has no Keras equivalent attribute (Keras passes "
                                                 "`training` to call): not translated yet", line_of(node))
            return node, OTHER
        if isinstance(node.value, cst.Attribute) and isinstance(node.value.value, cst.Name) and \
                node.value.value.value == "self" and node.value.attr.value in self.cls.modules:
            raise TranslationError("FWT102", f"{code(node)}: attributes of a submodule (torch parameter names) "
                                             "are not translated", line_of(node))
        if is_torch(resolve(node, self.ctx.owner.table)):
            raise TranslationError("FWT102", f"{code(node)} has no translation in forward", line_of(node))
        base, bm = self.expr(node.value)
        if bm.is_tensor and node.attr.value == "shape":
            return node.with_changes(value=base), Meta(kind="shape", info=(base, bm))
        if bm.is_tensor and node.attr.value == "dtype":
            return node.with_changes(value=base), OTHER
        if bm.is_tensor and node.attr.value == "ndim" and bm.rank is not None:
            return cst.Integer(str(bm.rank)), Meta(kind="const")
        if bm.kind == "tuple" and bm.info == "values_indices" and node.attr.value in ("values", "indices"):
            i = 0 if node.attr.value == "values" else 1
            return (base.elements[i].value if isinstance(base, cst.Tuple) else
                    cst.Subscript(base, [cst.SubscriptElement(cst.Index(node_of(i)))])), bm.items[i]
        if bm.is_tensor:
            raise TranslationError("FWT102", f"tensor attribute .{node.attr.value} not translated", line_of(node))
        return node.with_changes(value=base), OTHER

    def subscript(self, node: cst.Subscript):
        line = line_of(node)
        if isinstance(node.value, cst.Name) and self.env.get(node.value.value, OTHER).kind == "states":
            return rnn_fwd.subscript_states(self, node, self.env[node.value.value], line)
        from .keras_forward_lists import module_value
        element = module_value(self, node)      # self.layers[i]
        if element is not None:
            return element
        self.lazy_target = node.value
        base, bm = self.expr(node.value)
        if bm.kind == "tlist":
            return tlists.subscript(self, node, base, bm)
        if bm.kind == "lazy":
            return bm.info.item(self, _const_index(node), line)
        if bm.kind in ("tuple", "rnn", "shape"):
            index = _const_index(node)
            if index is None:
                raise TranslationError("FWT103", f"non-constant index into a tuple: {code(node)}", line)
            if bm.kind == "shape":
                return self.size_of(bm.info[0], bm.info[1], index, line)
            if bm.kind == "rnn":
                return rnn_fwd.subscript_rnn(self, node, base, bm, index, line)
            if not -len(bm.items) <= index < len(bm.items):
                raise TranslationError("FWT202", f"index {index} into a tuple of {len(bm.items)} values", line)
            if isinstance(base, cst.Tuple):
                return base.elements[index].value, bm.items[index]
            return node.with_changes(value=base), bm.items[index]
        if not bm.is_tensor:
            return node.with_changes(value=base), OTHER
        return _ops().index_tensor(self, node, base, bm)

    def size_of(self, base, meta: Meta, index: int, line):
        """x.size(i) / x.shape[i] -> keras.ops.shape(x)[j] (a size meta; i=0 is the batch size)."""
        if index == 0 and isinstance(meta.info, tuple) and meta.info[0] == "squeezable" and isinstance(base, cst.Name):
            attr = meta.info[1]          # the batch size does not depend on keepdims
            self.squeeze_flattens[attr] = self.squeeze_flattens.get(attr, 0) + 1
        try:
            axis = keras_axis(index, meta)
        except ValueError:
            raise TranslationError("FWT302", f"size of axis {index}: the tensor's rank is not known", line)
        shape = call(self.refs.ops("shape"), [base])
        node = cst.Subscript(shape, [cst.SubscriptElement(cst.Index(node_of(axis)))])
        known = meta.shape[index] if meta.shape is not None and -len(meta.shape) <= index < len(meta.shape) else None
        return node, Meta(kind="size", info=("batch" if index == 0 else index, known))

    def binary(self, node: cst.BinaryOperation):
        line = line_of(node)
        left, lm = self.expr(node.left)
        right, rm = self.expr(node.right)
        if not lm.is_tensor and not rm.is_tensor:
            return node.with_changes(left=left, right=right), OTHER if "size" not in (lm.kind, rm.kind) else \
                Meta(kind="size", info=("expr", None))
        if isinstance(node.operator, cst.MatrixMultiply):
            return _ops().matmul_nodes(self, left, lm, right, rm, line)
        left, lm, right, rm = _ops().promote(self, left, lm, right, rm)      # int tensor with floats
        (left, right), meta = self.unify([(left, lm), (right, rm)], line)
        bitwise = isinstance(node.operator, (cst.BitAnd, cst.BitOr, cst.BitXor))
        meta = meta.with_(info=meta.info if bitwise and all(m.info == "bool" for m in (lm, rm) if m.is_tensor) else None)
        nonneg = lm.nonneg and rm.nonneg and isinstance(node.operator, (cst.Add, cst.Multiply))
        one = [m for m in (lm, rm) if m.is_tensor]
        origin = one[0].origin if len(one) == 1 else None     # `0.5 * x` is still the model input's layout
        return node.with_changes(left=left, right=right), meta.with_(origin=origin, nonneg=nonneg)

    def unify(self, pairs, line):
        """Bring tensors combined elementwise (or concatenated) to one layout; returns (nodes, meta)."""
        tensors = [m for _, m in pairs if m.is_tensor]
        target = "cf" if any(m.layout == "cf" and (m.rank or 0) > 2 for m in tensors) else "same"
        if target == "cf" and any(m.rank is None for m in tensors):
            err = TranslationError("FWT302", "a channels-last image is combined with a tensor of unknown rank: "
                                             "whether it needs a transpose is not known (pass --input-shape)", line)
            if not self.requests and not all(m.origin is not None for m in tensors if m.rank is None):
                raise err
            self.deferred.append(err)      # a model input: its rank may be settled by the rerun
        top = max((m.rank or 0) for m in tensors)
        flats = {m.flat for m in tensors}
        keep_flat = len(flats) == 1 and None not in flats
        nodes, metas = [], []
        for n, m in pairs:
            if m.is_tensor:
                if m.flat is not None and not keep_flat:
                    n, m = materialize(self.refs, n, m, self.notes, line)
                if target == "cf" and m.rank and m.rank < top and (m.layout == "same" or m.rank <= 2):
                    n, m = _ops().broadcast_lower_rank(self, n, m, top, line)
                elif (m.rank or 0) > 2 and m.layout != target:
                    n, m = convert(self.refs, n, m, target, self.notes, line)
            nodes.append(n)
            metas.append(m)
        out = next(m for m in metas if m.is_tensor)
        shapes = [m.shape for m in metas if m.is_tensor]
        if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
            shape = out.shape if all(s == out.shape for s in shapes) else (None if out.rank is None else (None,) * out.rank)
        else:
            shape = tuple(next((d for d in dims if d not in (None, 1)), dims[0]) if len(set(dims) - {None}) <= 1
                          else None for dims in zip(*shapes))
        return nodes, out.with_(shape=shape, rank=len(shape) if shape else out.rank)

    # -- calls --
    def call(self, node: cst.Call):
        func = node.func
        line = line_of(node)
        from .keras_forward_lists import call_element, call_method
        hooked = call_element(self, node)      # layer(x) for an element of a list of modules
        if hooked is not None:
            return hooked
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            attr = func.attr.value
            if attr in self.cls.modules:
                return self.apply_module(attr, node)
            if attr in self.cls.methods and attr not in ("__init__", "forward"):
                return call_method(self, attr, node)
            raise TranslationError("FWT102", f"self.{attr}(...): calls of other methods in forward are not "
                                             "translated yet", line)
        listed = tlists.special_call(self, node)      # skips.pop(), reversed(skips): keras_forward_tlists.py
        if listed is not None:
            return listed
        appended = rnn_fwd.special_call(self, node)     # `outputs.append(h)`, `self.lstm.flatten_parameters()`
        if appended is not None:
            return appended
        path = resolve(func, self.ctx.owner.table)
        if is_torch(path):
            return self.torch_function(path, node)
        if isinstance(func, cst.Attribute):
            base, bm = self.expr(func.value)
            if bm.is_tensor:
                return self.tensor_method(func.attr.value, base, bm, node)
            if bm.kind == "module":
                raise TranslationError("FWT102", f"method .{func.attr.value}() of a submodule in forward", line)
        args = []
        for a in node.args:
            n, m = self.expr(a.value)
            if m.is_tensor:
                raise TranslationError("FWT102", f"{code(func)}(...) applied to a tensor is not translated", line)
            args.append(a.with_changes(value=n))
        return node.with_changes(args=args), OTHER

    def tensors_of(self, node: cst.Call):
        out = []
        for a in node.args:
            if a.star:
                raise TranslationError("FWT103", "*args in a module call", line_of(node))
            out.append((a.keyword.value if a.keyword else None, *self.expr(a.value)))
        return out

    def apply_module(self, attr: str, node: cst.Call):
        line = line_of(node)
        spec: ModSpec = self.cls.modules[attr]
        done = _ops().apply_module_call(self, attr, spec, node)     # multi-input modules (attention)
        if done is not None:
            return done
        if rnn_fwd.handles(spec):          # RNNs and cells: states, layers, initial states
            return rnn_fwd.apply(self, attr, spec, node)
        if attr not in self.cls.module_stmts and spec.kind in ("leaf", "sequential", "helper", "instance"):
            from .keras_forward_lists import apply_site_module     # built in a local or a method
            return apply_site_module(self, attr, spec, node)
        if keras_tied.tied_source(self, attr):      # self.decoder.weight = self.encoder.weight
            return keras_tied.apply_tied(self, attr, spec, node)
        args = self.tensors_of(node)
        if any(k is not None for k, _, _ in args):
            raise TranslationError("FWT103", f"keyword arguments in a call of self.{attr}", line)
        if spec.kind == "instance":
            metas = [m for _, _, m in args]
            ctor, outs, entries, wanted = self.ctx.owner.instance(spec, metas, attr, attr, self.ctx, existing=self.cls)
            self.cls.record(attr, ("instance", spec.torch_path), ctor, entries)
            nodes = []
            for (_, n, m), w in zip(args, wanted):     # the block asked for another layout of an input
                if m.is_tensor and w.is_tensor and w.layout != m.layout and (w.rank or 0) > 2:
                    if m.origin is not None:
                        self.requests[m.origin] = w.with_(origin=m.origin)
                    elif m.rank is not None:
                        n, m = convert(self.refs, n, m, w.layout, self.notes, line)
                    else:
                        raise TranslationError("FWT302", f"the rank of the input of self.{attr} is not known", line)
                nodes.append(n)
            new = node.with_changes(args=[a.with_changes(value=n) for a, n in zip(node.args, nodes)])
            return new, outs[0] if len(outs) == 1 else Meta(kind="tuple", items=tuple(outs))
        if len(args) != 1:
            raise TranslationError("FWT103", f"self.{attr} called with {len(args)} arguments", line)
        _, x, meta = args[0]
        if not meta.is_tensor:
            raise TranslationError("FWT103", f"self.{attr} applied to a value that is not a tensor", line)
        ref = cst.Attribute(cst.Name("self"), cst.Name(self.cls.keras_attr(attr)))
        if spec.kind == "param" and self.cls.root:
            raise TranslationError("FWT202", f"self.{attr} is a module passed to the model's constructor: what it "
                                             "does to the layout of its input is not known here (build it in "
                                             "__init__, or in a helper called there)", line)
        if spec.kind == "param":      # checked where the class is built (translate_ctor_args)
            if meta.flat is not None:
                x, meta = materialize(self.refs, x, meta, self.notes, line)
            self.cls.param_uses.setdefault(attr, []).append(meta)
            out = meta.with_(origin=None, nonneg=False,
                             shape=None if meta.shape is None else (None,) * len(meta.shape))
            return node.with_changes(func=ref, args=[cst.Arg(x)]), out
        if spec.kind == "sequential":
            x, meta = self.conform_sequential_input(x, meta, spec, line)
            seq, out, entries = SequentialBuilder(self.ctx).build(spec, meta, f"{attr}.", f"{self.cls.keras_attr(attr)}.")
            self.cls.record(attr, ("sequential", code(seq)), seq, entries)
            return cst.Call(ref, [cst.Arg(x)]), out
        if spec.kind == "helper":
            x, meta = self.conform_sequential_input(x, meta, spec, line)
            expr, out = self.ctx.owner.helper_call(spec, meta, self.ctx)
            self.cls.record(attr, ("helper", code(expr)), expr, [])
            return cst.Call(ref, [cst.Arg(x)]), out
        if spec.kind == "dynseq":             # nn.Sequential(*layers): keras_forward_lists.py
            from .keras_forward_lists import apply_program
            x, meta = self.conform_sequential_input(x, meta, spec, line)
            entries = []
            out = apply_program(self.ctx, spec.program, meta, line, f"{attr}.", entries,
                                f"{self.cls.keras_attr(attr)}.")
            self.cls.record(attr, ("dynseq",), None, entries)
            return cst.Call(ref, [cst.Arg(x)]), out
        if spec.kind != "leaf":
            raise TranslationError("FWT103", f"self.{attr} ({spec.kind}) cannot be called", line)
        if spec.args is not None and spec.args.value("inplace", False) is True:
            self.inplace_hazard(node.args[0].value, line)
        x, meta = self.conform(x, meta, spec, line)
        applied = leaf(self.ctx, spec, meta, sequential=False, squeeze=attr in self.squeeze)
        if applied.out.info == "squeezable":
            applied.out = applied.out.with_(info=("squeezable", attr))
        self.cls.record_leaf(attr, spec, applied)
        expr = x
        for step in applied.steps:
            if step.kind == "op":
                expr = step.op(expr)
            else:
                name = self.cls.keras_attr(attr) + (f"_{step.role}" if step.role else "")
                expr = cst.Call(cst.Attribute(cst.Name("self"), cst.Name(name)), [cst.Arg(expr)])
        return expr, applied.out

    def inplace_hazard(self, arg, line) -> None:
        """An in-place torch op changes its input variable; Keras ops never do. Exact unless the variable
        is read again (the statement `v = relu_(v)` rebinds it anyway)."""
        if not isinstance(arg, cst.Name):
            return
        name = arg.value
        later = [ln for ln in self.reads.get(name, []) if ln > line]
        same = sum(1 for ln in self.reads.get(name, []) if ln == line)
        if (later and not self.rebinds(name, line)) or same > 1 and not self.rebinds(name, line):
            self.notes.add("FWT402", f"an in-place torch op changes '{name}' here, and '{name}' is read again: "
                                     f"the Keras code keeps the old value (assign the result to '{name}' to be "
                                     "sure both agree)", line)

    def rebinds(self, name: str, line: int) -> bool:
        return line in self.assigned.get(name, [])

    def conform_sequential_input(self, x, meta, spec: ModSpec, line):
        """The first item of a Sequential decides the input layout (a model input is requested)."""
        first = first_leaf(spec)
        if first is not None and first.kind == "leaf":
            return self.conform(x, meta, first, line, convert_now=False)
        return x, meta

    def conform(self, x, meta: Meta, spec: ModSpec, line, convert_now=True):
        """The input of a leaf in the layout its rule asks for (or a request to change a model input)."""
        accepts_flat = _elementwise(spec) or spec.rule.id == "dense"
        if meta.flat is not None and not accepts_flat:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        need = needed_layout(spec)
        hint = rank_hint(spec)
        if need == "cf" and meta.rank is None and hint:
            if meta.origin is not None:
                self.requests[meta.origin] = tensor(hint, "cf", origin=meta.origin)
                return x, tensor(hint, "cf", origin=meta.origin)
            raise TranslationError("FWT302", f"the rank of the input of {spec.short} is not known", line)
        if need == "cf" and meta.layout == "same" and (meta.rank or 0) > 2:
            if meta.origin is not None:
                self.requests[meta.origin] = meta.with_(layout="cf")
                return x, meta.with_(layout="cf")
            if not convert_now:
                return x, meta
            return convert(self.refs, x, meta, "cf", self.notes, line)
        if need == "same" and meta.layout == "cf" and (meta.rank or 0) > 2:
            if not convert_now:
                return x, meta
            return convert(self.refs, x, meta, "same", self.notes, line)
        return x, meta

    # -- torch functions and tensor methods --
    def torch_function(self, path: str, node: cst.Call):
        line = line_of(node)
        if path in rnn_fwd.TORCH_FUNCTIONS:         # cat of a list of images / a slice of a list
            done = tlists.torch_function(self, path, node)
            if done is not None:
                return done
        if path in rnn_fwd.TORCH_FUNCTIONS:         # stack/cat of a list built in forward (keras_forward_rnn.py)
            done = rnn_fwd.torch_function(self, path, node)
            if done is not None:
                return done
        short = path.rsplit(".", 1)[-1]
        if path == "torch.flatten":
            args = self.tensors_of(node)
            (_, x, m), rest = args[0], args[1:]
            start = _const_arg(rest, "start_dim", 0, 0, line)
            end = _const_arg(rest, "end_dim", 1, -1, line)
            return self.flatten(x, m, start, end, line)
        if path == "torch.cat":
            return self.concat(node)
        if path in ("torch.nn.functional.max_pool2d", "torch.nn.functional.avg_pool2d",
                    "torch.nn.functional.max_pool1d", "torch.nn.functional.avg_pool1d"):
            return self.functional_pool(short, node)
        if path in ("torch.nn.functional.adaptive_avg_pool2d", "torch.nn.functional.adaptive_avg_pool1d",
                    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.adaptive_max_pool1d"):
            return self.functional_global_pool(short, node)
        if path == "torch.nn.functional.pad":
            return self.functional_pad(node)
        done = _ops().dispatch(self, path, node)          # torch -> Keras op hatches (keras_forward_ops.py)
        if done is not None:
            return done
        rule = self.ctx.owner.index.functions.get(path)
        if rule is not None:
            return self.op(rule, path, node)
        raise TranslationError("FWT102", f"{path} has no torch -> Keras translation yet", line)

    def functional_pad(self, node: cst.Call):
        """F.pad(x, (left, right, top, bottom, ...), value=v) -> keras.ops.pad with one pair per Keras axis."""
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        names = ["pad", "mode", "value"]
        bound = {}
        for i, (k, n, _) in enumerate(rest):
            bound[k or names[i]] = _const(n)
        pad, mode, value = bound.get("pad", UNKNOWN), bound.get("mode", "constant"), bound.get("value", None)
        if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(v, int) for v in pad):
            raise TranslationError("FWT202", "F.pad: a constant tuple of pads expected", line)
        if mode != "constant" or value is UNKNOWN:
            raise TranslationError("FWT202", f"F.pad(mode={mode!r}): only constant padding translates", line)
        if not meta.is_tensor:
            raise TranslationError("FWT103", "F.pad of a non-tensor", line)
        if meta.rank is None:
            err = TranslationError("FWT302", "F.pad: the rank of the tensor is not known", line)
            if meta.origin is None:
                raise err
            # a model input: assume an image of that many padded axes for now; the layer that consumes it
            # decides the input's layout and rank (and the pass reruns), else the error stands
            self.deferred.append(err)
            meta = tensor(2 + len(pad) // 2, origin=meta.origin)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        rank = meta.rank
        pairs = [[0, 0] for _ in range(rank)]
        for k in range(len(pad) // 2):
            axis = rank - 1 - k
            if axis < 0:
                raise TranslationError("FWT202", "F.pad: more pads than axes", line)
            pairs[keras_axis(axis, meta) % rank] = [pad[2 * k], pad[2 * k + 1]]
        kwargs = [("constant_values", node_of(value))] if value not in (None, 0, 0.0) else []
        shape = meta.shape
        if shape is not None:
            shape = list(shape)
            for k in range(len(pad) // 2):
                axis = rank - 1 - k
                if isinstance(shape[axis], int):
                    shape[axis] += pad[2 * k] + pad[2 * k + 1]
            shape = tuple(shape)
        nonneg = meta.nonneg and (value in (None, 0, 0.0) or isinstance(value, (int, float)) and value >= 0)
        return call(self.refs.ops("pad"), [x, node_of(pairs)], kwargs), meta.with_(shape=shape, nonneg=nonneg)

    def tensor_method(self, name: str, x, meta: Meta, node: cst.Call):
        line = line_of(node)
        done = _ops().dispatch(self, "." + name, node, receiver=(x, meta))
        if done is not None:
            return done
        rest = self.tensors_of(node)
        if name in ("view", "reshape"):
            return self.reshape(x, meta, rest, line)
        if name == "flatten":
            start = _const_arg(rest, "start_dim", 0, 0, line)
            end = _const_arg(rest, "end_dim", 1, -1, line)
            return self.flatten(x, meta, start, end, line)
        if name == "size":
            if not rest:
                return x, Meta(kind="shape", info=(x, meta))
            index = _const_arg(rest, "dim", 0, None, line)
            return self.size_of(x, meta, index, line)
        if name == "contiguous" and not rest:
            return x, meta
        if name in ("permute", "transpose"):
            return self.permute(name, x, meta, rest, line)
        if name in ("mean", "sum", "amax", "amin"):
            return self.reduce(name, x, meta, rest, line)
        path = resolve(cst.parse_expression(f"torch.{name}"), _TORCH_TABLE)
        rule = self.ctx.owner.index.functions.get(path)
        if rule is not None:
            fake = node.with_changes(func=cst.parse_expression(f"torch.{name}"),
                                     args=[cst.Arg(x)] + list(node.args))
            return self.op(rule, path, fake, first=(x, meta))
        raise TranslationError("FWT102", f"tensor method .{name}() has no torch -> Keras translation yet", line)

    def op(self, rule, path: str, node: cst.Call, first=None):
        """A torch function with an op rule: keras.ops.X with the rule's params (axis remapped)."""
        line = line_of(node)
        if rule.emit and rule.emit not in REVERSIBLE_OP_EMITS:
            raise TranslationError("FWT102", f"{path} has no torch -> Keras translation yet (its rule "
                                             f"'{rule.id}' is emitted by code in the other direction)", line)
        torch_params = [p for p in rule.params if p.torch or p.value in ("tensor", "tensors")]
        given = {}
        args = list(node.args)
        for i, a in enumerate(args):
            if a.keyword is None:
                if i >= len(torch_params):
                    raise TranslationError("FWT201", f"{path}: too many positional arguments", line)
                given[torch_params[i].torch or "input"] = a.value
            else:
                given[a.keyword.value] = a.value
        known = {p.torch or "input" for p in torch_params}
        for k in list(given):
            if k not in known:
                if k == "inplace":
                    given.pop(k)
                    continue
                if k == "approximate" and path == "torch.nn.functional.gelu":
                    continue
                raise TranslationError("FWT201", f"{path}: argument '{k}' not translated", line)
        positional, keywords, tensor_meta = [], [], None
        for i, p in enumerate(rule.params):
            if p.torch is None and p.value not in ("tensor", "tensors"):
                continue
            value = given.get(p.torch or "input")
            if p.value in ("tensor", "tensors"):
                if value is None:
                    raise TranslationError("FWT201", f"{path}: missing {p.torch or 'input'}", line)
                if first is not None and i == 0:
                    n, m = first
                else:
                    n, m = self.expr(value)
                if m.is_tensor and m.flat is not None and rule.layout != "any":
                    n, m = materialize(self.refs, n, m, self.notes, line)
                if m.is_tensor and rule.layout == "cl" and m.layout == "cf" and (m.rank or 0) > 2:
                    n, m = convert(self.refs, n, m, "same", self.notes, line)
                tensor_meta = tensor_meta or m
                positional.append(n)
                continue
            if value is None:
                if p.has_torch_default:
                    tv = p.torch_default
                else:
                    if p.value == "axis":
                        raise TranslationError("FWT202", f"{path}: {p.torch} must be given (the implicit "
                                                         "dimension is deprecated)", line)
                    continue
            else:
                tv = _const(value)
                if tv is UNKNOWN:
                    raise TranslationError("FWT202", f"{path}: {p.torch} must be a constant", line)
            if p.value == "axis":
                if tensor_meta is None or not tensor_meta.is_tensor:
                    raise TranslationError("FWT202", f"{path}: axis of a non-tensor", line)
                try:
                    kv = keras_axis(tv, tensor_meta)
                except ValueError:
                    raise TranslationError("FWT302", f"{path}: the rank of the tensor is not known", line)
            else:
                inverse = INVERSES.get(p.value)
                if inverse is None:
                    raise TranslationError("FWT202", f"{path}: {p.torch} has no inverse value transform", line)
                kv = VALUE_TRANSFORMS[inverse](tv)
            if p.keras and not loosely_equal(kv, p.default):
                keywords.append((p.keras, node_of(kv)))
        if path == "torch.nn.functional.gelu":
            approx = _const(given["approximate"]) if "approximate" in given else "none"
            if approx not in ("none", "tanh"):
                raise TranslationError("FWT202", f"F.gelu(approximate={approx!r})", line)
            if approx == "none":
                keywords.append(("approximate", node_of(False)))
        keras_path = rule.keras[0]
        out = tensor_meta if tensor_meta is not None else OTHER
        if out.is_tensor and rule.layout == "cl" or out.is_tensor and rule.shape not in ("same", "unknown") \
                and rule.layout != "axis":
            out = tensor(None)          # a reshaping op: nothing known of the result but its order
        elif out.is_tensor:
            out = out.with_(origin=out.origin if rule.layout == "any" else None,
                            nonneg=rule.id in ("op_relu", "op_sigmoid", "op_softmax", "op_relu6"))
        return call(self.refs.keras(keras_path[len("keras."):]), positional, keywords), out

    def flatten(self, x, meta: Meta, start, end, line):
        if (start, end) != (1, -1) and meta.is_tensor and (start, end) != (1, (meta.rank or 0) - 1):
            return _ops().flatten_range(self, x, meta, start, end, line)
        if start != 1 or end != -1:
            raise TranslationError("FWT202", f"flatten(start_dim={start}, end_dim={end}): only start_dim=1 "
                                             "translates", line)
        if not meta.is_tensor:
            raise TranslationError("FWT103", "flatten of a non-tensor", line)
        if isinstance(meta.info, tuple) and meta.info[0] == "squeezable":
            attr = meta.info[1]
            self.squeeze_uses[attr] = self.squeeze_uses.get(attr, 0) + 1
            if isinstance(x, cst.Name):
                self.squeeze_flattens[attr] = self.squeeze_flattens.get(attr, 0) + 1
        if meta.rank == 2 and meta.layout == "same" and meta.flat is None:
            return x, meta
        attr = self.cls.flatten_layer()
        return cst.Call(cst.Attribute(cst.Name("self"), cst.Name(attr)), [cst.Arg(x)]), flat_meta(meta)

    def reshape(self, x, meta: Meta, rest, line):
        if len(rest) == 1 and rest[0][2].kind == "tuple":
            node = rest[0][1]
            items = [(None, el.value, m) for el, m in zip(node.elements, rest[0][2].items)]
        else:
            items = rest
        if any(k is not None for k, _, _ in items):
            raise TranslationError("FWT103", "keyword arguments in view/reshape", line)
        if len(items) == 2 and items[0][2].kind == "size" and items[0][2].info[0] == "batch" \
                and _const(items[1][1]) == -1:
            return self.flatten(x, meta, 1, -1, line)
        dims = [_const(n) if m.kind == "const" or isinstance(n, (cst.UnaryOperation, cst.Integer, cst.BinaryOperation)) and
                _const(n) is not UNKNOWN else UNKNOWN for _, n, m in items]
        if meta.layout == "cf" and (meta.rank or 0) > 2 and len(items) == 2 and dims[0] == -1 and \
                isinstance(dims[1], int) and dims[1] > 0:
            return self.flat_view(x, meta, items[1][1], dims[1], line)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        if meta.layout == "cf" and (meta.rank or 0) > 2:
            x, meta = convert(self.refs, x, meta, "same", self.notes, line)
        nodes = []
        for (_, n, m), d in zip(items, dims):
            if m.kind == "size" and m.info[0] == "batch" and -1 not in dims:
                nodes.append(node_of(-1))
            elif m.kind in ("size", "const", "other") or d is not UNKNOWN:
                nodes.append(n)
            else:
                raise TranslationError("FWT103", f"view/reshape size not translated: {code(n)}", line)
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
        return call(self.refs.ops("reshape"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
            tensor(shape=shape, integer=meta.integer, info=meta.info)

    def flat_view(self, x, meta: Meta, size_node, size: int, line):
        """x.view(-1, N) of an image: Keras flattens (H, W, C); the next Linear's rows are permuted."""
        channels = meta.channels
        if meta.shape is not None and all(isinstance(d, int) for d in meta.shape[1:]):
            total = dim_prod(meta.shape[1:])
            if total != size:
                raise TranslationError("FWT202", f"view(-1, {size}) of a tensor of {total} values per sample: "
                                                 "not a per-sample flatten", line)
        elif isinstance(channels, int) and size % channels:
            raise TranslationError("FWT202", f"view(-1, {size}) of an image with {channels} channels: not a "
                                             "per-sample flatten", line)
        spatial = size // channels if isinstance(channels, int) else None
        flat = None if spatial == 1 else (channels, spatial)
        out = tensor(shape=(None, size), flat=flat, nonneg=meta.nonneg)
        return call(self.refs.ops("reshape"), [x, cst.Tuple([cst.Element(node_of(-1)), cst.Element(size_node)])]), out

    def concat(self, node: cst.Call):
        line = line_of(node)
        args = list(node.args)
        seq = args[0].value if args else None
        if not isinstance(seq, (cst.List, cst.Tuple)) and seq is not None:
            done = _ops().concat_tuple(self, node, seq)      # torch.cat(parts, dim) of a tuple value
            if done is not None:
                return done
        if not isinstance(seq, (cst.List, cst.Tuple)):
            raise TranslationError("FWT103", "torch.cat of something other than a literal list/tuple", line)
        dim_node = None
        for a in args[1:]:
            if a.keyword is None or a.keyword.value == "dim":
                dim_node = a.value
            else:
                raise TranslationError("FWT201", f"torch.cat: argument '{a.keyword.value}'", line)
        dim = _const(dim_node) if dim_node is not None else 0
        if not isinstance(dim, int):
            raise TranslationError("FWT202", "torch.cat: dim must be a constant", line)
        pairs = [self.expr(el.value) for el in seq.elements]
        if not all(m.is_tensor for _, m in pairs):
            raise TranslationError("FWT103", "torch.cat of non-tensors", line)
        pairs = [materialize(self.refs, n, m, self.notes, line) if m.flat is not None else (n, m) for n, m in pairs]
        nodes, meta = self.unify(pairs, line)
        metas = [m for _, m in pairs]
        try:
            axis = keras_axis(dim, meta)
        except ValueError:
            raise TranslationError("FWT302", "torch.cat: the rank of the tensors is not known", line)
        shape = meta.shape
        if shape is not None:
            d = dim % len(shape)
            sizes = [m.shape[d] if m.shape is not None and len(m.shape) == len(shape) else None for m in metas]
            total = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
            shape = shape[:d] + (total,) + shape[d + 1:]
        kwargs = [("axis", node_of(axis))]
        out = meta.with_(shape=shape, origin=None, nonneg=all(m.nonneg for m in metas))
        return call(self.refs.ops("concatenate"), [cst.List([cst.Element(n) for n in nodes])], kwargs), out

    def permute(self, name, x, meta: Meta, rest, line):
        rank = meta.rank
        consts = [_const(n) for _, n, _ in rest]
        if rank is None and name == "transpose" and meta.layout == "same" and meta.flat is None and \
                len(consts) == 2 and all(isinstance(c, int) for c in consts) and (consts[0] < 0) == (consts[1] < 0):
            return _ops().swapaxes_unknown_rank(self, x, meta, consts[0], consts[1])
        if rank is None and name == "permute" and meta.layout == "same" and meta.flat is None:
            given = consts[0] if len(consts) == 1 and isinstance(consts[0], (tuple, list)) else consts
            rank = len(given)          # torch requires one axis per dimension: the rank is the number of axes
            meta = meta.with_(rank=rank, shape=(None,) * rank)
        if rank is None:
            raise TranslationError("FWT302", f"{name}: the rank of the tensor is not known", line)
        if len(consts) == 1 and isinstance(consts[0], (tuple, list)):
            consts = list(consts[0])
        if not all(isinstance(c, int) for c in consts):
            raise TranslationError("FWT202", f"{name}: constant axes expected", line)
        if name == "transpose":
            if len(consts) != 2:
                raise TranslationError("FWT103", "transpose takes two axes", line)
            perm = list(range(rank))
            a, b = consts[0] % rank, consts[1] % rank
            perm[a], perm[b] = perm[b], perm[a]
        else:
            perm = [c % rank for c in consts]
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        # Keras tensor axis of each torch axis:
        where = list(range(rank)) if meta.layout == "same" else [keras_axis(i, meta) % rank for i in range(rank)]
        keras_perm = tuple(where[p] for p in perm)
        shape = tuple(meta.shape[p] for p in perm) if meta.shape else None
        out = (tensor(shape=shape) if shape else tensor(rank)).with_(integer=meta.integer, info=meta.info)
        if keras_perm == tuple(range(rank)):
            return x, out
        return transpose(self.refs, x, keras_perm), out

    def reduce(self, name, x, meta: Meta, rest, line):
        dim_node = keep_node = None
        for i, (k, n, _) in enumerate(rest):
            if k in (None, "dim") and (k == "dim" or i == 0):
                dim_node = n
            elif k == "keepdim" or (k is None and i == 1):
                keep_node = n
            else:
                raise TranslationError("FWT201", f".{name}(): argument '{k}' not translated", line)
        dims = _const(dim_node) if dim_node is not None else None
        keep = _const(keep_node) if keep_node is not None else False
        if dims is UNKNOWN or keep is UNKNOWN:
            raise TranslationError("FWT202", f".{name}(): constant dim/keepdim expected", line)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        kwargs = []
        rank = meta.rank
        if dims is not None:
            dl = list(dims) if isinstance(dims, (tuple, list)) else [dims]
            try:
                axes = [keras_axis(d, meta) for d in dl]
            except ValueError:
                raise TranslationError("FWT302", f".{name}(): the rank of the tensor is not known", line)
            kwargs.append(("axis", node_of(tuple(axes) if len(axes) > 1 else axes[0])))
            if rank is not None:
                removed = {d % rank for d in dl}
                if keep:
                    shape = tuple(1 if i in removed else d for i, d in enumerate(meta.shape))
                    out = meta.with_(shape=shape, origin=None)
                else:
                    shape = tuple(d for i, d in enumerate(meta.shape) if i not in removed)
                    layout = meta.layout if 1 not in removed and len(shape) > 2 else "same"
                    out = tensor(shape=shape, layout=layout)
            else:
                out = tensor(None)
        else:
            out = tensor(shape=()) if not keep else meta
        if keep:
            kwargs.append(("keepdims", node_of(True)))
        op = {"mean": "mean", "sum": "sum", "amax": "max", "amin": "min"}[name]
        return call(self.refs.ops(op), [x], kwargs), out

    def functional_pool(self, short, node: cst.Call):
        """F.max_pool2d(x, k, stride=None) (no padding) -> keras.ops.max_pool / average_pool."""
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        n = 2 if short.endswith("2d") else 1
        names = ["kernel_size", "stride", "padding"] + (["dilation", "ceil_mode", "return_indices"]
                                                         if short.startswith("max") else ["ceil_mode", "count_include_pad"])
        bound = {}
        for i, (k, node_, m) in enumerate(rest):
            key = k or names[i]
            bound[key] = _const(node_)
        k = bound.get("kernel_size")
        s = bound.get("stride") or k
        if any(v is UNKNOWN for v in (k, s)) or bound.get("padding", 0) not in (0, (0, 0), [0, 0]) \
                or bound.get("ceil_mode", False) or bound.get("dilation", 1) not in (1, (1, 1)) \
                or bound.get("return_indices", False):
            raise TranslationError("FWT202", f"F.{short}: only constant kernel/stride without padding, "
                                             "dilation or ceil_mode translate", line)
        x, meta = self.conform(x, meta, _PoolSpec(n), line)
        keras_op = "max_pool" if short.startswith("max") else "average_pool"
        kwargs = [("strides", node_of(_pretty(s)))] if _pretty(s) != _pretty(k) else []
        sizes = meta.spatial or (None,) * n
        kk = k if isinstance(k, (tuple, list)) else (k,) * n
        ss = s if isinstance(s, (tuple, list)) else (s,) * n
        spatial = tuple(None if v is None else (v - a) // b + 1 for v, a, b in zip(sizes, kk, ss))
        out = tensor(shape=(None, meta.channels) + spatial, layout="cf", nonneg=meta.nonneg)
        return call(self.refs.ops(keras_op), [x, node_of(_pretty(k))], kwargs), out

    def functional_global_pool(self, short, node: cst.Call):
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        n = 2 if short.endswith("2d") else 1
        size = _const(rest[0][1]) if rest else UNKNOWN
        if size is UNKNOWN or any(v != 1 for v in (size if isinstance(size, (tuple, list)) else (size,))):
            raise TranslationError("FWT202", f"F.{short}: only output size 1 translates", line)
        x, meta = self.conform(x, meta, _PoolSpec(n), line)
        op = "mean" if "avg" in short else "max"
        axes = tuple(range(1, n + 1))
        out = tensor(shape=(None, meta.channels) + (1,) * n, layout="cf", nonneg=meta.nonneg)
        return call(self.refs.ops(op), [x], [("axis", node_of(axes if n > 1 else 1)), ("keepdims", node_of(True))]), out


def _ops():
    """translator/backends/keras_forward_ops.py (imported late: it builds on this module)."""
    from . import keras_forward_ops
    return keras_forward_ops


class _PoolSpec:
    """A stand-in spec for functional pooling: needs a channels-first (image) input of rank n+2."""
    kind = "leaf"

    def __init__(self, n):
        self.torch_path = f"torch.nn.MaxPool{n}d"
        self.rule = _ImageRule()
        self.short = f"max_pool{n}d"


class _ImageRule:
    layout = "cf"
    shape = "pool"
    id = "functional_pool"


def merge_metas(a: Meta, b: Meta, name: str, line: int) -> Meta:
    if a == b:
        return a
    if a.kind != b.kind or a.is_tensor and (a.layout != b.layout or a.rank != b.rank or a.flat != b.flat):
        raise TranslationError("FWT103", f"'{name}' holds different kinds of values after an `if`", line)
    if not a.is_tensor:
        return a
    shape = None if a.shape is None or b.shape is None else tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
    return a.with_(shape=shape, origin=a.origin if a.origin == b.origin else None, nonneg=a.nonneg and b.nonneg)


def _const(node):
    if node is None:
        return UNKNOWN
    from ..values import evaluate
    v = evaluate(node, {})
    return UNKNOWN if isinstance(v, Sym) else v


def _const_index(node: cst.Subscript):
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    v = _const(node.slice[0].slice.value)
    return v if isinstance(v, int) else None


def _const_arg(rest, name, position, default, line):
    for i, (k, n, _) in enumerate(rest):
        if k == name or (k is None and i == position):
            v = _const(n)
            if v is UNKNOWN:
                raise TranslationError("FWT202", f"{name} must be a constant", line)
            return v
    return default


def _names_and_attrs(node):
    out = []

    class V(cst.CSTVisitor):
        def visit_Attribute(v, n):
            out.append(n)

        def visit_Name(v, n):
            out.append(n)
    node.visit(V())
    return out


class _Table:
    """Resolves `torch.X` written by the translator itself (tensor methods as functions)."""

    def resolve(self, node):
        return dotted(node)


_TORCH_TABLE = _Table()
