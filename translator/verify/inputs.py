"""`--input` specifications for `fwtranslate verify`, and the seeded random arrays made from them.

A specification is ``SHAPE[:DTYPE[:LOW-HIGH]]``, the shape *with* the batch dimension:

    1,28,28,1                 float32, standard normal values
    8,40:int64:0-1000         int64 token ids, uniform in [0, 1000) (LOW inclusive, HIGH exclusive)
    4,16:float32:-1-1         float32, uniform in [-1, 1)

Integer inputs without a range draw from [0, 10). Parsing imports nothing (the command line uses it
before any framework is loaded); `make_arrays` imports numpy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "bool")
DTYPES = FLOAT_DTYPES + INT_DTYPES
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "int": "int64", "long": "int64"}
DEFAULT_INT_RANGE = (0, 10)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|\.\.|,)\s*({_NUMBER})\s*$")


class InputSpecError(ValueError):
    pass


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float | None = None        # None: standard normal (floats) / DEFAULT_INT_RANGE (ints)
    high: float | None = None
    text: str = ""

    @property
    def is_int(self) -> bool:
        return self.dtype in INT_DTYPES

    def describe(self) -> str:
        dims = ",".join(str(d) for d in self.shape)
        rng = "" if self.low is None else f" in [{_num(self.low)}, {_num(self.high)})"
        if self.is_int and self.low is None:
            rng = f" in [{DEFAULT_INT_RANGE[0]}, {DEFAULT_INT_RANGE[1]})"
        return f"{self.dtype}[{dims}]{rng}"

    def to_dict(self) -> dict:
        return {"spec": self.text, "shape": list(self.shape), "dtype": self.dtype,
                "low": self.low, "high": self.high}


def _num(x):
    return int(x) if float(x).is_integer() else x


def parse_input_spec(text: str) -> InputSpec:
    """'8,40:int64:0-1000' -> InputSpec((8, 40), 'int64', 0, 1000). Raises InputSpecError."""
    raw = text
    parts = text.strip().split(":")
    if len(parts) > 3:
        raise InputSpecError(f"bad input {raw!r}: write SHAPE[:DTYPE[:LOW-HIGH]], e.g. 8,40:int64:0-1000")
    body = parts[0].strip().strip("()[]").strip()
    if not body:
        raise InputSpecError(f"bad input {raw!r}: empty shape; write it with the batch, e.g. 1,28,28,1")
    dims = []
    for part in body.split(","):
        part = part.strip()
        if part == "" and dims:
            continue
        try:
            value = int(part)
        except ValueError:
            raise InputSpecError(f"bad input {raw!r}: {part!r} is not an integer (every dimension, the "
                                 "batch included, must be given)") from None
        if value <= 0:
            raise InputSpecError(f"bad input {raw!r}: dimensions must be positive")
        dims.append(value)
    dtype = parts[1].strip().lower() if len(parts) > 1 and parts[1].strip() else "float32"
    dtype = _ALIASES.get(dtype, dtype)
    if dtype not in DTYPES:
        raise InputSpecError(f"bad input {raw!r}: unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    low = high = None
    if len(parts) > 2 and parts[2].strip():
        match = _RANGE.match(parts[2])
        if not match:
            raise InputSpecError(f"bad input {raw!r}: range {parts[2]!r} should be LOW-HIGH, e.g. 0-1000")
        low, high = float(match.group(1)), float(match.group(2))
        if not high > low:
            raise InputSpecError(f"bad input {raw!r}: range needs LOW < HIGH")
        if dtype in INT_DTYPES:
            if not (low.is_integer() and high.is_integer()):
                raise InputSpecError(f"bad input {raw!r}: an integer input needs an integer range")
            low, high = int(low), int(high)
    return InputSpec(tuple(dims), dtype, low, high, raw)


def default_specs(model_inputs, batch: int = 2) -> list[InputSpec]:
    """Specs from the translation's interface (`ModelInfo.inputs` as dicts or objects) when every
    dimension but the batch is known; raises InputSpecError naming the input otherwise."""
    specs = []
    for tensor in model_inputs:
        shape = tensor["keras_shape"] if isinstance(tensor, dict) else tensor.keras_shape
        name = tensor["name"] if isinstance(tensor, dict) else tensor.name
        if not shape or any(not isinstance(d, int) or isinstance(d, bool) for d in shape[1:]):
            raise InputSpecError(f"the shape of model input '{name}' is not known from the source "
                                 f"({_shape_text(shape)}); give it with --input, e.g. --input 1,28,28,1")
        dims = (batch,) + tuple(shape[1:])
        specs.append(InputSpec(dims, "float32", text=",".join(map(str, dims))))
    if not specs:
        raise InputSpecError("the model's inputs are not known from the source; give them with --input")
    return specs


def check_against_interface(specs, model_inputs) -> str | None:
    """A message when a spec contradicts a known input shape of the translated model, else None."""
    if len(model_inputs) and len(specs) != len(model_inputs):
        return (f"the model has {len(model_inputs)} input(s) but {len(specs)} --input given")
    for i, (spec, tensor) in enumerate(zip(specs, model_inputs)):
        shape = tensor["keras_shape"] if isinstance(tensor, dict) else tensor.keras_shape
        if shape is None:
            continue
        if len(shape) != len(spec.shape):
            return (f"input shape wrong: --input {spec.text!r} has rank {len(spec.shape)} but model input "
                    f"{i} has shape {_shape_text(shape)} (rank {len(shape)}, the batch included)")
        for want, got in zip(shape[1:], spec.shape[1:]):
            if isinstance(want, int) and not isinstance(want, bool) and want != got:
                return (f"input shape wrong: --input {spec.text!r} but model input {i} has shape "
                        f"{_shape_text(shape)}")
    return None


def _shape_text(shape) -> str:
    if shape is None:
        return "unknown"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def make_arrays(specs, seed: int = 0) -> list:
    """One numpy array per spec; input i uses the generator seeded with seed + i."""
    import numpy as np
    arrays = []
    for i, spec in enumerate(specs):
        rng = np.random.default_rng(seed + i)
        if spec.dtype == "bool":
            arr = rng.integers(0, 2, size=spec.shape).astype(bool)
        elif spec.is_int:
            low, high = (spec.low, spec.high) if spec.low is not None else DEFAULT_INT_RANGE
            arr = rng.integers(low, high, size=spec.shape).astype(spec.dtype)
        else:
            if spec.low is None:
                arr = rng.standard_normal(spec.shape)
            else:
                arr = rng.uniform(spec.low, spec.high, size=spec.shape)
            arr = arr.astype(spec.dtype)
        arrays.append(arr)
    return arrays
