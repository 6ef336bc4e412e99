"""Layer-class translations shared by the passes of one translate_source (issue 6: speed).

A file's translation runs up to three KerasToTorch passes (api.py: a first pass, one with the class
plans it found, one with the classes kept in Keras); each asks `custom_outputs` for the outputs of the
same layer-class calls and translates the class again for each (KerasToTorch's own cache lives for one
pass). This memo lets a later pass reuse a translation of an earlier one where that is exact:

- the key holds everything the translation reads that may differ between passes: the call (class,
  constructor code, the bound constructor values and the input metas' fields, types kept) and the
  owner's per-class state of the *other* classes (plans, classes kept in Keras, parameters they call as
  layers); a class's own plan is not read by its own translation (a class cannot use itself as a layer);
  the rest it reads (module, rules, imports table, options) is the same in every pass;
- only a translation that asked for no other class's outputs (those come from, and are recorded by, the
  pass that asks) and changed nothing of the owner is stored, except the parameters the class calls as
  layers (`layer_param_calls[class]`) and the imports it needs, which are set again on reuse.

Nothing outlives the translate_source call (api.py hands the memo from one pass to the next).
"""
from __future__ import annotations


def shared_key(owner, key: tuple, in_metas: list, overrides: dict):
    """The memo's key for a custom_outputs call (None: not shareable), with types kept (Sym('n') is not
    'n', True is not 1) and the metas' fields the translation sees."""
    try:
        metas = tuple(_strict((m.shape, m.dtype, m.flat_from, m.last)) for m in in_metas)
        values = tuple(sorted((k, _strict(v)) for k, v in overrides.items()))
        out = key[:2], metas, values, plan_state(owner, key[0])
        hash(out)
    except TypeError:       # (sorting or hashing a value that cannot be: not shared)
        return None
    return out


def _strict(value):
    if isinstance(value, (set, frozenset)):
        return type(value).__name__, tuple(sorted(_strict(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(_strict(v) for v in value)
    if isinstance(value, dict):
        return "dict", tuple(sorted((k, _strict(v)) for k, v in value.items()))
    return type(value).__name__, value


def plan_state(owner, name: str) -> tuple:
    """What of the owner's per-class state a translation of class `name` may read (the other classes')."""
    def others(d):
        return tuple(sorted((k, _strict(v)) for k, v in d.items() if k != name))
    return (tuple(sorted(owner.shaped_classes - {name})), others(owner.class_channels),
            others(owner.class_ranks), others(owner.class_shapes), others(owner.class_free),
            others(owner.keep_keras), others(owner.layer_param_calls))


def effects(owner, name: str) -> tuple:
    """The owner state a translation could change (a translation that changes any of it is not shared)."""
    return (tuple((k, len(v)) for k, v in owner.call_bindings.items()),
            tuple((k, len(v)) for k, v in owner.call_sites.items()),
            frozenset(owner.inlined), plan_state(owner, name), owner.outputs_asked)



# ---- a class translated with its channels as a parameter (keras_channel_params.plan, then its pass) ----
# class_plans translates such a class to decide its plan; the next pass translates it again, with the
# same arguments, for the output. The first translation is handed over (once: its result is the pass's
# to change) when it read the same state -- the key, as above -- and changed nothing of its owner but the
# imports it needs and the parameters it calls as layers, which are set again.

def record_translation(owner, name: str, args: tuple, translator, **kwargs):
    """translator.translate(**kwargs), kept for the next pass where exact."""
    key = _class_key(owner, name, args)
    before = effects(owner, name) if key is not None else None
    done = translator.translate(**kwargs)
    if key is not None and effects(owner, name) == before:
        owner.shared_outputs[key] = (done, set(translator.imports.needed), set(done.ft.called_params))
    return done


def take_translation(owner, name: str, args: tuple):
    """The translation record_translation kept for this class and these arguments, or None."""
    key = _class_key(owner, name, args)
    found = owner.shared_outputs.pop(key, None) if key is not None else None
    if found is None:
        return None
    done, needed, called = found
    owner.imports.needed |= needed
    if called:
        owner.layer_param_calls[name] = set(called)
    return done


def _class_key(owner, name: str, args: tuple):
    try:
        key = ("class", name, _strict(args), plan_state(owner, name))
        hash(key)
    except TypeError:
        return None
    return key
