"""Recognise Keras model definitions in a block of statements.

Three forms: Sequential (list or .add calls), Functional (Input -> layer calls -> Model), and
subclassed Model/Layer classes (see keras_classes.py). This module finds the statements that make
up a Sequential or Functional model; it neither translates nor emits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..findings import TranslationError
from ..cst_walk import all_names, find_all
from ..names import ImportTable, dotted
from ..positions import line_of

MODEL_API = {"compile", "fit", "evaluate", "predict", "save", "save_weights", "load_weights",
             "train_on_batch", "fit_generator", "predict_on_batch", "test_on_batch", "to_json",
             "get_weights", "set_weights"}


@dataclass
class InputSpec:
    name: str
    shape: tuple | None          # without the batch dimension
    dtype: str = "float32"
    node: cst.CSTNode | None = None


@dataclass
class ModelSite:
    """One Sequential or Functional model found in a block."""
    form: str                              # sequential | functional
    var: str | None                        # the variable the model is bound to (None: returned)
    statement: cst.CSTNode                 # the statement that creates the model
    graph: set = field(default_factory=set)    # ids of statements that belong to the model
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[cst.BaseExpression] = field(default_factory=list)
    layer_nodes: list[cst.Call] = field(default_factory=list)   # sequential: the layers in order
    layer_comments: dict = field(default_factory=dict)          # id(layer node) -> (above, trailing)
    forward: list = field(default_factory=list)                 # functional: the graph statements
    line: int = 0
    name: str | None = None                                     # name= given to the model


def _single_assign(stmt) -> tuple[str | None, cst.BaseExpression | None]:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            return small.targets[0].target.value, small.value
        if isinstance(small, cst.Return) and small.value is not None:
            return None, small.value
    return None, None


def _names_in(node) -> set[str]:
    return all_names(node)


def _kwarg(call: cst.Call, *names: str, position: int | None = None):
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in names:
            return arg.value
    if position is not None:
        positional = [a for a in call.args if a.keyword is None]
        if len(positional) > position:
            return positional[position].value
    return None


def _list_items(node) -> list:
    if isinstance(node, (cst.List, cst.Tuple)):
        return [el.value for el in node.elements]
    return [node]


class BlockScanner:
    """Finds Sequential and Functional models in one block (a module or a function body)."""

    def __init__(self, table: ImportTable, scope: dict, evaluate, custom_classes=()):
        self.table = table
        self.scope = scope
        self.evaluate = evaluate
        self.custom_classes = set(custom_classes)   # Keras layer classes defined in the file

    def path(self, node) -> str | None:
        return self.table.resolve(node) if isinstance(node, (cst.Name, cst.Attribute)) else None

    def is_call_to(self, node, *paths) -> bool:
        return isinstance(node, cst.Call) and self.path(node.func) in paths

    def is_layer_ctor(self, node) -> bool:
        if not isinstance(node, cst.Call):
            return False
        if isinstance(node.func, cst.Name) and node.func.value in self.custom_classes:
            return True
        p = self.path(node.func)
        return bool(p and p.startswith("keras.layers.") and p[13:14].isupper())

    def input_spec(self, name: str, call: cst.Call) -> InputSpec:
        shape_node = _kwarg(call, "shape", position=0)
        batch_shape = _kwarg(call, "batch_shape")
        shape = None
        if shape_node is not None:
            shape = self.evaluate(shape_node)
        elif batch_shape is not None:
            value = self.evaluate(batch_shape)
            shape = value[1:] if isinstance(value, (tuple, list)) else None
        if not isinstance(shape, (tuple, list)):
            shape = None
        dtype_node = _kwarg(call, "dtype")
        dtype = self.evaluate(dtype_node) if dtype_node is not None else "float32"
        return InputSpec(name, tuple(shape) if shape is not None else None,
                         dtype if isinstance(dtype, str) else "float32", call)

    def scan(self, statements) -> list[ModelSite]:
        sites: list[ModelSite] = []
        tensors: dict[str, int] = {}          # graph tensor name -> id of defining statement
        layer_vars: set[str] = set()
        inputs: dict[str, InputSpec] = {}
        graph: list = []
        sequentials: dict[str, ModelSite] = {}
        for stmt in statements:
            var, value = _single_assign(stmt)
            if value is not None and self.is_call_to(value, "keras.Input"):
                if var is None:
                    continue
                inputs[var] = self.input_spec(var, value)
                tensors[var] = id(stmt)
                graph.append(stmt)
                continue
            if value is not None and self.is_call_to(value, "keras.Sequential"):
                site = self.sequential(var, stmt, value)
                sites.append(site)
                if var is not None:
                    sequentials[var] = site
                continue
            if value is not None and self.is_call_to(value, "keras.Model"):
                sites.append(self.functional(var, stmt, value, inputs, graph))
                tensors.clear(), graph.clear()
                continue
            if self.sequential_add(stmt, sequentials):
                continue
            if var is not None and self.is_layer_ctor(value) and not (tensors and tensors.keys() & _names_in(value)):
                layer_vars.add(var)
                graph.append(stmt)
                continue
            if not tensors and not layer_vars:      # nothing the statement could use (no walk needed)
                continue
            used = _names_in(stmt)
            if used & (tensors.keys() | layer_vars):
                if not isinstance(stmt, cst.SimpleStatementLine):
                    raise TranslationError("FWT103", "control flow in a functional model definition "
                                           "is not supported yet", line_of(stmt))
                graph.append(stmt)
                for target in _assigned_names(stmt):
                    tensors[target] = id(stmt)
        return _sequentials_used_as_layers(sites, statements)

    def model_name(self, call: cst.Call) -> str | None:
        node = _kwarg(call, "name")
        value = self.evaluate(node) if node is not None else None
        return value if isinstance(value, str) and value.isidentifier() else None

    def sequential(self, var, stmt, call: cst.Call) -> ModelSite:
        site = ModelSite("sequential", var, stmt, line=line_of(stmt), name=self.model_name(call))
        site.graph.add(id(stmt))
        layers = _kwarg(call, "layers", position=0)
        for node in _list_items(layers) if layers is not None else []:
            self.add_sequential_item(site, node)
        if isinstance(layers, (cst.List, cst.Tuple)):
            comments = element_comments(layers)
            carried: list = []
            for item in _list_items(layers):   # comments on a non-layer item go to the next layer
                above, trailing = comments.get(id(item), ([], None))
                if item in site.layer_nodes:
                    site.layer_comments[id(item)] = (carried + list(above), trailing)
                    carried = []
                else:
                    carried += list(above) + ([trailing] if trailing else [])
        return site

    def add_sequential_item(self, site: ModelSite, node) -> None:
        if self.is_call_to(node, "keras.Input"):
            site.inputs = [self.input_spec("x", node)]
        elif self.is_call_to(node, "keras.layers.InputLayer"):
            spec = self.input_spec("x", node)
            shape = _kwarg(node, "input_shape", "shape")
            if shape is not None:
                value = self.evaluate(shape)
                spec.shape = tuple(value) if isinstance(value, (tuple, list)) else None
            site.inputs = [spec]
        elif self.is_layer_ctor(node):
            if not site.layer_nodes and not site.inputs:
                spec = self.first_layer_input(node)
                if spec is not None:
                    site.inputs = [spec]
            site.layer_nodes.append(node)
        else:
            raise TranslationError("FWT103", "Sequential item is not a Keras layer: "
                                   f"{cst.Module([]).code_for_node(node)[:60]}", line_of(node))

    def first_layer_input(self, node: cst.Call) -> InputSpec | None:
        """Keras 2 style: input_shape= / input_dim= / batch_input_shape= on the first layer."""
        shape = None
        for key in ("input_shape", "batch_input_shape", "input_dim"):
            value_node = _kwarg(node, key)
            if value_node is None:
                continue
            value = self.evaluate(value_node)
            if key == "input_dim":
                length = _kwarg(node, "input_length")
                is_embedding = self.path(node.func) == "keras.layers.Embedding"
                if is_embedding:
                    n = self.evaluate(length) if length is not None else None
                    return InputSpec("x", (n if isinstance(n, int) else None,), "int64", node)
                shape = (value,)
            elif isinstance(value, (tuple, list)):
                shape = tuple(value[1:]) if key == "batch_input_shape" else tuple(value)
        if shape is None and self.path(node.func) == "keras.layers.Embedding":
            length = _kwarg(node, "input_length")
            n = self.evaluate(length) if length is not None else None
            return InputSpec("x", (n if isinstance(n, int) else None,), "int64", node)
        return InputSpec("x", shape, "float32", node) if shape is not None else None

    def sequential_add(self, stmt, sequentials: dict[str, ModelSite]) -> bool:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Call)):
            return False
        call = stmt.body[0].value
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "add"
                and isinstance(func.value, cst.Name) and func.value.value in sequentials):
            return False
        site = sequentials[func.value.value]
        self.add_sequential_item(site, call.args[0].value)
        site.graph.add(id(stmt))
        above = [line.comment.value for line in stmt.leading_lines if line.comment]
        trailing = stmt.trailing_whitespace.comment
        site.layer_comments[id(call.args[0].value)] = (above, trailing.value if trailing else None)
        return True

    def functional(self, var, stmt, call: cst.Call, inputs: dict, graph: list) -> ModelSite:
        site = ModelSite("functional", var, stmt, line=line_of(stmt), name=self.model_name(call))
        ins = _kwarg(call, "inputs", "input", position=0)
        outs = _kwarg(call, "outputs", "output", position=1)
        if ins is None or outs is None:
            raise TranslationError("FWT103", "keras.Model(...) without inputs and outputs", line_of(stmt))
        if isinstance(outs, cst.Dict) or isinstance(ins, cst.Dict):
            raise TranslationError("FWT103", "dict inputs/outputs are not supported yet", line_of(stmt))
        for node in _list_items(ins):
            name = dotted(node)
            if name not in inputs:
                raise TranslationError("FWT103", f"model input '{name}' is not a keras.Input here",
                                       line_of(stmt))
            site.inputs.append(inputs[name])
        if isinstance(outs, cst.Name):       # outputs = [a, b]; keras.Model(inputs, outputs)
            bound = _list_bound_to(outs.value, graph)
            if bound is not None:
                outs = bound
        site.outputs = _list_items(outs)
        site.multi_output = isinstance(outs, (cst.List, cst.Tuple))
        site.forward = _live(graph, site.outputs)
        site.graph = {id(s) for s in graph} | {id(stmt)}
        return site


def _comments_in(node) -> tuple[list[str], str | None]:
    """(full-line comments, same-line comment) in a piece of whitespace."""
    if node is None or isinstance(node, cst.MaybeSentinel):
        return [], None
    if isinstance(node, cst.ParenthesizedWhitespace):
        first = node.first_line.comment
        return [line.comment.value for line in node.empty_lines if line.comment], first.value if first else None
    return [], None


def element_comments(container) -> dict:
    """Comments around the items of a list literal: id(item) -> (full-line comments above, trailing)."""
    out = {}
    above, _ = _comments_in(container.lbracket.whitespace_after if isinstance(container, cst.List) else None)
    first_trailing = _comments_in(container.lbracket.whitespace_after)[1] if isinstance(container, cst.List) else None
    if first_trailing:
        above = [first_trailing] + above
    for el in container.elements:
        comma = el.comma
        trailing, next_above = None, []
        if isinstance(comma, cst.Comma):
            next_above, trailing = _comments_in(comma.whitespace_after)
        out[id(el.value)] = (above, trailing)
        above = next_above
    return out


def _sequentials_used_as_layers(sites: list, statements: list) -> list:
    """A Sequential called inside a functional model is one of its layers, not a model of its own."""
    order = {id(s): i for i, s in enumerate(statements)}
    for seq in [s for s in sites if s.form == "sequential" and s.var]:
        for site in sites:
            if site.form != "functional" or not any(_calls(stmt, seq.var) for stmt in site.forward):
                continue
            site.forward = sorted(site.forward + [seq.statement], key=lambda s: order.get(id(s), 0))
            site.graph.add(id(seq.statement))
            sites = [s for s in sites if s is not seq]
            break
    return sites


def _calls(node, name: str) -> bool:
    return any(isinstance(n.func, cst.Name) and n.func.value == name for n in find_all(node, cst.Call))


def _list_bound_to(name: str, graph: list):
    """The list/tuple literal last assigned to `name` in the graph statements, if any."""
    for stmt in reversed(graph):
        var, value = _single_assign(stmt)
        if var == name:
            return value if isinstance(value, (cst.List, cst.Tuple)) else None
    return None


def _live(graph: list, outputs: list) -> list:
    """The graph statements that the outputs depend on (Keras leaves the others out of the model)."""
    needed: set[str] = set()
    for node in outputs:
        needed |= _names_in(node)
    keep = []
    for stmt in reversed(graph):
        targets = set(_assigned_names(stmt))
        if targets & needed:
            keep.append(stmt)
            needed |= _names_in(stmt) - targets if not (targets & _names_in_value(stmt)) else _names_in(stmt)
    return list(reversed(keep))


def _names_in_value(stmt) -> set[str]:
    if isinstance(stmt, cst.SimpleStatementLine):
        found: set[str] = set()
        for small in stmt.body:
            value = getattr(small, "value", None)
            if value is not None:
                found |= _names_in(value)
        return found
    return _names_in(stmt)


def _assigned_names(stmt) -> list[str]:
    out = []
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            targets = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
                targets = [small.target]
            for t in targets:
                out += sorted(_names_in(t))
    return out
