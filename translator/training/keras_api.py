"""Keras model API on a translated model -> explicit PyTorch code (the Keras -> torch direction).

    model.compile(optimizer=..., loss=..., metrics=[...])  -> optimizer = KerasAdam(model.parameters(), ...)
                                                              (scheduler = LambdaLR(...)), loss_fn = ...,
                                                              metrics = {"accuracy": accuracy}
    h = model.fit(x, y, batch_size=32, epochs=5, ...)      -> h = fit(model, optimizer, loss_fn, x, y, ...)
    model.evaluate(x, y) / model.predict(x)                -> evaluate(...) / predict(...)
    model.save_weights(p) / model.load_weights(p)          -> torch.save(model.state_dict(), p) /
                                                              model.load_state_dict(torch.load(p))

fit/evaluate/predict and the Keras-exact optimizers, losses and callbacks are generated helpers
(torch_helpers.py), written once into the translated file. Whatever is not translated raises
TranslationError: the caller keeps the statement as a comment with the finding.
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..cst_walk import child_nodes, find_all
from ..frontends.keras_models import MODEL_API
from ..findings import Finding, TranslationError
from ..names import used_names
from ..positions import line_of
from .args import bind, code, constant
from .codegen import Helpers, after_imports
from .losses import loss_classes, torch_loss, torch_metrics
from .optimizers import optimizer_classes, torch_optimizer

_COMPILE = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
            "steps_per_execution", "jit_compile", "auto_scale_loss")
_COMPILE_NEUTRAL = {"loss_weights": None, "weighted_metrics": None, "steps_per_execution": 1}
_FIT = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
        "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
        "validation_batch_size", "validation_freq", "max_queue_size", "workers", "use_multiprocessing")
_FIT_NEUTRAL = {"class_weight": None, "sample_weight": None, "initial_epoch": 0, "steps_per_epoch": None,
                "validation_steps": None, "validation_batch_size": None, "validation_freq": 1,
                "max_queue_size": 10, "workers": 1, "use_multiprocessing": False}
_EVALUATE = ("x", "y", "batch_size", "verbose", "sample_weight", "steps", "callbacks", "max_queue_size",
             "workers", "use_multiprocessing", "return_dict")
_PREDICT = ("x", "batch_size", "verbose", "steps", "callbacks", "max_queue_size", "workers",
            "use_multiprocessing")
_OTHER_NEUTRAL = {"sample_weight": None, "steps": None, "callbacks": None, "max_queue_size": 10, "workers": 1,
                  "use_multiprocessing": False}
_CALLBACKS = {
    "keras.callbacks.EarlyStopping": ("KerasEarlyStopping", (
        "monitor", "min_delta", "patience", "verbose", "mode", "baseline", "restore_best_weights",
        "start_from_epoch")),
    "keras.callbacks.ModelCheckpoint": ("KerasModelCheckpoint", (
        "filepath", "monitor", "verbose", "save_best_only", "save_weights_only", "mode", "save_freq")),
}


_FOLDABLE = set(optimizer_classes()) | set(loss_classes())


@dataclass
class Compiled:
    optimizer: str
    loss: str
    metrics: str | None
    scheduler: str | None
    class_index: bool


class KerasTraining:
    """Per translated file: the compile state of each model variable (per function), the generated
    helpers the file needs."""

    def __init__(self, driver):
        self.driver = driver
        self._names: set[str] | None = None        # computed when first needed (a walk of the file)
        self._helpers: Helpers | None = None
        self.compiled: dict[tuple, Compiled] = {}
        self.models: dict[tuple, object] = {}     # (scope, var) -> ModelInfo of `var = build_model()`
        self.objects: dict[tuple, tuple] = {}     # (scope, var) -> (statement, call) of `opt = Adam(...)`
        self.drop: set[int] = set()               # assignments folded into the compile that uses them
        self._drops: list = []

    @property
    def names(self) -> set[str]:
        if self._names is None:
            self._names = used_names(self.driver.module) | set(self.driver.taken)
        return self._names

    @property
    def helpers(self) -> Helpers:
        if self._helpers is None:
            self._helpers = Helpers(self.names)
        return self._helpers

    # ---- what the statements tell -------------------------------------------------------------------------
    def observe(self, stmt, func) -> None:
        """`model = build_model(...)` / `model = Net()` with a model translated in this file: `model` is a
        translated model in this scope."""
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign) and isinstance(stmt.body[0].value, cst.Call)):
            return
        small = stmt.body[0]
        callee = small.value.func
        if len(small.targets) != 1 or not isinstance(small.targets[0].target, cst.Name):
            return
        if self.driver.table.resolve(callee) in _FOLDABLE:       # opt = keras.optimizers.Adam(...)
            self.objects[(_key(func), small.targets[0].target.value)] = (stmt, small.value)
            return
        if not isinstance(callee, cst.Name):
            return
        info = next((m for m in self.driver.result.models if callee.value in (m.name, m.torch_class)), None)
        if info is not None:
            var = small.targets[0].target.value
            self.models[(_key(func), var)] = info
            self.driver.model_vars.add(var)

    def info(self, var: str, func):
        info = self.models.get((_key(func), var))
        if info is not None:
            return info
        models = self.driver.result.models
        if self.foreign(var, func):
            return None
        info = next((m for m in models if m.name == var), None)           # module-level `model = ...`
        if info is None and func is not None:                             # inside the builder itself
            info = next((m for m in models if m.name == func.name.value), None)
        return info

    def foreign(self, var: str, func) -> bool:
        """`var` is assigned in this function from something that is not a model of this file (another
        library's `model = LinearRegression()`): its calls are none of our business."""
        if func is None or (_key(func), var) in self.models:
            return False
        models = self.driver.result.models
        lines = _assign_lines(func, var)
        return bool(lines) and func.name.value not in {m.name for m in models} \
            and not any(m.line in lines for m in models)          # not a model site of this function

    # ---- one statement `[target =] model.method(...)` ---------------------------------------------------------
    def translate(self, stmt, small, var: str, method: str, func) -> list:
        line = line_of(stmt)
        if self.foreign(var, func):
            return [stmt]
        self._drops = []
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            raise TranslationError("FWT104", f"Keras model API '{method}' not translated (training code)", line)
        try:
            texts = handler(small.value, var, func, line)
        except TranslationError as err:
            raise TranslationError(err.code, f"Keras model API '{method}' not translated: {err.message}",
                                   line) from None
        if isinstance(small, cst.Assign):
            targets = " = ".join(code(t.target) for t in small.targets)
            texts[-1] = f"{targets} = {texts[-1]}"
        elif isinstance(small, cst.Return):
            texts[-1] = f"return {texts[-1]}"
        out = [cst.parse_statement(t + "\n") for t in texts]
        out[0] = out[0].with_changes(leading_lines=stmt.leading_lines)
        self.drop |= {id(s) for s in self._drops}
        return out

    def nested(self, stmt, func):
        """A statement that uses `model.predict(...)` / `model.evaluate(...)` inside an expression
        (`print(model.evaluate(x, y))`): the calls translated in place. Other model API calls inside an
        expression raise (kept as a comment by the caller)."""
        models = self.driver.model_vars
        if not models or not isinstance(stmt, cst.SimpleStatementLine):
            return stmt
        calls = [n for n in find_all(stmt, cst.Call) if isinstance(n.func, cst.Attribute)
                 and isinstance(n.func.value, cst.Name) and n.func.value.value in models
                 and n.func.attr.value in MODEL_API]
        if not calls:
            return stmt
        line = line_of(stmt)
        replacements = {}
        for call in calls:
            var, method = call.func.value.value, call.func.attr.value
            if self.foreign(var, func):
                continue
            if method not in ("predict", "evaluate"):
                raise TranslationError("FWT104", f"Keras model API '{method}' inside an expression not "
                                       "translated", line)
            try:
                replacements[id(call)] = cst.parse_expression(getattr(self, f"_{method}")(call, var, func, line)[0])
            except TranslationError as err:
                raise TranslationError(err.code, f"Keras model API '{method}' not translated: {err.message}",
                                       line) from None
        return stmt.visit(_Replace(replacements))

    def _object(self, node, func):
        """A Keras optimizer, loss or schedule passed through a variable: its constructor call, when the
        variable is assigned once in this scope and used nowhere else (the assignment then goes)."""
        if not isinstance(node, cst.Name) or (_key(func), node.value) not in self.objects:
            return node
        stmt, call = self.objects[(_key(func), node.value)]
        if _count_name(func if func is not None else self.driver.module, node.value) != 2:
            return node
        self._drops.append(stmt)
        return call

    def _compile(self, call, var, func, line):
        args = bind(call, _COMPILE, "compile", line)
        for name, neutral in _COMPILE_NEUTRAL.items():
            if name in args and constant(args, name, neutral, self.driver.scope, "compile", line) != neutral:
                raise TranslationError("FWT201", f"{name}={code(args[name])} has no translation", line)
        if "loss" not in args:
            raise TranslationError("FWT201", "compile() without a loss", line)
        info = self._model(var, func, line)
        table, scope = self.driver.table, self.driver.scope
        opt_node, loss_node = (self._object(args.get(k), func) for k in ("optimizer", "loss"))
        optimizer = torch_optimizer(opt_node if opt_node is not None else cst.SimpleString('"rmsprop"'), table,
                                    scope, line, lambda node: self._object(node, func))
        loss = torch_loss(loss_node, table, scope, line, self._ref("torch.nn.Module").rsplit(".", 1)[0])
        if loss.class_axis:
            shape = info.outputs[0].keras_shape
            if shape is None or len(shape) != 2:
                raise TranslationError("FWT202", f"{code(args['loss'])} on an output of rank "
                                       f"{'unknown' if shape is None else len(shape)}: translated for "
                                       "(batch, classes) outputs only", line)
        elif info.outputs[0].permute is not None:
            raise TranslationError("FWT202", "the model's output is channels-first in torch: its targets "
                                   "would need the same permutation", line)
        builder = func is not None and info.name == func.name.value and _returns(func, var)
        if builder:         # compiled inside the builder that returns it: the state goes with the model
            names = {k: f"{var}.{k}" for k in ("optimizer", "scheduler", "loss_fn", "metrics")}
        else:
            names = self._fresh(var, ["optimizer", "scheduler", "loss_fn", "metrics"])
            if opt_node is not args.get("optimizer"):           # folded `opt = Adam(...)`: the name stays
                names["optimizer"] = args["optimizer"].value
            if loss_node is not args.get("loss"):
                names["loss_fn"] = args["loss"].value
        cls = self.helpers.ref(optimizer.helper) if optimizer.helper else self._ref(optimizer.torch_class)
        texts = [f"{names['optimizer']} = {optimizer.ctor(cls, f'{var}.parameters()')}"]
        scheduler = None
        if optimizer.schedule is not None:
            factor = optimizer.schedule
            for helper in optimizer.schedule_helpers:
                factor = factor.replace(f"{helper}(", f"{self.helpers.ref(helper)}(")
            scheduler = names["scheduler"]
            texts.append(f"{scheduler} = {self._ref('torch.optim.lr_scheduler.LambdaLR')}"
                         f"({names['optimizer']}, {factor})")
        texts.append(f"{names['loss_fn']} = {self.helpers.ref(loss.helper) if loss.helper else loss.expr}")
        metrics = None
        if "metrics" in args and not (isinstance(args["metrics"], cst.Name) and args["metrics"].value == "None"):
            pairs = torch_metrics(args["metrics"], line)
            if pairs:
                metrics = names["metrics"]
                items = ", ".join(f'"{name}": {self.helpers.ref(helper)}' for name, helper in pairs)
                texts.append(f"{metrics} = {{{items}}}")
        self.compiled[(_key(func), var)] = Compiled(names["optimizer"], names["loss_fn"], metrics, scheduler,
                                                   loss.class_index)
        if builder:
            self.compiled[("builder", info.name)] = self.compiled[(_key(func), var)]
        return texts

    def _fit(self, call, var, func, line):
        args = bind(call, _FIT, "fit", line)
        self._neutral(args, _FIT_NEUTRAL, line)
        compiled = self._compiled(var, func, line)
        info = self._model(var, func, line)
        if "y" not in args or "x" not in args:
            raise TranslationError("FWT202", "fit() on a dataset or generator (no y): convert the input "
                                   "pipeline to tensors or a DataLoader", line)
        data = args.get("validation_data")
        if isinstance(data, (cst.Tuple, cst.List)) and len(data.elements) != 2:
            raise TranslationError("FWT201", "validation_data with sample weights has no translation", line)
        if "shuffle" in args and isinstance(args["shuffle"], cst.SimpleString):
            raise TranslationError("FWT202", f"shuffle={code(args['shuffle'])} has no translation", line)
        kwargs = [(k, code(args[k])) for k in ("batch_size", "epochs", "shuffle", "validation_split",
                                               "validation_data") if k in args and code(args[k]) != "None"]
        if compiled.metrics:
            kwargs.append(("metrics", compiled.metrics))
        if compiled.scheduler:
            kwargs.append(("scheduler", compiled.scheduler))
        if "callbacks" in args and code(args["callbacks"]) != "None":
            kwargs.append(("callbacks", self._callbacks(args["callbacks"], line)))
        kwargs += self._common(compiled, info)
        if "verbose" in args:
            kwargs.append(("verbose", code(args["verbose"])))
        head = [var, compiled.optimizer, compiled.loss, code(args["x"]), code(args["y"])]
        return [self._call("fit", head, kwargs)]

    def _evaluate(self, call, var, func, line):
        args = bind(call, _EVALUATE, "evaluate", line)
        self._neutral(args, _OTHER_NEUTRAL, line)
        compiled = self._compiled(var, func, line)
        info = self._model(var, func, line)
        if "y" not in args or "x" not in args:
            raise TranslationError("FWT202", "evaluate() on a dataset or generator (no y)", line)
        kwargs = [(k, code(args[k])) for k in ("batch_size",) if k in args and code(args[k]) != "None"]
        if compiled.metrics:
            kwargs.append(("metrics", compiled.metrics))
        kwargs += self._common(compiled, info)
        kwargs += [(k, code(args[k])) for k in ("return_dict", "verbose") if k in args]
        return [self._call("evaluate", [var, compiled.loss, code(args["x"]), code(args["y"])], kwargs)]

    def _predict(self, call, var, func, line):
        args = bind(call, _PREDICT, "predict", line)
        self._neutral(args, _OTHER_NEUTRAL, line)
        info = self._model(var, func, line)
        if "x" not in args:
            raise TranslationError("FWT201", "predict() without x", line)
        if info.outputs[0].permute is not None:
            raise TranslationError("FWT202", "the model's output is channels-first in torch", line)
        kwargs = [(k, code(args[k])) for k in ("batch_size",) if k in args and code(args[k]) != "None"]
        kwargs += self._common(None, info)
        kwargs += [("verbose", code(args["verbose"]))] if "verbose" in args else []
        return [self._call("predict", [var, code(args["x"])], kwargs)]

    def _save_weights(self, call, var, func, line):
        args = bind(call, ("filepath", "overwrite", "save_format", "options", "max_shard_size"), "save_weights",
                    line)
        if "filepath" not in args:
            raise TranslationError("FWT201", "no file path", line)
        return [f"{self._ref('torch.save')}({var}.state_dict(), {code(args['filepath'])})"]

    def _save(self, call, var, func, line):
        texts = self._save_weights(call, var, func, line)
        self.driver.result.findings.append(Finding(
            "FWT402", f"model.save({code(call.args[0].value)}) saves the state_dict only in torch (Keras also saves "
            "the architecture and the optimizer state)", line, 0, self.driver.filename))
        return texts

    def _load_weights(self, call, var, func, line):
        args = bind(call, ("filepath", "skip_mismatch", "by_name", "options"), "load_weights", line)
        for name in ("skip_mismatch", "by_name"):
            if constant(args, name, False, self.driver.scope, "load_weights", line):
                raise TranslationError("FWT201", f"{name}=True has no translation", line)
        if "filepath" not in args:
            raise TranslationError("FWT201", "no file path", line)
        return [f"{var}.load_state_dict({self._ref('torch.load')}({code(args['filepath'])}))"]

    # ---- pieces -----------------------------------------------------------------------------------------------
    def _model(self, var, func, line):
        info = self.info(var, func)
        if info is None:
            raise TranslationError("FWT103", f"'{var}' is not a model translated in this file", line)
        if len(info.inputs) != 1 or len(info.outputs) != 1:
            raise TranslationError("FWT202", "models with several inputs or outputs are not translated", line)
        return info

    def _compiled(self, var, func, line) -> Compiled:
        compiled = self.compiled.get((_key(func), var))
        info = self.info(var, func)
        built = self.compiled.get(("builder", info.name)) if compiled is None and info is not None else None
        if built is not None:         # `model = build_model()` with the compile inside build_model
            def attr(name):
                return None if name is None else f"{var}.{name.split('.', 1)[1]}"
            compiled = Compiled(attr(built.optimizer), attr(built.loss), attr(built.metrics),
                                attr(built.scheduler), built.class_index)
        if compiled is None:
            raise TranslationError("FWT103", f"no translated {var}.compile(...) before it in the same function",
                                   line)
        return compiled

    def _common(self, compiled, info) -> list[tuple[str, str]]:
        out = []
        if compiled is not None and compiled.class_index:
            out.append(("target_dtype", self._ref("torch.long")))
        permute = info.inputs[0].permute
        if permute is not None:
            out.append(("input_permute", repr(tuple(permute))))
        return out

    def _neutral(self, args, neutral: dict, line):
        for name, value in neutral.items():
            if name in args and constant(args, name, value, self.driver.scope, name, line) != value:
                raise TranslationError("FWT201", f"{name}={code(args[name])} has no translation", line)

    def _callbacks(self, node, line) -> str:
        if not isinstance(node, (cst.List, cst.Tuple)):
            raise TranslationError("FWT202", "callbacks must be written as a list to be translated", line)
        out = []
        for element in node.elements:
            call = element.value
            path = self.driver.table.resolve(call.func) if isinstance(call, cst.Call) else None
            if path not in _CALLBACKS:
                raise TranslationError("FWT202", f"callback `{code(call)}` has no translation (translated: "
                                       "EarlyStopping, ModelCheckpoint)", line)
            helper, params = _CALLBACKS[path]
            args = bind(call, params, path.rsplit(".", 1)[-1], line)
            if "save_freq" in args:
                if constant(args, "save_freq", "epoch", self.driver.scope, "ModelCheckpoint", line) != "epoch":
                    raise TranslationError("FWT201", "ModelCheckpoint: save_freq other than 'epoch'", line)
                args.pop("save_freq")
            if helper == "KerasModelCheckpoint" and not constant(args, "save_weights_only", False,
                                                                  self.driver.scope, "ModelCheckpoint", line):
                self.driver.result.findings.append(Finding(
                    "FWT402", "ModelCheckpoint saves the state_dict only in torch (Keras saves the whole model)",
                    line, 0, self.driver.filename))
            text = ", ".join(code(a.value) if a.keyword is None else f"{a.keyword.value}={code(a.value)}"
                             for a in call.args if a.keyword is None or a.keyword.value in args)
            out.append(f"{self.helpers.ref(helper)}({text})")
        return "[" + ", ".join(out) + "]"

    def _call(self, helper: str, head: list[str], kwargs: list[tuple[str, str]]) -> str:
        return f"{self.helpers.ref(helper)}({', '.join(head + [f'{k}={v}' for k, v in kwargs])})"

    def _ref(self, path: str) -> str:
        return code(self.driver.imports.ref(path))

    def _fresh(self, var: str, bases: list[str]) -> dict[str, str]:
        out = {}
        for base in bases:
            name = base if var == "model" else f"{var}_{base}"
            candidate, i = name, 1
            while candidate in self.names:
                i += 1
                candidate = f"{name}_{i}"
            self.names.add(candidate)
            out[base] = candidate
        return out

    # ---- the file ---------------------------------------------------------------------------------------------
    def finish(self, body: list) -> list:
        """The generated helpers, after the file's leading imports; the folded assignments removed."""
        if self.drop:
            body = list(cst.Module(body=body).visit(_Drop(self.drop)).body)
        if self._helpers is None:
            return body
        statements = self.helpers.statements()
        if not statements:
            return body
        for path in self.helpers.imports():
            self.driver.imports.ref(path)
        return after_imports(body, statements)


class _Replace(cst.CSTTransformer):
    def __init__(self, by_id: dict):
        self.by_id = by_id

    def leave_Call(self, original, updated):
        return self.by_id.get(id(original), updated)


class _Drop(cst.CSTTransformer):
    """Removes the statements whose ids are given; their comments go to the next statement."""

    def __init__(self, ids: set[int]):
        self.ids = ids

    def body(self, original: list, updated: list) -> list:
        out, carried = [], []
        for old, new in zip(original, updated):
            if id(old) in self.ids:
                carried += [line for line in old.leading_lines if line.comment]
                continue
            if carried:
                new = new.with_changes(leading_lines=list(new.leading_lines) + carried)
                carried = []
            out.append(new)
        return out or [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)]

    def leave_IndentedBlock(self, original, updated):
        return updated.with_changes(body=self.body(list(original.body), list(updated.body)))

    def leave_Module(self, original, updated):
        return updated.with_changes(body=self.body(list(original.body), list(updated.body)))


def _assign_lines(func: cst.FunctionDef, name: str) -> set[int]:
    """The lines of the statements of `func` that assign `name`."""
    return {line_of(stmt) for stmt in find_all(func, cst.SimpleStatementLine)
            for small in stmt.body if isinstance(small, cst.Assign)
            and any(isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets)}


def _returns(func: cst.FunctionDef, name: str) -> bool:
    """Does the function end with `return <name>`?"""
    last = func.body.body[-1] if func.body.body else None
    return (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return)
            and isinstance(last.body[0].value, cst.Name) and last.body[0].value.value == name)


def _count_name(node, name: str) -> int:
    """How often `name` is read or bound in `node` (not as an attribute or keyword name)."""
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            count += n.value == name
        elif isinstance(n, cst.Attribute):
            stack.append(n.value)
        elif isinstance(n, cst.Arg):
            stack.append(n.value)
        else:
            stack.extend(child_nodes(n))
    return count


def _key(func):
    return None if func is None else id(func)
