"""Every rule agrees with the live APIs it names (as tf_upgrade_v2's tests do).

Layer rules: each Keras name resolves to a live class (Keras 3, `keras.layers.X`); every Keras param
exists in its `__init__` signature with the same default; Keras 2 aliases (`keras2:`) exist in the
tf_keras signature; the first `positional_params` are the leading parameters in order. Torch params
exist in the torch class with the same `torch_default`; `torch_positional` are its leading params.
Activation rules: the Keras activation and the torch function exist; rule args are accepted.
"""
from __future__ import annotations

import importlib
import inspect

import pytest

from translator.rules import load_rules

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

RULES = load_rules()
LAYER_RULES = RULES.all_layer_rules()
ACTIVATION_RULES = [r for r in RULES.by_id.values() if type(r).__name__ == "ActivationRule"]
OP_RULES = [r for r in RULES.by_id.values() if type(r).__name__ == "OpRule"]

_EMPTY = inspect.Parameter.empty


def resolve(path: str):
    """Import a dotted path: the longest importable module prefix, then attributes; or a builtin."""
    if "." not in path:
        import builtins
        return getattr(builtins, path)
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def keras_class(path: str):
    """keras.layers.X in Keras 3 (legacy module paths fall back to keras.layers.<last part>; layers
    that only Keras 2 has, such as ThresholdedReLU, to tf_keras)."""
    try:
        return resolve(path)
    except (ImportError, AttributeError):
        name = path.rsplit(".", 1)[-1]
        if hasattr(keras.layers, name):
            return getattr(keras.layers, name)
        return tf_keras_class(path)


def tf_keras_class(path: str):
    tf_keras = pytest.importorskip("tf_keras")
    return getattr(tf_keras.layers, path.rsplit(".", 1)[-1])


def _named(params):
    return [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


# Leading parameters a subclass fills in itself before delegating `*args, **kwargs` to its base
# (torch.nn.LSTM(*args, **kwargs) calls RNNBase.__init__("LSTM", *args, **kwargs)).
FILLED_BY_SUBCLASS = {"RNNBase": ["mode"]}


def signature_params(obj) -> list[inspect.Parameter]:
    """Named parameters of a class's __init__ (or a function), `self` left out.

    A class whose __init__ only takes *args/**kwargs documents the signature of the first base
    class in its MRO that names them.
    """
    if not inspect.isclass(obj):
        return _named(inspect.signature(obj).parameters.values())
    for klass in obj.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]
        named = _named(params)
        if named or len(params) == 0:
            skip = FILLED_BY_SUBCLASS.get(klass.__name__, []) if klass is not obj else []
            return [p for p in named if p.name not in skip]
    return []


def loosely_equal(rule_value, live_value) -> bool:
    """(2, 2) == [2, 2]; an int equals a tuple of that int (Keras expands 1 to (1, 1))."""
    if isinstance(rule_value, (list, tuple)) and isinstance(live_value, (list, tuple)):
        return len(rule_value) == len(live_value) and all(
            loosely_equal(a, b) for a, b in zip(rule_value, live_value))
    if isinstance(live_value, (list, tuple)) and not isinstance(rule_value, (list, tuple)):
        return len(live_value) > 0 and all(loosely_equal(rule_value, v) for v in live_value)
    if isinstance(rule_value, bool) or isinstance(live_value, bool):
        return rule_value is live_value or (rule_value == live_value and type(rule_value) is type(live_value))
    return rule_value == live_value


@pytest.mark.parametrize("rule", LAYER_RULES, ids=[r.id for r in LAYER_RULES])
def test_layer_rule_matches_keras_signature(rule):
    for name in rule.keras:
        cls = keras_class(name)
        live = signature_params(cls)
        by_name = {p.name: p for p in live}
        for param in rule.keras_params:
            assert param.keras in by_name, f"{rule.id}: {name} has no parameter '{param.keras}'"
            default = by_name[param.keras].default
            if default is not _EMPTY:
                assert loosely_equal(param.default, default), (
                    f"{rule.id}: {name}({param.keras}=...) default is {default!r} in Keras, "
                    f"{param.default!r} in the rule")
        leading = [p.name for p in live[:len(rule.positional_params)]]
        assert leading == [p.keras for p in rule.positional_params], (
            f"{rule.id}: {name} leading parameters are {leading}, the rule's positional ones "
            f"{[p.keras for p in rule.positional_params]}")
        aliases = [(param, alias) for param in rule.params for alias in param.keras2]
        if aliases:
            legacy = {p.name: p for p in signature_params(tf_keras_class(name))}
            for param, alias in aliases:
                assert alias in legacy, f"{rule.id}: Keras 2 {name} has no parameter '{alias}'"
    for name in rule.functions:
        assert callable(resolve(name)), f"{rule.id}: {name} is not a function"


@pytest.mark.parametrize("rule", LAYER_RULES, ids=[r.id for r in LAYER_RULES])
def test_layer_rule_matches_torch_signature(rule):
    if not rule.torch:
        pytest.skip(f"{rule.id} is emitted as code (emit: {rule.emit}), no torch class")
    cls = resolve(rule.torch)
    assert inspect.isclass(cls) and issubclass(cls, torch.nn.Module), f"{rule.torch} is not an nn.Module"
    live = signature_params(cls)
    by_name = {p.name: p for p in live}
    for param in rule.params:
        if not param.torch:
            continue
        assert param.torch in by_name, f"{rule.id}: {rule.torch} has no parameter '{param.torch}'"
        if param.has_torch_default:
            default = by_name[param.torch].default
            assert default is not _EMPTY, f"{rule.id}: {rule.torch}({param.torch}) has no default"
            assert loosely_equal(param.torch_default, default), (
                f"{rule.id}: {rule.torch}({param.torch}=...) default is {default!r} in torch, "
                f"{param.torch_default!r} in the rule")
    leading = [p.name for p in live[:len(rule.torch_positional)]]
    assert leading == list(rule.torch_positional), (
        f"{rule.id}: {rule.torch} leading parameters are {leading}, torch_positional {rule.torch_positional}")


@pytest.mark.parametrize("rule", ACTIVATION_RULES, ids=[r.id for r in ACTIVATION_RULES])
def test_activation_rule_exists(rule):
    for name in rule.keras:
        assert callable(keras.activations.get(name)), f"{rule.id}: Keras has no activation '{name}'"
    if rule.torch is None:
        assert not rule.args, f"{rule.id}: identity takes no args"
        return
    fn = resolve(rule.torch)
    assert callable(fn), f"{rule.id}: {rule.torch} is not callable"
    if rule.args:
        params = inspect.signature(fn).parameters
        for arg in rule.args:
            assert arg in params, f"{rule.id}: {rule.torch} has no argument '{arg}'"


@pytest.mark.parametrize("rule", OP_RULES, ids=[r.id for r in OP_RULES])
def test_op_rule_torch_target_exists(rule):
    if rule.torch.startswith("."):
        assert hasattr(torch.Tensor, rule.torch[1:]), f"{rule.id}: torch.Tensor has no {rule.torch}"
    else:
        assert callable(resolve(rule.torch)), f"{rule.id}: {rule.torch} is not callable"
