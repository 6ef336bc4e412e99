"""Layer lists built with append() in a Keras __init__ -> nn.ModuleList, appended in the same loops.

Also grown with `extend([...])` / `+= [...]` (each item written is one site), and list attributes set to
a literal list or a one-`for` comprehension of the file's layer classes (`nn.ModuleList([...])`; a plain
Python list would hold modules torch does not register). A size no local holds may be written as an
argument of an append() of the loop that holds it in every iteration (`base * 2 ** (level + 1)`, the
U-Net decoder's upsampling input).

    self.downs = []                                   self.downs = nn.ModuleList()
    channels = width                                  channels = width
    for i in range(depth):                            for i in range(depth):
        self.downs.append(DoubleConv(channels, ..))       self.downs.append(DoubleConv(channels, ..))
        channels = width * 2 ** (i + 1)                   channels = width * 2 ** (i + 1)

__init__ is run symbolically (InitRun): loops over constant iterables are unrolled, locals are tracked
statement by statement (their values in terms of the constructor's parameters, which stay symbolic),
and every appended layer becomes one element of the list, built with the values its arguments have in
that iteration. A loop count that is a parameter with a constant default (`range(depth)`) is fixed to
that default: __init__ asserts it (FWT402). The translated __init__ keeps the loops: each append site
must get one torch constructor that serves all its iterations. A size inferred from the input (a
conv's in_channels) that differs between iterations is written as a local of __init__ that holds it
in every iteration (`channels` above); when none does, FWT302.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import libcst as cst

from ..cst_walk import find_all, node_code, transform
from ..findings import TranslationError
from ..ir import UNKNOWN, Sym, TensorMeta, _fold
from ..names import dotted
from ..positions import line_of
from ..values import evaluate, evaluate_items, to_node


# ---- values ----------------------------------------------------------------------------------------

def sim_eval(node, env: dict):
    """`evaluate`, with Python arithmetic (** and %) and range/reversed/list/len, where a symbolic
    operand gives an expression in the values (never in the names) of its operands."""
    if isinstance(node, cst.BinaryOperation):
        a, b = sim_eval(node.left, env), sim_eval(node.right, env)
        return binop(a, b, type(node.operator))
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        v = sim_eval(node.expression, env)
        if isinstance(v, Sym):
            return Sym(f"-({v})")
        return -v if _number(v) else UNKNOWN
    if isinstance(node, (cst.Tuple, cst.List)):
        return evaluate_items(node, sim_eval, env)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and not any(a.keyword or a.star
                                                                                 for a in node.args):
        args = [sim_eval(a.value, env) for a in node.args]
        name = node.func.value
        if name == "range" and 1 <= len(args) <= 3 and all(_number(a) and isinstance(a, int) for a in args):
            return list(range(*args))
        if name in ("reversed", "list", "tuple") and len(args) == 1 and isinstance(args[0], (list, tuple)):
            items = list(reversed(args[0])) if name == "reversed" else list(args[0])
            return tuple(items) if name == "tuple" else items
        if name == "len" and len(args) == 1 and isinstance(args[0], (list, tuple)):
            return len(args[0])
        if name in ("enumerate", "zip") and args and all(isinstance(a, (list, tuple)) for a in args):
            return list(enumerate(args[0])) if name == "enumerate" and len(args) == 1 else \
                list(zip(*args)) if name == "zip" else UNKNOWN
        return UNKNOWN
    if isinstance(node, cst.Name) and node.value not in ("True", "False", "None") and node.value not in env:
        return UNKNOWN
    return evaluate(node, env)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, (bool, Sym))


def binop(a, b, op):
    if a is UNKNOWN or b is UNKNOWN or a is None or b is None:
        return UNKNOWN
    if _number(a) and _number(b):
        ops = {cst.Add: lambda: a + b, cst.Subtract: lambda: a - b, cst.Multiply: lambda: a * b,
               cst.FloorDivide: lambda: a // b, cst.Divide: lambda: a / b, cst.Power: lambda: a ** b,
               cst.Modulo: lambda: a % b}
        try:
            return ops[op]() if op in ops else UNKNOWN
        except (ArithmeticError, KeyError):
            return UNKNOWN
    if not all(isinstance(v, Sym) or (_number(v) and isinstance(v, int)) for v in (a, b)):
        return UNKNOWN
    text = {cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.FloorDivide: "//"}.get(op)
    if text is not None:
        return _fold(a, b, text)
    if op is cst.Power and _number(b) and b >= 0:
        return Sym(f"({a}) ** {b}")
    return UNKNOWN


_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def same_value(a, b, fixed: dict | None = None) -> bool:
    """Are two sizes equal for every value of the parameters they are written in (`fixed`: parameters
    with a given value)? Constants compare directly; symbolic sizes (Python expressions in constructor
    parameters) are compared on a fixed set of parameter values (expressions of +, -, *, //, ** in
    integers: equal on all of them)."""
    if a is None or b is None or a is UNKNOWN or b is UNKNOWN:
        return False
    if not isinstance(a, Sym) and not isinstance(b, Sym) and not fixed:
        return a == b
    if str(a) == str(b):
        return True
    names = sorted(set(_NAME.findall(str(a))) | set(_NAME.findall(str(b))))
    rng = random.Random(1234)
    for _ in range(6):
        values = {n: rng.randint(2, 61) for n in names}
        values.update({k: v for k, v in (fixed or {}).items() if k in values})
        left, right = _arith(str(a), values), _arith(str(b), values)
        if left is None or right is None or left != right:
            return False
    return True


_AST_OPS = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mult": lambda a, b: a * b,
            "FloorDiv": lambda a, b: a // b, "Pow": lambda a, b: a ** b if 0 <= b <= 64 else None,
            "Mod": lambda a, b: a % b}


def _arith(text: str, values: dict):
    """The integer value of an arithmetic expression in names (None when it is anything else)."""
    import ast
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            return values.get(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = value(node.operand)
            return None if v is None else -v
        if isinstance(node, ast.BinOp) and type(node.op).__name__ in _AST_OPS:
            a, b = value(node.left), value(node.right)
            if a is None or b is None:
                return None
            try:
                return _AST_OPS[type(node.op).__name__](a, b)
            except ArithmeticError:
                return None
        return None
    return value(tree)


def matches(value, size, defaults: dict):
    """(is `value` -- a constructor argument -- the size `size` of a tensor, {parameter: default} to fix
    for it). The tensor's size may be a constant where the argument names a parameter of the model
    (`DoubleConv(in_channels, ..)` on a 3-channel input): equal when the parameters that only the
    argument names are fixed to their constant defaults (which the caller then asserts, FWT402)."""
    if same_value(value, size):
        return True, {}
    if not isinstance(value, Sym) or size is None or size is UNKNOWN:
        return False, {}
    extra = set(_NAME.findall(str(value))) - set(_NAME.findall(str(size)))
    fixed = {n: defaults[n] for n in extra if isinstance(defaults.get(n), int)
             and not isinstance(defaults.get(n), (bool, Sym))}
    if not fixed or len(fixed) != len(extra) or not same_value(value, size, fixed):
        return False, {}
    return True, fixed


# ---- running __init__ --------------------------------------------------------------------------------

@dataclass
class Appended:
    """One layer appended to a list attribute: the argument of append() and the locals at that point."""
    call: cst.Call
    env: dict
    site: int             # id of the item's node in the source (one per item written, many iterations)


@dataclass
class InitRun:
    """__init__ run symbolically: the lists built with append, and the locals at each statement."""
    lists: dict = field(default_factory=dict)       # attr -> [Appended]
    envs: dict = field(default_factory=dict)        # id(top-level statement) -> locals before it
    pins: dict = field(default_factory=dict)        # parameter -> the default the loops were unrolled with
    params: tuple = ()
    produced: dict = field(default_factory=dict)    # id(top-level statement) -> [(attr, index)] it appended


def appended_lists(init: cst.FunctionDef | None, classes=()) -> set[str]:
    """Attributes of `self` set to `[]` and grown in __init__ (append, extend, +=), or set to a list (a
    literal, a comprehension) of instances of the file's layer classes `classes` (cheap syntactic test)."""
    if init is None:
        return set()
    empty, appended, built = set(), set(), set()
    for node in find_all(init.body, (cst.Assign, cst.Call, cst.AugAssign)):
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            text = dotted(node.targets[0].target) or ""
            if not (text.startswith("self.") and text.count(".") == 1):
                continue
            if isinstance(node.value, cst.List) and not node.value.elements:
                empty.add(text[5:])
            elif _class_items(node.value, classes):
                built.add(text[5:])
        elif isinstance(node, cst.AugAssign):
            text = dotted(node.target) or ""
            if isinstance(node.operator, cst.AddAssign) and text.startswith("self.") and text.count(".") == 1:
                appended.add(text[5:])
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                node.func.attr.value in _GROW:
            text = dotted(node.func.value) or ""
            if text.startswith("self.") and text.count(".") == 1:
                appended.add(text[5:])
    return (empty & appended) | built


_GROW = ("append", "extend")


def _class_items(value, classes) -> bool:
    """`[Block(..) for i in range(n)]` / `[Block(..), Block(..)]`: instances of the file's classes."""
    if isinstance(value, cst.ListComp):
        items = [value.elt]
    elif isinstance(value, cst.List) and value.elements:
        items = [el.value for el in value.elements]
    else:
        return False
    return all(isinstance(i, cst.Call) and isinstance(i.func, cst.Name) and i.func.value in classes
               for i in items)


def run_init(init: cst.FunctionDef, scope: dict, defaults: dict, attrs: set[str]) -> InitRun:
    """Run __init__ with `scope` (parameters symbolic); loop counts given by a parameter are fixed to
    its default (and run again from the start with that value)."""
    pins: dict = {}
    params = tuple(p.name.value for p in list(init.params.params[1:]) + list(init.params.kwonly_params))
    for name in params:
        assigned = [n for n in find_all(init.body, (cst.AssignTarget, cst.AugAssign))
                    if isinstance(n.target, cst.Name) and n.target.value == name]
        if assigned:
            raise TranslationError("FWT103", f"__init__ assigns its parameter '{name}' and builds layer lists: "
                                   "not translated", line_of(init))
    for _ in range(len(params) + 1):
        runner = _Runner(dict(scope, **pins), defaults, attrs, params)
        try:
            runner.block(list(init.body.body), top=True)
        except _Pin as pin:
            pins[pin.name] = pin.value
            continue
        return InitRun(runner.lists, runner.envs, pins, params, runner.produced)
    raise TranslationError("FWT103", "__init__: loop counts not constant", line_of(init))


class _Pin(Exception):
    def __init__(self, name, value):
        self.name, self.value = name, value


class _Runner:
    def __init__(self, env, defaults, attrs, params):
        self.env = env
        self.defaults = defaults
        self.attrs = attrs
        self.params = params
        self.lists: dict = {}
        self.envs: dict = {}
        self.order: list = []
        self.produced: dict = {}

    def fail(self, message, node):
        raise TranslationError("FWT103", message, line_of(node))

    def block(self, statements, top=False):
        for stmt in statements:
            if top:
                self.envs[id(stmt)] = dict(self.env)
            start = len(self.order)
            self.statement(stmt)
            if top and len(self.order) > start:
                self.produced[id(stmt)] = self.order[start:]

    def touches_lists(self, node) -> bool:
        for call in find_all(node, cst.Call):
            owner = dotted(call.func.value) if isinstance(call.func, cst.Attribute) else None
            if owner and call.func.attr.value in _GROW and owner.startswith("self.") and owner[5:] in self.attrs:
                return True
        for aug in find_all(node, cst.AugAssign):
            text = dotted(aug.target) or ""
            if text.startswith("self.") and text[5:] in self.attrs:
                return True
        return False

    def add_items(self, attr: str, items: list, env: dict, node) -> None:
        """Layers added to the list `attr` (one site per item as written: its node's id)."""
        if attr not in self.lists:
            self.fail(f"self.{attr}: grown before it is set to a list", node)
        for item in items:
            self.order.append((attr, len(self.lists[attr])))
            self.lists[attr].append(Appended(item, dict(env), id(item)))

    def literal_items(self, attr: str, value, node) -> list:
        if not isinstance(value, (cst.List, cst.Tuple)) or any(isinstance(el, cst.StarredElement)
                                                               for el in value.elements):
            self.fail(f"self.{attr}: extended with something other than a literal list of layers", node)
        return [el.value for el in value.elements]

    def comprehension(self, attr: str, comp: cst.ListComp, node) -> None:
        """`[Block(..) for i in range(n)]`: one item per value of the (constant) iterable."""
        loop = comp.for_in
        if loop.inner_for_in is not None or loop.ifs or loop.asynchronous:
            self.fail(f"self.{attr}: a comprehension with several `for` or an `if` (not followed)", node)
        values = self.iterable(loop.iter)
        if values is None:
            self.fail(f"self.{attr}: a comprehension over values that are not constant (nor a parameter "
                      "with a constant default)", node)
        saved = dict(self.env)
        for value in values:
            self.bind(loop.target, value)
            self.add_items(attr, [comp.elt], self.env, node)
        self.env = saved

    def forget_assigned(self, node):
        for target in find_all(node, (cst.AssignTarget, cst.AugAssign, cst.For)):
            for name in find_all(target.target, cst.Name):
                self.env.pop(name.value, None)

    def statement(self, stmt):
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small)
        elif isinstance(stmt, cst.For):
            self.loop(stmt)
        elif isinstance(stmt, cst.If):
            test = sim_eval(stmt.test, self.env)
            if test is UNKNOWN or isinstance(test, Sym):
                if self.touches_lists(stmt):
                    self.fail("a layer list appended to under a condition that is not constant", stmt)
                self.forget_assigned(stmt)
            elif test:
                self.block(stmt.body.body)
            elif isinstance(stmt.orelse, cst.If):
                self.statement(stmt.orelse)
            elif stmt.orelse is not None:
                self.block(stmt.orelse.body.body)
        else:
            if self.touches_lists(stmt):
                self.fail("a layer list appended to in a statement not translated here "
                          f"({type(stmt).__name__})", stmt)
            self.forget_assigned(stmt)

    def small(self, small):
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            text = dotted(target) or ""
            if text.startswith("self.") and text[5:] in self.attrs:
                if not isinstance(small.value, (cst.List, cst.ListComp)) or text[5:] in self.lists:
                    self.fail(f"{text}: a layer list set more than once", small)
                self.lists[text[5:]] = []
                if isinstance(small.value, cst.ListComp):
                    self.comprehension(text[5:], small.value, small)
                else:
                    self.add_items(text[5:], self.literal_items(text[5:], small.value, small), self.env, small)
                return
            self.bind(target, sim_eval(small.value, self.env))
        elif isinstance(small, cst.AugAssign) and (dotted(small.target) or "")[5:] in self.attrs and \
                (dotted(small.target) or "").startswith("self."):
            attr = dotted(small.target)[5:]
            if not isinstance(small.operator, cst.AddAssign):
                self.fail(f"self.{attr}: a layer list changed with an operator other than +=", small)
            self.add_items(attr, self.literal_items(attr, small.value, small), self.env, small)
        elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
            op = {cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
                  cst.FloorDivideAssign: cst.FloorDivide, cst.PowerAssign: cst.Power}.get(type(small.operator))
            old = self.env.get(small.target.value, UNKNOWN)
            self.bind(small.target, binop(old, sim_eval(small.value, self.env), op) if op else UNKNOWN)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            func = call.func
            owner = dotted(func.value) if isinstance(func, cst.Attribute) else None
            if owner and owner.startswith("self.") and owner[5:] in self.attrs:
                if func.attr.value not in _GROW or len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
                    self.fail(f"{owner}.{func.attr.value}(...): only append(layer) and extend([layers]) build a "
                              "layer list here", small)
                if owner[5:] not in self.lists:
                    self.fail(f"{owner}: appended to before it is set to []", small)
                value = call.args[0].value
                items = [value] if func.attr.value == "append" else self.literal_items(owner[5:], value, small)
                self.add_items(owner[5:], items, self.env, small)
            elif self.touches_lists(small):
                self.fail("a layer list appended to inside an expression", small)
        elif self.touches_lists(small):
            self.fail("a layer list appended to in a statement not translated here", small)

    def bind(self, target, value):
        if isinstance(target, cst.Name):
            if value is UNKNOWN:
                self.env.pop(target.value, None)
            else:
                self.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            items = [el.value for el in target.elements]
            values = value if isinstance(value, (tuple, list)) and len(value) == len(items) else [UNKNOWN] * len(items)
            for t, v in zip(items, values):
                self.bind(t, v)
        elif isinstance(target, cst.Attribute) and dotted(target.value) == "self":
            key = f"self.{target.attr.value}"
            if value is UNKNOWN:
                self.env.pop(key, None)
            else:
                self.env[key] = value

    def iterable(self, node):
        value = sim_eval(node, self.env)
        if isinstance(value, (list, tuple)):
            return list(value)
        for name in sorted({n.value for n in find_all(node, cst.Name)}):   # range(depth): its default
            if name in self.params and isinstance(self.env.get(name), Sym) and name in self.defaults:
                default = self.defaults[name]
                if isinstance(default, int) and not isinstance(default, (bool, Sym)):
                    raise _Pin(name, default)
        return None

    def loop(self, stmt: cst.For):
        if not self.touches_lists(stmt):       # run when its count is constant, else its locals are unknown
            values = sim_eval(stmt.iter, self.env)
            if isinstance(values, (list, tuple)) and stmt.orelse is None and len(values) <= 256 and \
                    not find_all(stmt.body, (cst.Break, cst.Continue, cst.Return)):
                for value in values:
                    self.bind(stmt.target, value)
                    self.block(stmt.body.body)
            else:
                self.forget_assigned(stmt)
            return
        values = self.iterable(stmt.iter)
        if values is None:
            self.fail("a layer list appended to in a loop whose count is not a constant (nor a parameter "
                      "with a constant default)", stmt)
        if stmt.orelse is not None or any(True for _ in find_all(stmt.body, (cst.Break, cst.Continue, cst.Return))):
            self.fail("a layer list appended to in a loop with break/continue/else", stmt)
        for value in values:
            self.bind(stmt.target, value)
            self.block(stmt.body.body)


# ---- the layers of the lists ----------------------------------------------------------------------------

@dataclass
class AppendList:
    """A layer list built with append(): `nn.ModuleList()`, filled by the same loops in __init__."""
    attr: str
    layers: list                       # Layer / CustomRef, one per append, in order
    sites: dict                        # id(layer) -> (site id, env)

    def module_list(self, ft) -> cst.Call:
        return cst.Call(ft.imports.ref("torch.nn.ModuleList"), [])


def specialised_args(ft, call: cst.Call, rule, path: str, env: dict) -> dict:
    """The layer's arguments, their values as in this iteration (their nodes as written)."""
    from ..ir import Val
    args = ft.bind_args(call, rule, path)
    return {k: Val(v.node, sim_eval(v.node, env)) if v.node is not None else v for k, v in args.items()}


def specialised_ctor(call: cst.Call, env: dict) -> cst.Call:
    """`Block(channels, width * 2 ** i)` with its arguments' values in this iteration (for the shapes)."""
    args = []
    for arg in call.args:
        value = sim_eval(arg.value, env) if not arg.star else UNKNOWN
        if value is UNKNOWN or not isinstance(value, (int, float, str, bool, tuple)) and value is not None:
            args.append(arg)
        else:
            args.append(arg.with_changes(value=to_node(value)))
    return call.with_changes(args=args)


def new_group(ft, attr: str) -> AppendList:
    """`self.<attr> = []`: the group, filled as the statements that append to it are met (creation order)."""
    group = AppendList(attr, [], {})
    ft.attrs.add(attr)
    ft.layer_lists[f"self.{attr}"] = group.layers
    ft.append_lists[attr] = group
    return group


def add_appended(ft, run: InitRun, stmt) -> list:
    """The layers a top-level statement of __init__ appends (to any list), in the order it makes them."""
    from ..backends.torch_forward import CustomRef
    groups = []
    for attr, k in run.produced.get(id(stmt), []):
        group = ft.append_lists.get(attr)
        if group is None:
            raise TranslationError("FWT103", f"self.{attr}: appended to before it is set to []", line_of(stmt))
        item = run.lists[attr][k]
        call = item.call
        if not isinstance(call, cst.Call):
            raise TranslationError("FWT103", f"self.{attr}: appends something that is not a layer", line_of(stmt))
        if isinstance(call.func, cst.Name) and call.func.value in ft.custom_classes:
            layer = CustomRef(f"{attr}.{k}", call.func.value, call, line_of(call))
            layer.shape_ctor = specialised_ctor(call, item.env)
            ft.layers.append(layer)
        else:
            found = ft.rule_for(call.func)
            if found is None:
                raise TranslationError("FWT103", f"self.{attr}: appends something that is not a Keras layer "
                                       "with a rule", line_of(call))
            layer = ft.new_layer(call, *found, attr=f"{attr}.{k}",
                                 args=specialised_args(ft, call, found[1], found[0], item.env))
        group.layers.append(layer)
        group.sites[id(layer)] = (item.site, item.env)
        if group not in groups:
            groups.append(group)
    return groups


@dataclass
class AppendLoop:
    """A top-level statement of __init__ (a loop) that appends to layer lists."""
    stmt: cst.CSTNode
    groups: list
    creates: AppendList | None = None      # `self.X = [items]`: the statement also sets the list


# ---- __init__ code -------------------------------------------------------------------------------------

def site_ctors(ft, group: AppendList, shaped_classes) -> dict:
    """One torch constructor per append site (id of the append call), the same for all its iterations."""
    from ..backends.torch_forward import CustomRef
    from ..backends.torch_layer_args import ctor_with_layer_args
    from ..backends.torch_module import custom_ctor
    by_site: dict = {}
    for layer in group.layers:
        site, env = group.sites[id(layer)]
        if isinstance(layer, CustomRef):
            ctor = ctor_with_layer_args(ft, layer, custom_ctor(layer, shaped_classes))
        else:
            emission = ft.emissions.get(id(layer))
            if emission is None or emission[0].ctor is None:
                raise TranslationError("FWT103", f"self.{group.attr}: {layer.keras_class} has no torch module to "
                                       "hold in an nn.ModuleList", layer.line)
            ctor = emission[0].ctor
        by_site.setdefault(site, []).append((layer, env, ctor))
    out = {}
    for site, items in by_site.items():
        codes = {node_code(c) for _, _, c in items}
        if len(codes) > 1:
            items = [(layer, env, _renamed_ctor(ft, layer, env, items, ctor)) for layer, env, ctor in items]
            codes = {node_code(c) for _, _, c in items}
        if len(codes) > 1:
            layer = items[0][0]
            raise TranslationError("FWT302", f"self.{group.attr}: the layers appended in the loop need different "
                                   "constructor arguments in torch (their input sizes differ) and no variable of "
                                   "__init__ holds them: " + " / ".join(sorted(codes)), layer.line)
        out[site] = items[0][2]
    return out


def _renamed_ctor(ft, layer, env, items, ctor):
    """The constructor built again with its input's feature size written as a local of __init__ that
    holds that size in every iteration of the site (e.g. `channels`)."""
    from ..backends.torch_forward import CustomRef
    from ..backends.torch_layers import LayerContext, ShapeUnknown, emit_layer
    if isinstance(layer, CustomRef) or not layer.in_metas:
        return ctor
    sizes = [(it[0].in_metas[0].shape[-1] if it[0].in_metas and it[0].in_metas[0].shape else None, it[1])
             for it in items]
    name = next((n for n in env if n.isidentifier() and all(matches(e.get(n), s, ft.defaults)[0]
                                                            for s, e in sizes)), None)
    if name is None:          # else an argument written in the loop that holds it (`filters * 2 ** (i + 1)`)
        name, sizes = _argument_holding(ft, env, sizes)
    meta = layer.in_metas[0]
    if name is None or meta.shape is None:
        return ctor
    for size, e in sizes:
        for param, value in matches(e[name] if name in e else e.get(name), size, ft.defaults)[1].items():
            ft.pin(param, value, f"{layer.keras_class} in a layer list", layer.line)
    renamed = [TensorMeta(tuple(meta.shape[:-1]) + (Sym(name),), meta.layout, meta.dtype, meta.flat_from,
                          meta.origin)] + list(layer.in_metas[1:])
    ctx = LayerContext(layer, renamed, ft.imports, ft.rules, ft.self_ref)
    ctx.translator = ft
    try:
        return emit_layer(ctx).ctor or ctor
    except (TranslationError, ShapeUnknown):
        return ctor


def top_level_ctor(ft, layer, stmt, ctor):
    """`self.out = Conv2D(5, 1)` after the loops: its input size, when an expression, written as the
    __init__ local that holds it there (`nn.Conv2d(channels, 5, 1)`)."""
    run = getattr(ft, "init_run", None)
    meta = layer.in_metas[0] if layer.in_metas else None
    if run is None or id(stmt) not in run.envs or meta is None or not meta.shape:
        return ctor
    if not isinstance(meta.shape[-1], Sym) or str(meta.shape[-1]).isidentifier():
        return ctor
    env = run.envs[id(stmt)]
    return _renamed_ctor(ft, layer, env, [(layer, env, ctor)], ctor)


def rewrite_statement(ft, stmt, ctors: dict, table):
    """A statement of __init__ holding appends to layer lists: each append gets its torch constructor."""
    def leave_call(original, updated):
        return ctors.get(id(original), updated)
    new = transform(stmt, {cst.Call: leave_call})
    from .keras_classes import _framework_refs
    left = sorted(_framework_refs(new, table))
    if left:
        raise TranslationError("FWT103", f"a loop of __init__ still uses {', '.join(left)} besides the layer "
                               "lists it builds", line_of(stmt))
    return new


def pin_notes(ft, run: InitRun, line: int) -> None:
    for param, value in sorted(run.pins.items()):
        ft.pin(param, value, "a layer list built in a loop", line)


# ---- hooks for SubclassTranslator ------------------------------------------------------------------------

def init_run(sub, ft) -> InitRun | None:
    """Run __init__ when it builds layer lists with append (None otherwise: nothing changes)."""
    init = sub.method("__init__")
    attrs = appended_lists(init, set(getattr(ft, "custom_classes", ()) or ()))
    if not attrs:
        return None
    if not hasattr(ft, "append_lists"):
        ft.append_lists = {}
    run = run_init(init, ft.scope, ft.defaults, attrs)
    ft.init_run = run
    for items in run.lists.values():      # the locals of __init__ where its layers are built
        for item in items:
            ft.init_names |= {n for n in item.env if n.isidentifier()}
    return run


def collect_statement(ft, run: InitRun, stmt, found: dict) -> bool:
    """`self.X = []` of a layer list, or a statement appending to layer lists: registered in `found`."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        small = stmt.body[0]
        text = dotted(small.targets[0].target) or ""
        if text.startswith("self.") and text[5:] in run.lists and isinstance(small.value, (cst.List, cst.ListComp)):
            group = new_group(ft, text[5:])
            found[id(stmt)] = AppendLoop(stmt, add_appended(ft, run, stmt), group) if id(stmt) in run.produced \
                else group
            return True
    if id(stmt) in run.produced:
        found[id(stmt)] = AppendLoop(stmt, add_appended(ft, run, stmt))
        return True
    return False


def init_code(sub, ft, stmt, item):
    """The torch statement of __init__ for `self.X = []` or for a loop appending layers."""
    if isinstance(item, AppendList):
        small = stmt.body[0]
        return stmt.with_changes(body=[small.with_changes(value=item.module_list(ft))])
    pin_notes(ft, ft.init_run, line_of(stmt))
    ctors: dict = {}
    for group in item.groups:
        ctors.update(site_ctors(ft, group, ft.shaped_classes))
    new = rewrite_statement(ft, stmt, ctors, sub.owner.table)
    if item.creates is not None:          # self.X = [...] -> nn.ModuleList([...])
        small = new.body[0]
        new = new.with_changes(body=[small.with_changes(
            value=cst.Call(ft.imports.ref("torch.nn.ModuleList"), [cst.Arg(small.value)]))])
    return new


def _argument_holding(ft, env: dict, sizes: list):
    """(code of an argument of an append() of __init__ whose value, in each iteration of the site, is the
    input size there, sizes with that value recorded under the code), or (None, sizes). An argument is
    computed from names bound where the layer is appended (the run's locals), so at the site it holds
    the value it has in the run."""
    seen = set()
    for group in ft.append_lists.values():
        for other in group.layers:
            call = getattr(other, "ctor", None) or getattr(other, "node", None)
            if not isinstance(call, cst.Call):
                continue
            for arg in call.args:
                value = arg.value
                code = node_code(value).strip()
                if arg.star or code in seen or isinstance(value, (cst.Name, cst.Integer)) or \
                        (arg.keyword is not None and arg.keyword.value == "name"):
                    continue
                seen.add(code)
                names = {n.value for n in find_all(value, cst.Name)}
                if find_all(value, (cst.Call, cst.Attribute, cst.Subscript, cst.Lambda)) or \
                        not all(n in e for n in names for _, e in sizes):
                    continue
                got = [sim_eval(value, e) for _, e in sizes]
                if all(v is not UNKNOWN and matches(v, s, ft.defaults)[0] for v, (s, _) in zip(got, sizes)):
                    return code, [(s, dict(e, **{code: v})) for v, (s, e) in zip(got, sizes)]
    return None, sizes
