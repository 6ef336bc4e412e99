"""A translated model whose forward takes its inputs as one list (`ModelInfo.packed`: a Keras
`call(self, inputs)` with `x, y = inputs`), made callable as `model(x, y)` for the verifier's steps that
pass the inputs positionally (running, ONNX export, timing, localisation).

The instance's class is swapped for a subclass whose forward packs its arguments: its modules, parameter
names and hooks stay exactly as they were (weight porting and localisation address them by path).
"""
from __future__ import annotations


def positional_call(module):
    """`module(x, y)` then runs the translated `forward([x, y])`; returns the module."""
    cls = type(module)
    if getattr(cls, "_fwtranslate_packed", False):
        return module

    def forward(self, *inputs):
        return cls.forward(self, list(inputs))
    module.__class__ = type(cls.__name__, (cls,), {"forward": forward, "_fwtranslate_packed": True,
                                                   "__module__": cls.__module__})
    return module
