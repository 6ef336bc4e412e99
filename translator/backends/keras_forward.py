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

from ..cst_visit import CodeOf, Found, first
from ..findings import TranslationError
from ..positions import line_of
from ..frontends.torch_models import ModSpec, is_torch, resolve
from ..rules import LayerRule
from .keras_code import (OTHER, KerasRefs, Meta, Notes, call, code, keras_axis, node_of, tensor,
                         to_torch_perm)
from . import keras_forward_tlists as tlists
from .keras_layers import Applied, LeafContext, Step, apply_leaf
from . import keras_forward_rnn as rnn_fwd
from . import keras_tied
from .keras_forward_base import _const_index, _names_and_attrs, _ops, convert, materialize, merge_metas, transpose
from .keras_forward_calls import TorchCalls

RANK_OF_SUFFIX = {"1d": 3, "2d": 4, "3d": 5}
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

class ForwardTranslator(TorchCalls):
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
        def name(n):
            m = self.env.get(n.value)
            if m is not None and m.is_tensor:
                raise Found(n)
        bad = first(node, {cst.Name: name})
        if bad is not None:
            raise TranslationError("FWT103", f"tensor '{bad.value}' used in a condition", line_of(node))
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
            self.cls.record(attr, ("sequential", CodeOf(seq)), seq, entries)
            return cst.Call(ref, [cst.Arg(x)]), out
        if spec.kind == "helper":
            x, meta = self.conform_sequential_input(x, meta, spec, line)
            expr, out = self.ctx.owner.helper_call(spec, meta, self.ctx)
            self.cls.record(attr, ("helper", CodeOf(expr)), expr, [])
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
                ref = cst.Attribute(cst.Name("self"), cst.Name(name))
                expr = step.use(ref, expr) if step.use else cst.Call(ref, [cst.Arg(expr)])
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


