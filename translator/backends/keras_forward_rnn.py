"""Recurrent layers, cells and Python loops in `forward` (torch -> Keras), for keras_forward.py.

Calls of a translated nn.LSTM / nn.GRU / nn.RNN (the Keras layers: keras_hatches_rnn.py):

    out, _ = self.lstm(x)                    ->  out = self.lstm_l1(self.lstm_drop(self.lstm(x)))
    out, (h_n, c_n) = self.lstm(x, (h0, c0)) ->  out, h_n_l0, c_n_l0 = self.lstm(x, initial_state=[h0[0], c0[0]])
                                                 out, h_n_l1, c_n_l1 = self.lstm_l1(self.lstm_drop(out), ...)
    self.gru(x)[0]                           ->  the chained layers, as above

torch's h_n / c_n are (num_layers * directions, B, H); Keras returns one (B, H) state per layer and
direction. A state target `h_n` is held *lazily* as the per-layer names (a `states` meta): `h_n[-1]`
is the last name, `h_n[-2:]` and any other use a `keras.ops.stack` of the names. Inside a block (a
loop, an `if`), or when an LSTM's (h, c) pair is kept as one name, the states are stacked right away
(a value carried around a loop or merged after an `if` must keep one representation).
batch_first=False transposes (T, B, F) <-> (B, T, F) at the boundary. The Keras layers get
return_state=True when some call site uses the final states (a scan of the class's methods), so
every call site of one module shares the same layers. With num_layers given symbolically the layers
are a Python list, run in a loop; their states are collected in Python lists (`h_n += [h_step]`).

Cells stepped in Python loops: `h, c = self.cell(x[:, t], (h, c))` -> `h, c = self.cell(x[:, t],
[h, c])[1]` (Keras cells return (output, new_states)); without states the cell's zero initial state
is passed. The loops themselves are keras_forward_loops.py's (plus `for x_t in x` / `x.unbind(1)`
over a tensor: `keras.ops.unstack`); a list built in forward
(`outputs = []`, `outputs.append(h)`) keeps the meta of its items aside for
`torch.stack(outputs, dim=1)` -> `keras.ops.stack(outputs, axis=1)`.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import nodes_of, visit
from ..findings import TranslationError
from ..ir import UNKNOWN
from ..positions import line_of
from .keras_code import OTHER, Meta, call, code, keras_axis, node_of, tensor
from .keras_hatches_rnn import RnnInfo, rnn_layer_attr
from .keras_layers import LeafContext, apply_leaf

RNN_RULES = {"lstm", "gru", "simple_rnn"}
CELL_RULES = {"lstm_cell", "gru_cell", "simple_rnn_cell"}
TIME_MAJOR = (1, 0, 2)


def handles(spec) -> bool:
    return spec.kind == "leaf" and getattr(spec.rule, "id", None) in RNN_RULES | CELL_RULES


def _err(code_: str, message: str, line: int):
    return TranslationError(code_, message, line)


def _name(value: str) -> cst.Name:
    return cst.Name(value)


def _sub(node, index: int) -> cst.Subscript:
    return cst.Subscript(node, [cst.SubscriptElement(cst.Index(node_of(index)))])


def _assign(targets, value) -> cst.Assign:
    if isinstance(targets, list):
        target = cst.Tuple([cst.Element(t) for t in targets], lpar=[], rpar=[])
    else:
        target = targets
    return cst.Assign([cst.AssignTarget(target)], value)


def _self_attr(name: str) -> cst.Attribute:
    return cst.Attribute(cst.Name("self"), cst.Name(name))


# ---- module calls ------------------------------------------------------------------------------------

def apply(ft, attr: str, spec, node: cst.Call):
    """(node, meta) of `self.<attr>(...)` for an RNN or cell module."""
    line = line_of(node)
    args = list(node.args)
    if any(a.star for a in args):
        raise _err("FWT103", f"*args in a call of self.{attr}", line)
    positional = [a for a in args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in args if a.keyword is not None}
    if set(keywords) - {"hx", "input"} or len(positional) + len(keywords) not in (1, 2):
        raise _err("FWT103", f"call of self.{attr} not recognised: {code(node)[:60]}", line)
    values = [a.value for a in positional]
    if "input" in keywords:
        values.insert(0, keywords["input"])
    if "hx" in keywords:
        values.append(keywords["hx"])
    x, xm = ft.expr(values[0])
    if not xm.is_tensor:
        raise _err("FWT103", f"self.{attr} applied to a value that is not a tensor", line)
    x, xm = ft.conform(x, xm, spec, line)
    if spec.rule.id in CELL_RULES:
        return apply_cell(ft, attr, spec, x, xm, values[1] if len(values) > 1 else None, line)
    needs = states_needed(ft, attr)
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, xm, ft.refs, ft.notes, spec.line, False,
                     options={"rnn_states": needs})
    applied = apply_leaf(lc)
    ft.cls.record_leaf(attr, spec, applied)
    info: RnnInfo = applied.out.info
    init = initial_states(ft, values[1], info, line) if len(values) > 1 else None
    rc = RnnCall(ft, attr, info, x, init, line)
    # the value of the call where it is not unpacked: the chained layers (no states used anywhere)
    placeholder = rc.chain() if not info.states and not info.symbolic else rc.layer(0)
    return placeholder, applied.out.with_(info=rc)


def states_needed(ft, attr: str) -> bool:
    """Does some call of self.<attr> in forward use the final states? (decided once per module)"""
    cache = ft.__dict__.setdefault("_rnn_states", {})
    if attr not in cache:
        cache[attr] = _scan_states(ft, attr)
    return cache[attr]


def _scan_states(ft, attr: str) -> bool:
    """Every call of self.<attr> in the methods of the class, unpacked with unused states or indexed
    [0]? (a name is unused when it occurs once in its method: the assignment)"""
    calls, ok = [], set()

    def is_call(n):
        return isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and \
            isinstance(n.func.value, cst.Name) and n.func.value.value == "self" and n.func.attr.value == attr

    def unused(t, counts) -> bool:
        if isinstance(t, (cst.Tuple, cst.List)):
            return all(unused(el.value, counts) for el in t.elements)
        return isinstance(t, cst.Name) and (t.value == "_" or counts.get(t.value, 0) <= 1)

    for stmt in ft.cls.cls.body.body:
        if isinstance(stmt, cst.FunctionDef):
            counts: dict = {}
            for n in nodes_of(stmt.body, cst.Name):
                counts[n.value] = counts.get(n.value, 0) + 1

            def call_(n):
                if is_call(n):
                    calls.append(n)

            def assign(n, counts=counts):
                t = n.targets[0].target if len(n.targets) == 1 else None
                if is_call(n.value) and isinstance(t, (cst.Tuple, cst.List)) and len(t.elements) == 2 \
                        and unused(t.elements[1].value, counts):
                    ok.add(id(n.value))

            def subscript(n):
                if is_call(n.value) and _index_of(n) == 0:
                    ok.add(id(n.value))
            visit(stmt.body, {cst.Call: call_, cst.Assign: assign, cst.Subscript: subscript})
    return any(id(c) not in ok for c in calls)


def _index_of(node: cst.Subscript):
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    v = node.slice[0].slice.value
    if isinstance(v, cst.Integer):
        return int(v.value)
    if isinstance(v, cst.UnaryOperation) and isinstance(v.operator, cst.Minus) and \
            isinstance(v.expression, cst.Integer):
        return -int(v.expression.value)
    return None


def _state_tensor_nodes(ft, node, count: int | None, line) -> list:
    """One (B, H) node per layer and direction of a torch state (count, B, H); count None (a symbolic
    num_layers): [one node to index with the layer-direction]."""
    if isinstance(node, cst.Name):
        m = ft.env.get(node.value)
        if m is not None and m.kind == "states" and isinstance(m.info, str):      # a Python list of states
            return [_sub(node, k) for k in range(count)] if count is not None else [node]
        if m is not None and m.kind == "states" and count is not None:
            if len(m.info) != count:
                raise _err("FWT202", f"initial state '{node.value}' holds {len(m.info)} states, the RNN "
                                     f"needs {count}", line)
            return [_name(n) for n in m.info]
    n, m = ft.expr(node)
    if not m.is_tensor:
        raise _err("FWT103", f"initial state {code(node)[:40]} is not a tensor", line)
    if m.rank not in (None, 3):
        raise _err("FWT202", f"initial state of rank {m.rank} (num_layers * directions, batch, hidden "
                             "expected; unbatched input is not translated)", line)
    return [_sub(n, k) for k in range(count)] if count is not None else [n]


def initial_states(ft, node, info: RnnInfo, line) -> list:
    """[[state nodes of layer-direction k] for k]: h0 (GRU / RNN) or (h0, c0) (LSTM)."""
    if info.n_states == 2:
        parts = None
        if isinstance(node, (cst.Tuple, cst.List)) and len(node.elements) == 2:
            parts = [el.value for el in node.elements]
        elif isinstance(node, cst.Name) and ft.env.get(node.value, OTHER).kind == "tuple" \
                and len(ft.env[node.value].items) == 2:
            parts = [_sub(node, 0), _sub(node, 1)]          # `hidden` holding (h, c)
        if parts is None:
            raise _err("FWT202", "the initial state of an LSTM must be an (h0, c0) pair here", line)
        hs = [_state_tensor_nodes(ft, p, info.count, line) for p in parts]
        return [[hs[0][k], hs[1][k]] for k in range(len(hs[0]))]
    hs = _state_tensor_nodes(ft, node, info.count, line)
    return [[h] for h in hs]


class RnnCall:
    """One call of a translated torch RNN: the Keras code for its uses."""

    def __init__(self, ft, attr: str, info: RnnInfo, x, init, line: int):
        self.ft, self.attr, self.info, self.x, self.init, self.line = ft, attr, info, x, init, line
        self.keras_attr = ft.cls.keras_attr(attr)

    def layer(self, i: int) -> cst.Attribute:
        return _self_attr(rnn_layer_attr(self.keras_attr, i))   # symbolic num_layers: the list of layers

    def layer_call(self, i: int, inp) -> cst.Call:
        kwargs = []
        if self.init is not None:
            d = self.info.directions
            nodes = [n for k in range(i * d, i * d + d) for n in self.init[k]]
            kwargs.append(("initial_state", cst.List([cst.Element(n) for n in nodes])))
        return call(self.layer(i), [inp], kwargs)

    def first_input(self):
        if self.info.batch_first:
            return self.x
        return call(self.ft.refs.ops("transpose"), [self.x, node_of(TIME_MAJOR)])

    def between(self, node):
        return call(_self_attr(f"{self.keras_attr}_drop"), [node]) if self.info.dropout else node

    def chain(self):
        """The output sequence as one expression (the layers return no states)."""
        if self.info.symbolic:
            raise _err("FWT202", f"self.{self.attr}(...)[0] with num_layers given symbolically: unpack the "
                                 f"result (out, h = self.{self.attr}(...)), the layers run in a loop", self.line)
        y = self.first_input()
        for i in range(self.info.num_layers):
            y = self.layer_call(i, self.between(y) if i else y)
        if not self.info.batch_first:
            y = call(self.ft.refs.ops("transpose"), [y, node_of(TIME_MAJOR)])
        return y

    def statements(self, out_name: str | None, state_names) -> list:
        """Assignments running the layers: the output sequence to `out_name` (None: unused), the state
        (s) of layer-direction k to state_names[k][s] (None: unused)."""
        info = self.info
        seq = out_name or (self.ft_fresh("seq") if info.num_layers > 1 else None)
        if out_name and info.num_layers > 1 and self.init is not None and \
                out_name in {n.value for row in self.init[info.directions:] for s in row for n in _names_in(s)}:
            seq = self.ft_fresh("seq")       # `h, h_n = self.gru(x, h)`: layer 1 still reads the old h
        out = []
        for i in range(info.num_layers):
            inp = self.first_input() if i == 0 else self.between(_name(seq))
            value = self.layer_call(i, inp)
            last = i == info.num_layers - 1
            seq_t = _name(out_name) if last and out_name else _name(seq) if seq else _name("_")
            if info.states:
                targets = [seq_t]
                for k in range(i * info.directions, (i + 1) * info.directions):
                    targets += [_name(n) if n else _name("_") for n in state_names[k]]
                out.append(_assign(targets, value))
            else:
                out.append(_assign(seq_t, value))
        if out_name and not info.batch_first:
            out.append(_assign(_name(out_name), call(self.ft.refs.ops("transpose"),
                                                     [_name(out_name), node_of(TIME_MAJOR)])))
        return out

    def ft_fresh(self, base: str) -> str:
        return fresh(self.ft, base)

    def loop_statements(self, out_name: str | None, lists) -> list:
        """A symbolic num_layers: the list of Keras layers run in a Python loop; lists[s]: the name of the
        Python list collecting state s of every layer and direction (None: unused); lists None: the
        layers return no states."""
        info, ft = self.info, self.ft
        init_names = {n.value for row in (self.init or []) for node in row for n in _names_in(node)}
        seq = out_name if out_name and out_name not in init_names else self.ft_fresh("seq")
        index, layer = self.ft_fresh("i"), self.ft_fresh("layer")
        stmts = [_assign(_name(seq), self.first_input())]
        for lst in lists or []:
            if lst:
                stmts.append(_assign(_name(lst), cst.List([])))
        inp = cst.IfExp(test=_name(index), body=self.between(_name(seq)), orelse=_name(seq)) if info.dropout \
            else _name(seq)
        kwargs = []
        if self.init is not None:
            nodes = []
            for d in range(info.directions):
                k = _name(index) if info.directions == 1 else cst.parse_expression(
                    f"{info.directions} * {index}" + (f" + {d}" if d else ""))
                nodes += [cst.Subscript(base, [cst.SubscriptElement(cst.Index(k))]) for base in self.init[0]]
            kwargs.append(("initial_state", cst.List([cst.Element(n) for n in nodes])))
        value = call(_name(layer), [inp], kwargs)
        body = []
        if lists is None:
            body.append(_assign(_name(seq), value))
        else:
            targets, steps = [_name(seq)], [[] for _ in lists]
            for d in range(info.directions):
                for s, lst in enumerate(lists):
                    if lst:
                        step = self.ft_fresh(f"{lst}_step" + ("_reverse" if d else ""))
                        steps[s].append(step)
                        targets.append(_name(step))
                    else:
                        targets.append(_name("_"))
            body.append(_assign(targets, value))
            for s, lst in enumerate(lists):
                if lst:
                    body.append(cst.AugAssign(_name(lst), cst.AddAssign(), cst.List([cst.Element(_name(n))
                                                                                      for n in steps[s]])))
        uses_index = info.dropout or self.init is not None
        target = cst.Tuple([cst.Element(_name(index)), cst.Element(_name(layer))], lpar=[], rpar=[]) \
            if uses_index else _name(layer)
        iterated = call(_name("enumerate"), [self.layer(0)]) if uses_index else self.layer(0)
        stmts.append(cst.For(target=target, iter=iterated,
                             body=cst.IndentedBlock([cst.SimpleStatementLine([b]) for b in body])))
        if out_name and not info.batch_first:
            stmts.append(_assign(_name(out_name), call(ft.refs.ops("transpose"), [_name(seq), node_of(TIME_MAJOR)])))
        elif out_name and seq != out_name:
            stmts.append(_assign(_name(out_name), _name(seq)))
        return stmts


def _names_in(node) -> list:
    return nodes_of(node, cst.Name)


def fresh(ft, base: str) -> str:
    """The first name `base`, `base_1`, ... not used in the forward being translated (the same one for
    every call: these names hold values only between consecutive generated statements)."""
    name, i = base, 1
    while name in ft.name_counts:
        name = f"{base}_{i}"
        i += 1
    return name


def separate_lines(stmt: cst.SimpleStatementLine, smalls: list) -> list:
    """One line per small statement; the comments before the statement stay before the first line,
    the one after it after the last."""
    out = [small if isinstance(small, cst.BaseCompoundStatement) else cst.SimpleStatementLine([small])
           for small in smalls]
    out[0] = out[0].with_changes(leading_lines=stmt.leading_lines)
    if isinstance(out[-1], cst.SimpleStatementLine):
        out[-1] = out[-1].with_changes(trailing_whitespace=stmt.trailing_whitespace)
    return out


def _state_name(ft, base: str, k: int, info: RnnInfo, reuse: dict) -> str:
    layer, d = divmod(k, info.directions)
    suffix = f"_l{layer}" + ("_reverse" if d else "")
    key = base + suffix
    if key not in reuse:
        reuse[key] = key if key not in ft.name_counts else fresh(ft, key)
    return reuse[key]


def assign(ft, small: cst.Assign, target, meta: Meta, line: int):
    """`out, (h_n, c_n) = self.lstm(x)` and the like: one statement or a list of them."""
    rc: RnnCall = meta.info
    if isinstance(rc, RnnInfo):        # the last module of an nn.Sequential: its value is the sequence
        return _sequential_result(ft, small, target, meta, line)
    info = rc.info
    if isinstance(target, cst.Name):
        raise _err("FWT202", "the (output, state) tuple of an RNN kept as one value is not translated "
                             "(unpack it: out, h = ...)", line)
    if not isinstance(target, (cst.Tuple, cst.List)) or len(target.elements) != 2:
        raise _err("FWT103", "unpacking of an RNN result not recognised", line)
    out_t, state_t = target.elements[0].value, target.elements[1].value
    if not isinstance(out_t, cst.Name):
        raise _err("FWT103", f"RNN output assigned to {code(out_t)}: a name expected", line)
    out_name = None if ft.unused(out_t) and out_t.value == "_" else out_t.value
    seq_meta, states_meta = meta.items
    if not info.states:
        if not ft.unused(state_t):
            raise _err("FWT901", "RNN states used but the layer returns none", line)
        if out_name:
            ft.bind(out_t, seq_meta, line)
        if info.symbolic:
            return rc.loop_statements(out_name, None)
        return small.with_changes(targets=[cst.AssignTarget(out_t)], value=rc.chain())
    # the state targets: one per state kind (h, c)
    if info.n_states == 2:
        if isinstance(state_t, (cst.Tuple, cst.List)) and len(state_t.elements) == 2:
            kinds = [el.value for el in state_t.elements]
            whole = None
        elif isinstance(state_t, cst.Name):
            kinds, whole = [None, None], state_t
        else:
            raise _err("FWT103", f"LSTM states assigned to {code(state_t)}", line)
    else:
        kinds, whole = [state_t], None
    for t in kinds:
        if t is not None and not isinstance(t, cst.Name):
            raise _err("FWT103", f"RNN state assigned to {code(t)}: a name expected", line)
    eager = whole is not None or in_loop(ft, small)
    used = [t is not None and not ft.unused(t) for t in kinds]
    if whole is not None:
        used = [not ft.unused(whole)] * 2
        bases = [f"{whole.value}_h", f"{whole.value}_c"]
    else:
        bases = [t.value if t is not None else "_" for t in kinds]
    if info.symbolic:
        return _assign_lists(ft, rc, out_t, out_name, kinds, whole, used, bases, eager, seq_meta, states_meta,
                             line)
    reuse: dict = {}
    names = []          # names[k][s]
    for k in range(info.count):
        row = []
        for s in range(info.n_states):
            if not used[s]:
                row.append(None)
            elif info.count == 1 and whole is None:
                row.append(bases[s])
            else:
                row.append(_state_name(ft, bases[s], k, info, reuse))
        names.append(row)
    stmts = rc.statements(out_name, names)
    if out_name:
        ft.bind(out_t, seq_meta, line)
    state_metas = states_meta.items if info.n_states == 2 else (states_meta,)
    per_state = [tensor(shape=m.shape[1:]) for m in state_metas]
    stacked = []
    for s in range(info.n_states):
        if not used[s]:
            if kinds[s] is not None and kinds[s].value != "_":
                ft.env[kinds[s].value] = state_metas[s]
            continue
        row = tuple(names[k][s] for k in range(info.count))
        lazy = Meta(kind="states", items=(per_state[s],) * info.count, info=row)
        if eager:
            stacked.append((read_states(ft, lazy), state_metas[s]))
            if whole is None:
                stmts.append(_assign(_name(kinds[s].value), stacked[-1][0]))
                ft.env[kinds[s].value] = state_metas[s]
        else:
            ft.env[kinds[s].value] = lazy
    if whole is not None and used[0]:
        stmts.append(_assign(_name(whole.value), cst.Tuple([cst.Element(n) for n, _ in stacked])))
        ft.env[whole.value] = Meta(kind="tuple", items=tuple(m for _, m in stacked))
    return stmts


def _assign_lists(ft, rc, out_t, out_name, kinds, whole, used, bases, eager, seq_meta, states_meta, line):
    """assign() for a symbolic num_layers: the states collected in Python lists."""
    info = rc.info
    read = {n.value for row in (rc.init or []) for node in row for n in _names_in(node)}
    lists = []
    for s in range(info.n_states):
        if not used[s]:
            lists.append(None)
        elif whole is not None or bases[s] in read:      # `out, h = self.gru(x, h)`: the loop reads the old h
            lists.append(fresh(ft, bases[s] + "_n" if bases[s] in read else bases[s]))
        else:
            lists.append(bases[s])
    stmts = rc.loop_statements(out_name, lists)
    if out_name:
        ft.bind(out_t, seq_meta, line)
    state_metas = states_meta.items if info.n_states == 2 else (states_meta,)
    stacked = []
    for s in range(info.n_states):
        if not used[s]:
            if kinds[s] is not None and kinds[s].value != "_":
                ft.env[kinds[s].value] = state_metas[s]
            continue
        lazy = Meta(kind="states", items=(tensor(shape=state_metas[s].shape[1:]),), info=lists[s])
        if eager:
            stacked.append(read_states(ft, lazy))
            if whole is None:
                stmts.append(_assign(_name(kinds[s].value), stacked[-1]))
                ft.env[kinds[s].value] = state_metas[s]
        else:
            ft.env[kinds[s].value] = lazy
    if whole is not None and used[0]:
        stmts.append(_assign(_name(whole.value), cst.Tuple([cst.Element(n) for n in stacked])))
        ft.env[whole.value] = Meta(kind="tuple", items=tuple(state_metas))
    return stmts


def read_states(ft, meta: Meta):
    """A lazily held torch state (count, B, H) as one Keras tensor."""
    if isinstance(meta.info, str):            # a Python list of the states (symbolic num_layers)
        return call(ft.refs.ops("stack"), [_name(meta.info)])
    names = [_name(n) for n in meta.info]
    if len(names) == 1:
        return call(ft.refs.ops("expand_dims"), [names[0], node_of(0)])
    return call(ft.refs.ops("stack"), [cst.List([cst.Element(n) for n in names])])


def states_meta_as_tensor(meta: Meta) -> Meta:
    item = meta.items[0]
    count = None if isinstance(meta.info, str) else len(meta.info)
    return tensor(shape=(count,) + tuple(item.shape or (None, None)))


def subscript_states(ft, node: cst.Subscript, meta: Meta, line):
    """`h_n[-1]`, `h_n[-2:]`, `h_n[-1, :, :]` of a lazily held state."""
    first = node.slice[0].slice
    rest = list(node.slice[1:])
    picked = None
    if isinstance(meta.info, str):            # a Python list: indexed as torch indexes axis 0
        if isinstance(first, cst.Index):
            n, m = ft.expr(first.value)
            if m.is_tensor:
                raise _err("FWT202", f"index into the final RNN states not translated: {code(node)}", line)
            picked = cst.Subscript(_name(meta.info), [cst.SubscriptElement(cst.Index(n))])
            out = meta.items[0]
        elif isinstance(first, cst.Slice):
            picked = call(ft.refs.ops("stack"), [cst.Subscript(_name(meta.info), [cst.SubscriptElement(first)])])
            out = states_meta_as_tensor(meta)
        first = None
    count = len(meta.info)
    if isinstance(first, cst.Index):
        k = _const_int(first.value)
        if k is not None and -count <= k < count:
            picked = _name(meta.info[k])
            out = meta.items[0]
    elif isinstance(first, cst.Slice) and first.step is None:
        lo = _const_int(first.lower) if first.lower is not None else 0
        hi = _const_int(first.upper) if first.upper is not None else count
        if lo is not None and hi is not None:
            sel = meta.info[slice(lo, hi)]
            if sel:
                picked = read_states(ft, meta.with_(info=tuple(sel)))
                out = states_meta_as_tensor(meta.with_(info=tuple(sel)))
    if picked is None:
        raise _err("FWT202", f"index into the final RNN states not translated: {code(node)}", line)
    for el in rest:
        sl = el.slice
        if not isinstance(sl, cst.Slice) or any(v is not None for v in (sl.lower, sl.upper, sl.step)):
            raise _err("FWT202", f"index into the final RNN states not translated: {code(node)}", line)
    return picked, out                # `h_n[-1, :, :]`: the trailing full slices change nothing


def _const_int(node):
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) and \
            isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    return None


def _sequential_result(ft, small, target, meta: Meta, line):
    """`out, _ = self.seq(x)` of an nn.Sequential ending in a one-layer RNN (its states unused)."""
    if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 and \
            isinstance(target.elements[0].value, cst.Name) and ft.unused(target.elements[1].value):
        ft.bind(target.elements[0].value, meta.items[0], line)
        return small.with_changes(targets=[cst.AssignTarget(target.elements[0].value)])
    raise _err("FWT202", "the final states of an RNN inside nn.Sequential are not translated", line)


def subscript_rnn(ft, node: cst.Subscript, base, bm: Meta, index: int, line):
    """`self.gru(x)[0]` (the output sequence) or `self.gru(x)[1]` (the final states)."""
    rc: RnnCall = bm.info
    if isinstance(rc, RnnInfo):        # the last module of an nn.Sequential: its value is the sequence
        if index == 0:
            return base, bm.items[0]
        raise _err("FWT202", "the final states of an RNN inside nn.Sequential are not translated", line)
    if index == 0 and not rc.info.states:
        return rc.chain(), bm.items[0]
    raise _err("FWT202", f"{rc.info.torch_class}: using the final states of a call that is not unpacked "
                         f"(write `out, h = self.{rc.attr}(...)`)", line)


# ---- cells -------------------------------------------------------------------------------------------

def apply_cell(ft, attr, spec, x, xm, state_node, line):
    if xm.rank not in (None, 2):
        raise _err("FWT202", f"nn.{spec.short} applied to a rank-{xm.rank} tensor ((batch, features) "
                             "expected; unbatched input is not translated)", line)
    lc = LeafContext(spec.rule, spec.torch_path, spec.args, xm, ft.refs, ft.notes, spec.line, False)
    applied = apply_leaf(lc)
    ft.cls.record_leaf(attr, spec, applied)
    ref = _self_attr(ft.cls.keras_attr(attr))
    lstm = spec.short == "LSTMCell"
    if state_node is None:
        batch = cst.Subscript(call(ft.refs.ops("shape"), [x]), [cst.SubscriptElement(cst.Index(node_of(0)))])
        states = call(cst.Attribute(ref, cst.Name("get_initial_state")), [batch])
    elif lstm:
        if isinstance(state_node, (cst.Tuple, cst.List)) and len(state_node.elements) == 2:
            nodes = []
            for el in state_node.elements:
                n, m = ft.expr(el.value)
                if not m.is_tensor:
                    raise _err("FWT103", f"LSTMCell state {code(el.value)} is not a tensor", line)
                nodes.append(n)
            states = cst.List([cst.Element(n) for n in nodes])
        else:
            n, m = ft.expr(state_node)
            if m.kind != "tuple" or len(m.items) != 2:
                raise _err("FWT202", "the state of an LSTMCell must be an (h, c) pair", line)
            states = n
    else:
        n, m = ft.expr(state_node)
        if not m.is_tensor:
            raise _err("FWT103", f"{spec.short} state {code(state_node)} is not a tensor", line)
        states = cst.List([cst.Element(n)])
    out = call(ref, [x, states])
    if lstm:
        return _sub(out, 1), applied.out          # the new (h, c)
    return _sub(out, 0), applied.out


# ---- loops and lists ----------------------------------------------------------------------------------

def in_loop(ft, small) -> bool:
    """Is this statement of the class inside a `for` / `while` / `if` / `with` / `try` body? (a value
    carried around a loop or merged after an `if` must keep one representation, so final RNN states
    assigned there are stacked right away)"""
    ids = ft.__dict__.get("_rnn_loop_ids")
    if ids is None:
        ids = ft._rnn_loop_ids = set()

        def block(n):          # every assignment below a block statement
            ids.update(id(a) for a in nodes_of(n, cst.Assign))
            return False
        visit(ft.cls.cls, {t: block for t in (cst.For, cst.While, cst.If, cst.With, cst.Try)})
    return id(small) in ids


def tensor_loop(ft, s: cst.For):
    """A LOOP_HANDLERS entry (keras_forward_loops.py): stepping over a tensor's leading axis,
    `for x_t in x:` (time-major sequences) or `for x_t in x.unbind(1):`, as
    `for x_t in keras.ops.unstack(x, axis=...)` (the length of that axis must be static). None: not
    such a loop."""
    it, axis = s.iter, 0
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and it.func.attr.value == "unbind" \
            and isinstance(it.func.value, cst.Name):
        if len(it.args) > 1 or any(a.keyword is not None and a.keyword.value != "dim" for a in it.args):
            return None
        axis = _literal(it.args[0].value) if it.args else 0
        it = it.func.value
    if not isinstance(it, cst.Name) or not isinstance(axis, int) or s.orelse is not None:
        return None
    m = ft.env.get(it.value)
    if m is None or not m.is_tensor:
        return None
    line = line_of(s)
    if m.flat is not None or (m.layout == "cf" and (m.rank is None or m.rank > 2)) or m.rank is None and axis < 0:
        raise _err("FWT202", f"a loop over the tensor '{it.value}' (a channels-last image, or a negative axis "
                             "of a tensor of unknown rank): not translated", line)
    d = axis % m.rank if m.rank is not None else axis
    item = tensor(shape=m.shape[:d] + m.shape[d + 1:]) if m.shape is not None else tensor(None)
    kwargs = [("axis", node_of(d))] if d else []
    iter_node = call(ft.refs.ops("unstack"), [it], kwargs)
    from .keras_forward_loops import bind, loop
    return loop(ft, s, lambda: bind(ft, s.target, item, line), iter_node)


def _register_loop_handler() -> None:
    from .keras_forward_loops import LOOP_HANDLERS
    if tensor_loop not in LOOP_HANDLERS:
        LOOP_HANDLERS.append(tensor_loop)


_register_loop_handler()


def special_call(ft, node: cst.Call):
    """Calls keras_forward_rnn.py translates (None: not one of them): `outputs.append(h)`, and
    `self.lstm.flatten_parameters()` (a cuDNN memory layout hint: no effect, dropped)."""
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "flatten_parameters" and not node.args and \
            isinstance(func.value, cst.Attribute) and isinstance(func.value.value, cst.Name) and \
            func.value.value.value == "self":
        spec = ft.cls.modules.get(func.value.attr.value)
        if spec is not None and handles(spec) and spec.rule.id in RNN_RULES:
            return cst.Name("None"), Meta(kind="dropped")
    if isinstance(func, cst.Attribute) and func.attr.value == "squeeze" and isinstance(func.value, cst.Name):
        m = ft.env.get(func.value.value)          # `h_n.squeeze(0)` of one lazily held state: that state
        if m is not None and m.kind == "states" and isinstance(m.info, tuple) and len(m.info) == 1 and \
                len(node.args) == 1 and node.args[0].keyword in (None,) and _const_int(node.args[0].value) == 0:
            return _name(m.info[0]), m.items[0]
    return list_append(ft, node)


def list_extend(ft, small: cst.AugAssign):
    """`outputs += [h]` on a list built in forward (None: not that)."""
    t = small.target
    if not (isinstance(small.operator, cst.AddAssign) and isinstance(t, cst.Name)
            and isinstance(small.value, (cst.List, cst.Tuple))):
        return None
    m = ft.env.get(t.value)
    if m is None or not (m.kind == "tuple" and not m.items):
        return None
    line = line_of(small)
    elements = []
    for el in small.value.elements:
        if isinstance(el, cst.StarredElement):
            raise _err("FWT103", f"{t.value} += [*...] not translated", line)
        n, em = ft.expr(el.value)
        _remember_item(ft, t.value, em, line)
        elements.append(el.with_changes(value=n))
    return small.with_changes(value=small.value.with_changes(elements=elements))


def _remember_item(ft, name, em, line) -> None:
    if em.is_tensor and em.flat is not None:
        raise _err("FWT202", "a flattened image added to a list", line)
    items = ft.__dict__.setdefault("_rnn_lists", {})
    if name in items and items[name] != em:
        from .keras_forward_base import merge_metas
        em = merge_metas(items[name], em, name, line)
    items[name] = em
    if em.is_tensor:                      # the item facts in the env too (keras_forward_tlists.py)
        from .keras_forward_tlists import remember
        remember(ft, name, em, line)


def list_append(ft, node: cst.Call):
    """`outputs.append(h)` on a list built in forward (`outputs = []`); None when this is not such a
    call. The list keeps its meta (an empty tuple); the items' meta is kept aside for torch.stack."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "append" and isinstance(func.value, cst.Name)):
        return None
    name = func.value.value
    m = ft.env.get(name)
    if m is None or not (m.kind == "tuple" and not m.items):
        return None
    line = line_of(node)
    if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
        raise _err("FWT103", f"{name}.append() with other than one argument", line)
    n, em = ft.expr(node.args[0].value)
    _remember_item(ft, name, em, line)
    return node.with_changes(args=[node.args[0].with_changes(value=n)]), OTHER


TORCH_FUNCTIONS = {"torch.stack", "torch.cat"}


def torch_function(ft, path: str, node: cst.Call):
    """torch.stack / torch.cat of a list appended to in forward. None: not handled here."""
    line = line_of(node)
    args = list(node.args)
    lists = ft.__dict__.get("_rnn_lists", {})
    if not args or args[0].keyword is not None or not isinstance(args[0].value, cst.Name) \
            or args[0].value.value not in lists or ft.env.get(args[0].value.value, OTHER).kind != "tuple":
        return None
    elem = lists[args[0].value.value]
    dim = 0
    for a in args[1:]:
        if a.keyword is not None and a.keyword.value != "dim" or a.star:
            raise _err("FWT201", f"torch.stack: argument {code(a)}", line)
        dim = _literal(a.value)
    if not isinstance(dim, int):
        raise _err("FWT202", "torch.stack: dim must be a constant", line)
    if not elem.is_tensor or elem.rank is None:
        raise _err("FWT302", "torch.stack of a list whose items' rank is not known", line)
    if elem.flat is not None or (elem.layout == "cf" and elem.rank > 2):
        raise _err("FWT202", "torch.stack of channels-last images is not translated", line)
    shape = tuple(elem.shape) if elem.shape is not None else (None,) * elem.rank
    if path == "torch.cat":
        d = dim % elem.rank
        out = tensor(shape=shape[:d] + (None,) + shape[d + 1:])
        return call(ft.refs.ops("concatenate"), [args[0].value], [("axis", node_of(keras_axis(dim, elem)))]), out
    rank = elem.rank + 1
    axis = keras_axis(dim, tensor(rank))
    d = dim % rank
    out = tensor(shape=shape[:d] + (None,) + shape[d:])
    kwargs = [("axis", node_of(axis))] if axis != 0 else []
    return call(ft.refs.ops("stack"), [args[0].value], kwargs), out


def _literal(node):
    from ..values import evaluate
    from ..ir import Sym
    v = evaluate(node, {})
    return UNKNOWN if isinstance(v, Sym) else v
