"""`keras.Sequential(layers)` of a Python list built in __init__ -> `nn.Sequential(*layers)`.

    layers = []                                      layers = []
    if expand_ratio != 1:                            if expand_ratio != 1:
        layers.append(Conv2D(hidden_dim, 1))   ->        layers.append(nn.Conv2d(inp, hidden_dim, 1))
    layers.extend([DepthwiseConv2D(3), ...])         layers.extend([nn.Conv2d(hidden_dim if expand_ratio != 1
    self.conv = keras.Sequential(layers)                 else inp, ...), ...])
                                                     self.conv = nn.Sequential(*layers)

The user's list-building code (conditions, loops, other statements) is kept; only the layer constructors
in it are rewritten. The list may start from a literal (`features = [conv_bn(3, c)]`) or a comprehension
with one `for` and no `if` (`[Dense(u) for u in (8, 8)]`), and grow with `append(item)`, `extend([...])`
and `+= [...]` of literals or such comprehensions, also inside `if` and `for` (a comprehension over a
constant is run once per value, over anything else once, keeping the shape; no variable can track a
size inside one). A builder function ending in `return keras.Sequential(layers)` is inlined at each
`self.x = builder(...)` first (keras_builders.py). An item is a Keras
layer with a rule, a literal `keras.Sequential([...])`, a call of a helper returning one of these
(keras_helpers.expand_helper), or an instance of a Keras class of the file. Anything else done to the list
(another method, passing it to a function, indexing, reassigning it, extending it with a list not written
there, `while`/`try`/`with` around an append, use after the Sequential) is FWT103: it is not followed.

torch needs the input size of each layer (in_channels, in_features), which Keras does not. It is found by
running the building code abstractly when forward calls the Sequential, with the input's shape facts
(values are computed from values, never from names a loop rebinds):

- `if` on a known value (a constant, a loop variable of an unrolled loop) follows the branch taken; the
  other branch is still translated (its code is kept), with the sizes as if it ran.
- `if` on an unknown value (a constructor parameter) runs both branches; where the sizes after them
  differ, the size is the conditional expression `a if <condition> else b`: exact, and simpler than a
  variable for the common one-`if` case. Its condition may only read names that are not reassigned.
- `for` over a constant iterable (a literal table, `range(3)`) is unrolled. An item written once but run
  several times must come out the same on every run. Where an argument differs between runs, it is
  written as what holds it on every run: a variable of the user's code (`input_channel` in MobileNetV2),
  else an argument of the item as written (`filters * 2`), else -- for the input size -- a variable added
  to the code (`channels = 3` before the loop, `channels = <argument>` after each append that changes the
  size, VGG-style loops). When none fits, FWT103 (no size is guessed).
- `for` over an unknown iterable: its body must keep the shape (the same sizes on every iteration), else
  FWT103.

Weights: the torch list holds one module per Keras item (a layer whose translation is several modules is
an `nn.Sequential` of them), so the k-th torch child is the k-th Keras layer of the list. The mapping
records one `list_sequence` entry; weight porting pairs the two lists of the built models item by item
(translator/verify/port_lists.py), whatever the conditions chose.

This module finds and checks the building code and rewrites it; keras_seq_run.py runs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import libcst as cst

from ..backends.torch_sequence import LayerSequence
from ..cst_walk import child_nodes, find_all, node_code
from ..findings import TranslationError
from ..ir import LayerMapping, Sym, TensorMeta
from ..positions import line_of

RULE_ID = "list_sequence"
_META_FIELDS = ("shape", "layout", "dtype", "flat_from", "origin", "last")
_LIST_METHODS = {"append", "extend"}


@dataclass
class ListSequence(LayerSequence):
    """A Sequential of a list built in __init__ (LayerSequence: skipped where plain layers are reset)."""
    var: str = ""
    region: list = field(default_factory=list)        # __init__ statements from the start to the Sequential
    building: list = field(default_factory=list)      # top-level statements that build the list
    assign_counts: dict = field(default_factory=dict)
    params: set = field(default_factory=set)
    owner: object = None
    classes: set = field(default_factory=set)          # Keras classes of the file held in the list
    replacements: dict = field(default_factory=dict)   # id(source item) -> torch expression
    tracked: dict = field(default_factory=dict)        # id(top-level statement) -> tracking variable
    loop_assigned: set = field(default_factory=set)    # names assigned inside a loop of __init__
    runs: list = field(default_factory=list)           # runs of this forward pass, for a repeated call

    # ---- forward: `self.conv(x)` -----------------------------------------------------------------------
    def apply(self, ft, node: cst.Call):
        args = [a for a in node.args if not (a.keyword and a.keyword.value == "training")]
        if len(args) != 1 or args[0].keyword is not None:
            raise TranslationError("FWT201", f"self.{self.attr}: a Sequential takes one input", self.line)
        expr, meta = ft.expr(args[0].value)
        if meta is None or meta.shape is None:
            raise TranslationError("FWT302", f"self.{self.attr}: input shape unknown at its call", self.line)
        wants = [meta.layout]
        if meta.rank is not None and meta.rank > 2:
            wants = ["cf", "cl"] if ft.layout == "native" else ["cl", "cf"]
        last = None
        from .keras_seq_run import LayoutChange, ListRun
        runs_on = replace(meta, layout=None) if len(wants) > 1 else meta     # (the run sees `want` only)
        key = (runs_on, ft.layout, ft.hoisting, len(ft.init_names), ft.scope)   # (init_names only grows)
        done = next((r for r in self.runs if _same_value(r[1], key) and (
            r[0] is self.modules or r[6] and ft.on_first_conversion is None)), None)
        if done is not None:        # the same run again (see "a repeated call" below)
            saved = (len(ft.notes), ft.sites)
            want, replacements, out, tracked, _, conversions = done[2:]
            for origin, value in conversions:
                ft.first_conversion.setdefault(origin, value)
        else:
            pins, recording = len(ft.pinned), ft.on_first_conversion is None
            if recording:           # every entry the run's conversions would set, whatever is set already
                kept, ft.first_conversion = ft.first_conversion, {}
            try:
                for want in wants:
                    saved = (len(ft.notes), ft.sites, list(ft.pending))
                    try:
                        run = ListRun(ft, self)
                        replacements, out = run.run(replace(meta, layout=want))
                        break
                    except LayoutChange as exc:
                        ft.notes[saved[0]:], ft.sites, ft.pending = [], saved[1], saved[2]
                        last = exc
                else:
                    raise TranslationError("FWT103", f"self.{self.attr}: {last} needs a layout change inside "
                                           "the Sequential", self.line)
            finally:
                if recording:       # (as convert() sets them: where missing, in order)
                    conversions, ft.first_conversion = list(ft.first_conversion.items()), kept
                    for origin, value in conversions:
                        kept.setdefault(origin, value)
            tracked = run.tracked
            clean = recording and len(ft.notes) == saved[0] and len(ft.pinned) == pins
        ft.sites = saved[1] + len(replacements)       # one site per item written, however often it runs
        expr, _ = ft.convert(expr, meta, want)
        _dedupe_notes(ft)
        if not self.modules:         # the codes are compared only when a second call comes
            self.modules = [replacements]
            self.replacements, self.tracked = replacements, tracked
        elif (done is None or done[0] is not self.modules) and _codes(self.modules[0]) != _codes(replacements):
            raise TranslationError("FWT103", f"self.{self.attr}: called with inputs of different shapes "
                                   "(one list of layers serves one shape)", self.line)
        if done is None and not run.customs and recording:
            self.runs.append((self.modules, _copy_value(key), want, replacements, out, tracked, clean, conversions))
        from ..backends.torch_code import call
        return call(ft.self_ref(self.attr), [expr]), _forward_meta(self, out)

    # ---- __init__ ----------------------------------------------------------------------------------------
    def rewrite_statement(self, ft, stmt):
        """A building statement with its Keras items replaced, or the Sequential statement itself."""
        if not self.modules:
            raise TranslationError("FWT103", f"self.{self.attr}: the Sequential is never called", self.line)
        if stmt is self.region[-1]:
            small = stmt.body[0]
            value = cst.Call(ft.imports.ref("torch.nn.Sequential"), [cst.Arg(cst.Name(self.var), star="*")])
            return stmt.with_changes(body=[small.with_changes(value=value)])
        new = _replace_nodes(stmt, self.replacements, self.tracked.get(id(stmt)))
        from .keras_classes import _framework_refs
        left = sorted(_framework_refs(new, ft.table))
        if left:
            raise TranslationError("FWT103", f"self.{self.attr}: the code building the list of layers also "
                                   f"uses {', '.join(left)}", line_of(stmt))
        if id(stmt) in self.tracked:        # the tracking variable starts before the statement
            name, init, _ = self.tracked[id(stmt)]
            first = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(name))], init)],
                                            leading_lines=new.leading_lines)
            return [first, new.with_changes(leading_lines=[])]
        return new

    def mapping_entry(self) -> LayerMapping:
        return LayerMapping("Sequential", None, self.attr, RULE_ID, self.line,
                            {"custom_classes": sorted(self.classes)})


# ---- collecting: which statements build the list ------------------------------------------------------

def list_sequence(ft, owner, attr: str, node: cst.Call, stmt, statements: list) -> dict | None:
    """{id(statement): ListSequence} for `self.<attr> = keras.Sequential(<name>)`, or None when the
    argument is not a plain name."""
    lists = [a for a in node.args if a.keyword is None or a.keyword.value == "layers"]
    if len(lists) != 1 or any(a.keyword is not None and a.keyword.value not in ("layers", "name")
                              for a in node.args):
        return None
    arg = lists[0]
    if not isinstance(arg.value, cst.Name) or arg.star:
        return None
    var, line = arg.value.value, line_of(stmt)
    try:
        end = next(i for i, s in enumerate(statements) if s is stmt)
    except StopIteration:
        return None
    building, start = [], None
    for i, s in enumerate(statements[:end]):
        if var not in all_names(s):
            continue
        if start is None:
            if not _is_literal_init(s, var):
                raise TranslationError("FWT103", f"{attr}: the list '{var}' does not start as a literal list "
                                       "(or a comprehension with one `for` and no `if`) in __init__", line_of(s))
            start = i
        else:
            _check_building(s, var, attr)
        building.append(s)
    if start is None:
        raise TranslationError("FWT103", f"{attr}: a Sequential of '{var}', a list not built in __init__",
                               line)
    for s in statements[end + 1:]:
        if var in all_names(s):
            raise TranslationError("FWT103", f"{attr}: the list '{var}' is used again after the Sequential "
                                   "is built from it (not followed)", line_of(s))
    init = owner_init(owner)
    counts = _assign_counts(statements)
    params = set()
    if init is not None:
        p = init.params
        params = {x.name.value for x in list(p.params) + list(p.kwonly_params) + list(p.posonly_params)}
    seq = ListSequence(attr, [], line=line, var=var, region=list(statements[:end + 1]), building=building,
                       assign_counts=counts, params=params, owner=owner,
                       loop_assigned={n for s in statements for f in find_all(s, (cst.For, cst.While))
                                      for n in _assigned(f)})
    ft.attrs.add(attr)
    ft.sequences[f"self.{attr}"] = seq
    ft.layers.append(seq)
    out = {id(s): seq for s in building}
    out[id(stmt)] = seq
    return out


def owner_init(translator):
    return translator.method("__init__") if hasattr(translator, "method") else None


def _is_literal_init(stmt, var: str) -> bool:
    """`var = [a, b]`, or `var = [<item> for <target> in <iterable>]` (one `for`, no `if`)."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1
            and isinstance(stmt.body[0].targets[0].target, cst.Name)
            and stmt.body[0].targets[0].target.value == var
            and (isinstance(stmt.body[0].value, cst.List) or is_simple_comprehension(stmt.body[0].value))
            and var not in all_names(stmt.body[0].value))


def is_simple_comprehension(node) -> bool:
    return isinstance(node, cst.ListComp) and node.for_in.inner_for_in is None and not node.for_in.ifs \
        and not node.for_in.asynchronous


def _list_op(small, var: str):
    """('append'|'extend'|'+=', items node) for a statement that grows the list, else None."""
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        func = small.value.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == var \
                and func.attr.value in _LIST_METHODS and len(small.value.args) == 1 \
                and small.value.args[0].keyword is None and not small.value.args[0].star:
            return func.attr.value, small.value.args[0].value
    if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign) \
            and isinstance(small.target, cst.Name) and small.target.value == var:
        return "+=", small.value
    return None


def _check_building(stmt, var: str, attr: str) -> None:
    """Every use of the list in `stmt` is append(x) / extend([...]) / += [...] (also in if/for)."""
    def bad(node, what="used in a way that is not followed (only append, extend and += of a literal list "
                       "are)"):
        raise TranslationError("FWT103", f"{attr}: the list '{var}' is {what}", line_of(node))

    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if var not in all_names(small):
                continue
            op = _list_op(small, var)
            if op is None:
                bad(stmt)
            kind, items = op
            if kind != "append" and not isinstance(items, (cst.List, cst.Tuple)) \
                    and not is_simple_comprehension(items):
                bad(stmt, "extended with something other than a literal list")
            if var in all_names(items):
                bad(stmt)
        return
    if isinstance(stmt, cst.If):
        if var in all_names(stmt.test):
            bad(stmt)
        for s in stmt.body.body:
            _check_building(s, var, attr)
        if stmt.orelse is not None:
            if isinstance(stmt.orelse, cst.If):
                _check_building(stmt.orelse, var, attr)
            else:
                for s in stmt.orelse.body.body:
                    _check_building(s, var, attr)
        return
    if isinstance(stmt, cst.For) and stmt.orelse is None and not stmt.asynchronous:
        if var in all_names(stmt.target) or var in all_names(stmt.iter):
            bad(stmt)
        if find_all(stmt.body, (cst.Break, cst.Continue, cst.Return)):
            bad(stmt, "grown in a loop with break/continue/return (not followed)")
        for s in stmt.body.body:
            _check_building(s, var, attr)
        return
    bad(stmt)


def _assign_counts(statements: list) -> dict:
    counts: dict = {}
    for s in statements:
        for node in find_all(s, (cst.AssignTarget, cst.AugAssign, cst.For, cst.CompFor, cst.AnnAssign)):
            for n in find_all(node.target, (cst.Name,)):
                counts[n.value] = counts.get(n.value, 0) + (1 if isinstance(node, cst.AssignTarget)
                                                            and isinstance(node.target, cst.Name) else 2)
    return counts


def all_names(node) -> set:
    """The variable names a node reads or binds (not attribute names, not keyword names)."""
    found: set = set()
    stack = [node]
    while stack:
        n = stack.pop()
        kind = type(n)
        if kind is cst.Name:
            found.add(n.value)
        elif kind is cst.Attribute:
            stack.append(n.value)
        elif kind is cst.Arg:
            stack.append(n.value)
        else:
            stack.extend(child_nodes(n))
    return found


def _assigned(stmt) -> set:
    out = set()
    for node in find_all(stmt, (cst.AssignTarget, cst.AugAssign, cst.For, cst.CompFor, cst.AnnAssign)):
        out |= {n.value for n in find_all(node.target, (cst.Name,))}
    return out


# ---- rewriting -----------------------------------------------------------------------------------------

def _plain_args(node):
    """`nn.Conv2d((a if c else b), ...)` -> `nn.Conv2d(a if c else b, ...)`: an argument needs no parentheses."""
    def leave_arg(original, updated):
        value = updated.value
        if isinstance(value, cst.IfExp) and value.lpar:
            return updated.with_changes(value=value.with_changes(lpar=[], rpar=[]))
        return updated
    from ..cst_walk import transform
    return transform(node, {cst.Arg: leave_arg})


def _replace_nodes(stmt, replacements: dict, tracked=None):
    """The items replaced; with `tracked` (name, init, {id(line): size}), `name = size` after each line."""
    updates = tracked[2] if tracked else {}

    def assign(line):
        return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(tracked[0]))], updates[id(line)])])

    def leave_call(original, updated):     # (the items replaced are calls: ListRun.element)
        return replacements.get(id(original), updated)

    def leave_block(original, updated):
        body = []
        for old, line in zip(original.body, updated.body):
            body.append(line)
            if id(old) in updates:
                body.append(assign(old))
        return updated.with_changes(body=body)
    from ..cst_walk import transform
    return transform(stmt, {cst.Call: leave_call, **({cst.IndentedBlock: leave_block} if updates else {})})


def _forward_meta(seq: ListSequence, meta):
    """The output meta for forward: sizes that name a local variable of __init__ are not known there."""
    if meta is None or meta.shape is None:
        return meta
    local = {k for k in seq.assign_counts} - seq.params
    dims = tuple(None if isinstance(d, Sym) and any(n in str(d) for n in local) and _names_in(d) & local
                 else d for d in meta.shape)      # (a name the text does not contain is not in it)
    return replace(meta, shape=dims)


# ---- a repeated call ----------------------------------------------------------------------------------
# `if self.use_residual: return x + self.conv(x)` / `return self.conv(x)`, and the layout fix-point of
# SubclassTranslator.translate repeating the forward pass: the list is run for each call. A run reads of
# the pass only its input meta (its layout aside where `wants` fixes the layouts tried), the layout mode,
# the hoisting flag, the names __init__ sees and the scope; on values equal to an earlier run's (types included) it gives the same
# items and output, and its effects on the pass are:
# - in the same pass (self.modules not reset since): all made by the earlier run already and idempotent
#   when repeated -- notes (deduplicated), pinned parameters (pin() notes a parameter once),
#   first_conversion entries, import refs, emissions of its own new Layer objects (read by nobody else);
#   pending statements and sites are restored/reset by apply itself;
# - in a later pass of the fix-point (notes and first_conversion reset, pinned kept): the same, when the
#   earlier run added no note and pinned nothing, with the first_conversion entries its conversions set
#   set again where missing (as convert() sets them). Runs are recorded only where no on_first_conversion
#   hook watches first_conversion (the run is given an empty one to see what it sets).
# A run holding a layer class of the file (custom(): it records each call in call_bindings) is not reused.

def _same_value(a, b) -> bool:
    """Equal, with the same types throughout (Sym('n') is not 'n', True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_value(v, b[k]) for k, v in a.items())
    if isinstance(a, TensorMeta):
        return all(_same_value(getattr(a, f), getattr(b, f)) for f in _META_FIELDS)
    return a == b


def _copy_value(value):
    """A copy that later changes of the value's lists and dicts do not reach."""
    if type(value) in (tuple, list):
        return type(value)(_copy_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    return value


def _codes(replacements: dict) -> dict:
    return {k: node_code(v) for k, v in replacements.items()}


def _names_in(text: str) -> set:
    try:
        return {n.value for n in find_all(cst.parse_expression(str(text)), (cst.Name,))}
    except Exception:       # noqa: BLE001 - not an expression: treat as naming everything
        return {"?"}


def _dedupe_notes(ft) -> None:
    seen, out = set(), []
    for note in ft.notes:
        if note not in seen:
            seen.add(note)
            out.append(note)
    ft.notes[:] = out
