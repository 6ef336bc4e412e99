"""A Keras `call(self, inputs)` that takes several inputs in its one argument -> forward(self, inputs).

    def call(self, inputs):                 def forward(self, inputs):
        x, y = inputs                           x, y = inputs
        a = self.conv(x)                        a = self.conv(x)            (x channels-first)
        b = self.dense(inputs[1])               b = self.dense(inputs[1])

The public call form stays `model([x, y])`, as Keras users call it. The argument is a list of tensors
(torch_forward_lists) whose element i has the i-th given shape (--input-shape with several shapes,
`model.build([(None, ...), (None, ...)])`, or the caller's inputs); each element's layout is chosen
like a model input's (`origin` "inputs[i]": an image element that an image layer reads first is
channels-first in torch) and the interface records a permutation per element, with
`ModelInfo.packed` set (callers pass the torch tensors as one list). Unpacking `x, y = inputs` binds each
name to its element; `inputs[i]` reads element i; any other use of the argument (`len(inputs)`, a dict
of inputs `inputs["a"]`) is FWT302, never a guess.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all
from ..findings import TranslationError
from ..positions import line_of


def element_name(arg: str, i: int) -> str:
    return f"{arg}[{i}]"


def is_packed(call: cst.FunctionDef, names: list, shapes, used_as_layer: bool) -> bool:
    """One call() input given several shapes: a list of inputs in one argument, when call() reads it as
    a list (`x, y = inputs`, `inputs[1]`), or when the class is no layer of another class of the file (the
    shapes given are its own, not the file's model's that a layer class falls back to)."""
    if not (len(names) == 1 and shapes is not None and len(shapes) > 1):
        return False
    return not used_as_layer or bool(list_reads(call, names[0]))


def list_reads(call: cst.FunctionDef, arg: str) -> list:
    """The nodes of call() that read `arg` as a list: `a, b = arg` and `arg[<int>]`."""
    out = []
    for node in find_all(call.body, cst.Assign):
        if isinstance(node.value, cst.Name) and node.value.value == arg and \
                any(isinstance(t.target, (cst.Tuple, cst.List)) for t in node.targets):
            out.append(node)
    for node in find_all(call.body, cst.Subscript):
        if isinstance(node.value, cst.Name) and node.value.value == arg and len(node.slice) == 1 and \
                isinstance(node.slice[0].slice, cst.Index) and \
                isinstance(node.slice[0].slice.value, (cst.Integer, cst.SimpleString)):
            out.append(node)
    return out


def check_unpacked_use(call: cst.FunctionDef, names: list, shapes) -> None:
    """call(self, inputs) that reads its argument as a list (unpacks it, reads two of its items, or reads
    it as a dict) without a shape for each item: FWT302 (the items' shapes and layouts are unknown)."""
    if len(names) != 1 or (shapes is not None and len(shapes) > 1):
        return
    arg, indices = names[0], set()
    cure = "pass one shape per input (--input-shape, or model.build([...]) in the file)"
    for node in list_reads(call, arg):
        if isinstance(node, cst.Assign):
            raise TranslationError("FWT302", f"call() unpacks '{arg}' into several inputs, but their shapes are "
                                   f"not known: {cure}", line_of(node))
        index = node.slice[0].slice.value
        if isinstance(index, cst.SimpleString):
            raise TranslationError("FWT302", f"call() reads '{arg}' as a dict of inputs ({arg}[{index.value}]): "
                                   "not translated (pass the inputs as a list)", line_of(node))
        indices.add(int(index.value, 0))
        if len(indices) > 1:
            raise TranslationError("FWT302", f"call() reads several inputs from '{arg}' but their shapes are not "
                                   f"known: {cure}", line_of(node))


def unpack_statement(ft, small):
    """`x, y = inputs` (a list of tensors with known items): each name bound to its item's meta; the
    statement is kept as it is. None when `small` is not such a statement."""
    if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.value, cst.Name)
            and small.value.value in ft.tensor_lists):
        return None
    target = small.targets[0].target
    if not isinstance(target, (cst.Tuple, cst.List)):
        return None
    name, metas = small.value.value, ft.tensor_lists[small.value.value]
    elements = [el.value for el in target.elements]
    if metas is None or any(isinstance(el, cst.StarredElement) for el in target.elements) \
            or not all(isinstance(e, cst.Name) for e in elements):
        raise TranslationError("FWT302", f"unpacking the list of tensors '{name}' whose contents are not known "
                               "here, or into other targets than names", line_of(small))
    if len(elements) != len(metas):
        raise TranslationError("FWT201", f"'{name}' holds {len(metas)} inputs; unpacked into {len(elements)}",
                               line_of(small))
    for el, meta in zip(elements, metas):
        ft.tensor_lists.pop(el.value, None)
        ft.env[el.value] = meta
    return small


def merge_items(ft, node, what: str) -> list:
    """The tensors a merge layer gets when called on one expression (`Concatenate()(inputs)`): the items
    `inputs[0]`, `inputs[1]`, ... of a list of tensors known here; FWT302 for anything else (a name
    whose contents are not known would be passed as one tensor)."""
    metas = ft.tensor_lists.get(node.value) if isinstance(node, cst.Name) else None
    if not metas:
        raise TranslationError("FWT302", f"{what} called on '{ft_code(node)}', a list of tensors whose items "
                               "are not known here: pass the list literally ([a, b]) or give the shapes of "
                               "the model's inputs", line_of(node))
    return [cst.Subscript(node, [cst.SubscriptElement(cst.Index(cst.Integer(str(i))))]) for i in range(len(metas))]


def ft_code(node) -> str:
    from ..cst_walk import node_code
    return node_code(node)


def called_input_shapes(call: cst.Call, evaluate) -> list | None:
    """`model(keras.Input((8,)))` / `model([keras.Input((8, 8, 3)), keras.Input(shape=(4,))])` in the file:
    the inputs' shapes (None when the argument is not made of keras.Input calls with constant shapes)."""
    arg = call.args[0].value
    items = [el.value for el in arg.elements] if isinstance(arg, (cst.List, cst.Tuple)) else [arg]
    shapes = []
    for item in items:
        if not (isinstance(item, cst.Call) and isinstance(item.func, (cst.Name, cst.Attribute))
                and (item.func.value if isinstance(item.func, cst.Name) else item.func.attr.value) == "Input"):
            return None
        node = next((a.value for a in item.args if a.keyword is not None and a.keyword.value == "shape"),
                    item.args[0].value if item.args and item.args[0].keyword is None else None)
        value = evaluate(node) if node is not None else None
        if not isinstance(value, (tuple, list)) or not all(isinstance(d, int) or d is None for d in value):
            return None
        shapes.append(tuple(value))
    return shapes or None
