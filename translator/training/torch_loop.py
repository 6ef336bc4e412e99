"""The canonical PyTorch training loop -> Keras (the torch -> Keras direction).

    optimizer = optim.Adam(model.parameters(), lr=1e-3)     optimizer = TorchAdam(learning_rate=1e-3, ...)
    criterion = nn.CrossEntropyLoss()                        criterion = keras.losses.SparseCategorical...
                                                             model.compile(optimizer=optimizer, loss=criterion)
    for epoch in range(epochs):                              for epoch in range(epochs):
        model.train()                                            for xb, yb in loader:
        for xb, yb in loader:                                        loss = model.train_on_batch(xb, yb)
            optimizer.zero_grad()                                    total += loss.item()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()

`model.train()`/`model.eval()` go (Keras' train_on_batch trains, a plain call infers), `torch.save(
model.state_dict(), p)` / `model.load_state_dict(torch.load(p))` become save_weights/load_weights. A loop
that does not have this shape is left as it was, with an FWT104 finding on its optimizer.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all
from ..findings import Finding, TranslationError, flag
from ..names import canonical_torch, dotted, used_names
from ..positions import line_of
from .args import code
from .codegen import KERAS, Helpers, after_imports
from .torch_optimizers import is_loss, keras_loss, keras_optimizer, optimizer_params

_SUITES = (cst.For, cst.While, cst.If, cst.With, cst.Try)


class TorchTraining:
    def __init__(self, driver):
        self.driver = driver
        self._helpers: Helpers | None = None

    @property
    def helpers(self) -> Helpers:
        if self._helpers is None:
            self._helpers = Helpers(used_names(self.driver.module), KERAS)
        return self._helpers

    # ---- the file ---------------------------------------------------------------------------------------------
    def run(self, body: list) -> list:
        classes = {n for n in self.driver.classes if n not in self.driver.failed}
        module_models = {m.name: m.name for m in self.driver.result.models if m.name not in classes}
        for stmt in body:                         # `model = Net()` at module level: a global model
            assigned = _assign(stmt)
            if assigned is not None and self._model_class(assigned[1]) is not None:
                module_models[assigned[0]] = self._model_class(assigned[1])
        out = []
        block = []                                # consecutive module-level statements, one scope
        for stmt in body:
            if isinstance(stmt, cst.ClassDef) or isinstance(stmt, cst.FunctionDef) and \
                    stmt.name.value in self.driver.helpers:
                out += self.block(block, module_models) if block else []
                block = []
                out.append(stmt)
            elif isinstance(stmt, cst.FunctionDef):
                out += self.block(block, module_models) if block else []
                block = []
                known = dict(module_models, **dict.fromkeys(_mode_switched(stmt) if classes else ()))
                out.append(stmt.with_changes(body=stmt.body.with_changes(
                    body=self.block(list(stmt.body.body), known) or [cst.SimpleStatementLine([cst.Pass()])])))
            else:
                block.append(stmt)
        out += self.block(block, module_models) if block else []
        statements = self.helpers.statements() if self._helpers is not None else []
        if statements:
            self.driver.refs.keras("optimizers")          # `import keras`
            out = after_imports(out, statements)
        return out

    def finding(self, code_: str, message: str, line: int) -> None:
        self.driver.result.findings.append(Finding(code_, message, line, 0, self.driver.filename))

    # ---- one scope (a function body or the module's statements) -------------------------------------------------
    def block(self, stmts: list, known: dict) -> list:
        models = dict(known)                              # var -> class or model name (None: not known)
        for stmt in stmts:
            assigned = _assign(stmt)
            if assigned is not None:
                name, value = assigned
                cls = self._model_class(value)
                if cls is not None:
                    models[name] = cls
        optimizers, losses = {}, {}
        for stmt in stmts:
            assigned = _assign(stmt)
            if assigned is None or not isinstance(assigned[1], cst.Call):
                continue
            path = canonical_torch(self.driver.table.resolve(assigned[1].func))
            try:
                params = optimizer_params(assigned[1], path)
            except TranslationError:
                params = None
            if params is not None:
                optimizers[assigned[0]] = (stmt, path, params)
            elif is_loss(path):
                losses[assigned[0]] = (stmt, path)
        if not optimizers:
            return self.keras_api(stmts, models)
        try:
            return self.keras_api(self.training(stmts, optimizers, losses, models), models)
        except TranslationError as err:
            first = next(iter(optimizers.values()))[0]
            self.finding("FWT104", f"training loop not translated: {err.message}", err.line or line_of(first))
            return [flag(s, "FWT104", f"training loop not translated: {err.message}") if s is first else s
                    for s in stmts]

    def _model_class(self, value) -> str | None:
        """`Net(...)`, `Net(...).to(device)` with Net a class translated in this file."""
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
                value.func.attr.value in ("to", "cuda", "cpu", "float"):
            value = value.func.value
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
            name = value.func.value
            if name in self.driver.classes and name not in self.driver.failed:
                return name
        return None

    def training(self, stmts, optimizers, losses, models) -> list:
        replaced: dict[int, list] = {}
        item_vars: set[str] = set()
        for opt, (stmt, path, params) in optimizers.items():
            line = line_of(stmt)
            if not (isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute)
                    and params.func.attr.value == "parameters" and isinstance(params.func.value, cst.Name)):
                raise TranslationError("FWT202", f"the optimizer's parameters `{code(params)}` are not "
                                       "`model.parameters()`", line)
            model = params.func.value.value
            info = self._info(models.get(model) or "?", line)
            models.setdefault(model, None)               # model.train()/eval() go, save/load translate
            loops = [s for s in stmts if isinstance(s, (cst.For, cst.While)) and opt in used_names(s)]
            others = [s for s in stmts if s is not stmt and s not in loops and opt in used_names(s)]
            if not loops:
                raise TranslationError("FWT103", f"no loop calls {opt}.step()", line)
            if others:
                raise TranslationError("FWT202", f"{opt} is also used outside the training loop "
                                       f"(line {line_of(others[0])})", line)
            step = _Step(self, opt, model, info, losses, line)
            new_loops = [step.rewrite(loop) for loop in loops]
            if step.loss_var is not None:      # train_on_batch returns a float: `loss.item()` -> `loss`
                item_vars.add(step.loss_var)
            if step.loss is None:
                raise TranslationError("FWT103", f"no `loss = criterion(model(x), y)` step found for {opt}", line)
            helper, keras_path, kwargs = keras_optimizer(assigned_call(stmt), path, self.driver.scope, line)
            ctor = self.helpers.ref(helper) if helper else keras_path
            args = ", ".join(f"{k}={v}" for k, v in kwargs)
            replaced[id(stmt)] = [_replace_value(stmt, f"{ctor}({args})")]
            loss_stmt, loss_path = losses[step.loss]
            replaced[id(loss_stmt)] = [_replace_value(loss_stmt, keras_loss(
                assigned_call(loss_stmt), loss_path, self.driver.scope, line_of(loss_stmt)))]
            compile_stmt = cst.parse_statement(f"{model}.compile(optimizer={opt}, loss={step.loss})\n")
            for old, new in zip(loops, new_loops):
                replaced[id(old)] = ([compile_stmt] if old is loops[0] else []) + [new]
        out = []
        for s in stmts:
            out += replaced.get(id(s), [s])
        for name in item_vars:              # also after the loop: `print(loss.item())`
            out = [s.visit(_DropItem(name)) if name in used_names(s) else s for s in out]
        return out

    def _info(self, cls: str | None, line: int):
        """The ModelInfo of a model variable's class; None when it is not known (then every translated
        model must keep the torch layout at its interface)."""
        models = self.driver.result.models
        if cls not in (None, "?"):
            return next((m for m in models if m.name == cls or m.torch_class == cls), None)
        if any(t.permute is not None for m in models for t in m.inputs + m.outputs):
            raise TranslationError("FWT202", "the model of this loop is not a class of this file, and the "
                                   "file's models change layout at their interface: permute the data", line)
        return None

    # ---- save/load, train()/eval() on models -------------------------------------------------------------------
    def keras_api(self, stmts: list, models: dict) -> list:
        out = []
        for stmt in stmts:
            if isinstance(stmt, cst.With) and self._no_grad(stmt) and models and \
                    isinstance(stmt.body, cst.IndentedBlock):
                # `with torch.no_grad():` around inference: Keras calls infer with training=False
                inner = [s.visit(_Infer(set(models))) for s in self.keras_api(list(stmt.body.body), models)]
                if inner:
                    inner[0] = inner[0].with_changes(
                        leading_lines=list(stmt.leading_lines) + list(inner[0].leading_lines))
                out += inner
                continue
            if isinstance(stmt, _SUITES):
                out.append(_map_suites(stmt, lambda body: self.keras_api(body, models) or [
                    cst.SimpleStatementLine([cst.Pass()])]))
                continue
            new = self.keras_statement(stmt, models)
            if new is None:                               # removed: its comments go to the next statement
                if stmt.leading_lines and any(line.comment for line in stmt.leading_lines):
                    out.append(cst.SimpleStatementLine([cst.Pass()], leading_lines=stmt.leading_lines))
                continue
            out.append(new)
        return out

    def _no_grad(self, stmt: cst.With) -> bool:
        return all(isinstance(item.item, cst.Call) and not item.item.args and item.asname is None
                   and canonical_torch(self.driver.table.resolve(item.item.func)) in (
                       "torch.no_grad", "torch.inference_mode") for item in stmt.items)

    def keras_statement(self, stmt, models: dict):
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and
                isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Call)):
            return stmt
        call = stmt.body[0].value
        func = call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in models:
            model, method = func.value.value, func.attr.value
            if method in ("train", "eval") and not call.args:
                return None                               # Keras: train_on_batch trains, a call infers
            if method == "load_state_dict" and len(call.args) == 1 and isinstance(call.args[0].value, cst.Call) \
                    and canonical_torch(self.driver.table.resolve(call.args[0].value.func)) == "torch.load":
                path = self._weights_path(call.args[0].value.args[0].value, line_of(stmt))
                return _replace_expr(stmt, f"{model}.load_weights({path})")
            return stmt
        if canonical_torch(self.driver.table.resolve(func)) == "torch.save" and len(call.args) == 2:
            first = call.args[0].value
            if isinstance(first, cst.Call) and isinstance(first.func, cst.Attribute) and \
                    first.func.attr.value == "state_dict" and dotted(first.func.value) in models:
                path = self._weights_path(call.args[1].value, line_of(stmt))
                return _replace_expr(stmt, f"{dotted(first.func.value)}.save_weights({path})")
        return stmt

    def _weights_path(self, node, line: int) -> str:
        """Keras weight files must end in .weights.h5: a literal path is renamed (and said so)."""
        if isinstance(node, cst.SimpleString) and not node.evaluated_value.endswith(".weights.h5"):
            old = node.evaluated_value
            stem = old.rsplit(".", 1)[0] if "." in old.rsplit("/", 1)[-1] else old
            new = f"{stem}.weights.h5"
            self.finding("FWT402", f"weights file {old!r} renamed {new!r}: Keras weight files end in .weights.h5",
                         line)
            return f"{node.prefix}{node.quote}{new}{node.quote}"
        if not isinstance(node, cst.SimpleString):
            self.finding("FWT402", f"Keras needs the weights path `{code(node)}` to end in .weights.h5", line)
        return code(node)


class _Step:
    """Finds and rewrites the `zero_grad / loss = criterion(model(x), y) / backward / step` suite."""

    def __init__(self, owner: TorchTraining, opt: str, model: str, info, losses: dict, line: int):
        self.owner, self.opt, self.model, self.info, self.losses, self.line = owner, opt, model, info, losses, line
        self.loss: str | None = None
        self.loss_var: str | None = None

    def rewrite(self, stmt):
        if isinstance(stmt, _SUITES):
            return _map_suites(stmt, self.suite)
        return stmt

    def suite(self, body: list) -> list:
        calls = {i: _method_call(s) for i, s in enumerate(body)}
        steps = [i for i, c in calls.items() if c == (self.opt, "step")]
        if not steps:
            return [self.rewrite(s) for s in body]
        if len(steps) != 1:
            raise TranslationError("FWT202", f"{self.opt}.step() called more than once in a loop", self.line)
        zero = [i for i, c in calls.items() if c in ((self.opt, "zero_grad"), (self.model, "zero_grad"))]
        backward = [i for i, c in calls.items() if c is not None and c[1] == "backward"]
        if len(zero) != 1 or len(backward) != 1:
            raise TranslationError("FWT202", "the loop needs exactly one zero_grad() and one backward() next to "
                                   f"{self.opt}.step()", self.line)
        loss_var = calls[backward[0]][0]
        loss_at = [i for i, s in enumerate(body) if (_assign(s) or ("", None))[0] == loss_var]
        if len(loss_at) != 1 or not loss_at[0] < backward[0] < steps[0]:
            raise TranslationError("FWT202", f"`{loss_var} = criterion(...)` must come before {loss_var}.backward() "
                                   f"and {self.opt}.step()", self.line)
        value = _assign(body[loss_at[0]])[1]
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in self.losses
                and len(value.args) == 2 and not any(a.keyword or a.star for a in value.args)):
            raise TranslationError("FWT202", f"`{code(value)}` is not `criterion(output, target)` with a "
                                   "torch loss module", self.line)
        criterion = value.func.value
        self.loss_var = loss_var
        if self.loss not in (None, criterion):
            raise TranslationError("FWT202", "two criteria for one optimizer", self.line)
        self.loss = criterion
        output, target = value.args[0].value, value.args[1].value
        drop = {zero[0], backward[0], steps[0]}
        forward = output
        if isinstance(output, cst.Name):                 # out = model(x); loss = criterion(out, y)
            at = [i for i, s in enumerate(body) if (_assign(s) or ("", None))[0] == output.value]
            others = [s for i, s in enumerate(body) if i not in at + loss_at and output.value in used_names(s)]
            if len(at) != 1 or others:
                raise TranslationError("FWT202", f"the model output `{output.value}` is used beyond the loss "
                                       "(train_on_batch returns the loss only)", self.line)
            forward = _assign(body[at[0]])[1]
            drop.add(at[0])
        if not (isinstance(forward, cst.Call) and isinstance(forward.func, cst.Name)
                and forward.func.value == self.model and len(forward.args) == 1 and not forward.args[0].keyword):
            raise TranslationError("FWT202", f"the loss input `{code(forward)}` is not `{self.model}(x)`", self.line)
        if self.info is not None and (len(self.info.inputs) != 1 or self.info.outputs[0].permute is not None):
            raise TranslationError("FWT202", "a model with several inputs or a channels-first output", self.line)
        x = code(forward.args[0].value)
        permute = self.info.inputs[0].permute if self.info is not None else None
        if permute is not None:                          # torch data (channels first) into the Keras model
            inverse = tuple(sorted(range(len(permute)), key=lambda i: permute[i]))
            x = f"keras.ops.transpose({x}, {inverse})"
        out = []
        for i, stmt in enumerate(body):
            if i in drop:
                continue
            if i == loss_at[0]:
                stmt = _replace_value(stmt, f"{self.model}.train_on_batch({x}, {code(target)})")
            elif _method_call(stmt) in ((self.model, "train"),):
                continue
            out.append(stmt)
        return out


class _Infer(cst.CSTTransformer):
    """`model(x)` -> `model(x, training=False)` for the model variables given."""

    def __init__(self, models: set[str]):
        self.models = models

    def leave_Call(self, original, updated):
        if isinstance(updated.func, cst.Name) and updated.func.value in self.models and \
                not any(a.keyword is not None and a.keyword.value == "training" for a in updated.args):
            args = list(updated.args)
            if args:
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            return updated.with_changes(args=args + [cst.Arg(cst.Name("False"), keyword=cst.Name("training"),
                                                             equal=cst.AssignEqual(cst.SimpleWhitespace(""),
                                                                                   cst.SimpleWhitespace("")))])
        return updated


class _DropItem(cst.CSTTransformer):
    """`loss.item()` -> `loss` (Keras' train_on_batch returns the loss as a Python float)."""

    def __init__(self, name: str):
        self.name = name

    def leave_Call(self, original, updated):
        func = updated.func
        if isinstance(func, cst.Attribute) and func.attr.value == "item" and not updated.args and \
                isinstance(func.value, cst.Name) and func.value.value == self.name:
            return func.value
        return updated


def _mode_switched(func: cst.FunctionDef) -> set[str]:
    """Parameters of `func` that it calls `.train()` or `.eval()` on: models (the file has model classes)."""
    params = {p.name.value for p in list(func.params.params) + list(func.params.kwonly_params)}
    found = set()
    for node in find_all(func, cst.SimpleStatementLine):
        call = _method_call(node)
        if call is not None and call[0] in params and call[1] in ("train", "eval"):
            found.add(call[0])
    return found


def _assign(stmt):
    """(name, value) of `name = value`, else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        small = stmt.body[0]
        if len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
            return small.targets[0].target.value, small.value
    return None


def assigned_call(stmt) -> cst.Call:
    return _assign(stmt)[1]


def _method_call(stmt):
    """(object, method) of a statement `object.method(...)`."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr):
        call = stmt.body[0].value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and \
                isinstance(call.func.value, cst.Name):
            return call.func.value.value, call.func.attr.value
    return None


def _replace_value(stmt, text: str):
    small = stmt.body[0]
    return stmt.with_changes(body=[small.with_changes(value=cst.parse_expression(text))])


def _replace_expr(stmt, text: str):
    return stmt.with_changes(body=[cst.Expr(cst.parse_expression(text))])


def _map_suites(stmt, fn):
    """`stmt` with fn applied to the statement list of each of its suites."""
    def suite(s):
        return s.with_changes(body=fn(list(s.body))) if isinstance(s, cst.IndentedBlock) else s
    changes = {"body": suite(stmt.body)}
    orelse = getattr(stmt, "orelse", None)
    if isinstance(orelse, cst.If):
        changes["orelse"] = _map_suites(orelse, fn)
    elif orelse is not None:
        changes["orelse"] = orelse.with_changes(body=suite(orelse.body))
    if isinstance(stmt, cst.Try):
        changes["handlers"] = [h.with_changes(body=suite(h.body)) for h in stmt.handlers]
        if stmt.finalbody is not None:
            changes["finalbody"] = stmt.finalbody.with_changes(body=suite(stmt.finalbody.body))
    return stmt.with_changes(**changes)
