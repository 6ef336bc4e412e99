"""ONNX export of both models, the ONNX checker, and onnxruntime sessions.

Keras: the model's own `model.export(path, format="onnx")` (Keras 3 runs a patched tf2onnx; it works
for Sequential, functional and subclassed models once they have been called), falling back to
`tf2onnx.convert.from_function` over a `tf.function` of the model when that fails.
torch: `torch.onnx.export(..., dynamo=True)` (the torch.export-based exporter, onnxscript), falling
back to the TorchScript exporter (`dynamo=False`) with a note when the dynamo exporter fails.
Both are exported for the shapes being verified: the torch export is static, the Keras one has a
free batch dimension.
"""
from __future__ import annotations

import contextlib
import io
import os


class ExportError(RuntimeError):
    pass


def _first_lines(text: str, n: int = 12) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return "\n".join(lines[:n]) + ("\n..." if len(lines) > n else "")


def _silenced():
    """Exporters print progress and warnings; the worker's own log keeps them, the report does not."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def export_keras(model, arrays, workdir: str, opset: int | None = None,
                 positional: bool = False) -> tuple[bytes, str, str | None]:
    """(ONNX bytes, exporter name, note). `arrays` are the numpy inputs the model is verified on.
    `positional`: several inputs are separate `call` arguments (see timing.keras_runner)."""
    import tensorflow as tf

    specs = [tf.TensorSpec((None,) + tuple(a.shape[1:]), tf.as_dtype(a.dtype), name=f"input_{i}")
             for i, a in enumerate(arrays)]
    signature = [specs[0]] if len(specs) == 1 else [specs]
    path = os.path.join(workdir, "keras.onnx")
    errors = []
    try:
        from .tf2onnx_ops import register
        register()
    except Exception as exc:  # noqa: BLE001 - only extra op lowerings; the export may still work
        errors.append(f"extra tf2onnx ops not registered: {type(exc).__name__}: {exc}")
    try:
        if positional and len(specs) > 1:
            raise ExportError("several positional inputs: exported through a tf.function")
        kwargs = {"input_signature": signature, "verbose": False}
        if opset is not None:
            kwargs["opset_version"] = opset
        with _silenced():
            model.export(path, format="onnx", **kwargs)
        with open(path, "rb") as handle:
            data = handle.read()
        check(data)       # Keras' export can leave TensorFlow-only nodes (StatefulPartitionedCall)
        return data, "keras model.export(format='onnx')", None
    except Exception as exc:  # noqa: BLE001 - reported, then the fallback is tried
        errors.append(f"model.export: {type(exc).__name__}: {_first_lines(exc, 3)}")
    try:
        import tf2onnx
        single = len(specs) == 1

        @tf.function(input_signature=specs)
        def forward(*xs):
            if positional:
                return model(*xs, training=False)
            return model(xs[0] if single else list(xs), training=False)

        with _silenced():
            proto, _ = tf2onnx.convert.from_function(forward, input_signature=specs,
                                                     opset=opset or 17)
        return proto.SerializeToString(), "tf2onnx.convert.from_function", \
            "exported with tf2onnx.convert.from_function (" + errors[-1].splitlines()[0] + ")"
    except Exception as exc:  # noqa: BLE001
        errors.append(f"tf2onnx: {type(exc).__name__}: {_first_lines(exc)}")
    raise ExportError("Keras model could not be exported to ONNX:\n" + "\n".join(errors))


def export_torch(module, tensors, workdir: str, opset: int | None = None) -> tuple[bytes, str, str | None]:
    """(ONNX bytes, exporter name, note) for a torch module in eval mode and its input tensors."""
    import logging

    import torch

    names = [f"input_{i}" for i in range(len(tensors))]
    errors = []
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        try:
            with _silenced():
                kwargs = {"dynamo": True, "input_names": names, "verbose": False}
                if opset is not None:
                    kwargs["opset_version"] = opset
                program = torch.onnx.export(module, tuple(tensors), **kwargs)
            return program.model_proto.SerializeToString(), "torch.onnx.export(dynamo=True)", None
        except Exception as exc:  # noqa: BLE001
            errors.append(f"dynamo exporter: {type(exc).__name__}: {_first_lines(exc)}")
        try:
            buffer = io.BytesIO()
            with _silenced():
                torch.onnx.export(module, tuple(tensors), buffer, dynamo=False, input_names=names,
                                  opset_version=opset or 17)
            return buffer.getvalue(), "torch.onnx.export(dynamo=False)", \
                ("the dynamo exporter failed (" + errors[0].splitlines()[0] + "); exported with the "
                 "TorchScript exporter (dynamo=False)")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"TorchScript exporter: {type(exc).__name__}: {_first_lines(exc)}")
    finally:
        logger.setLevel(level)
    raise ExportError("torch module could not be exported to ONNX:\n" + "\n".join(errors))


def check(data: bytes) -> dict:
    """onnx.checker on the model (full check, with shape inference); facts for the report."""
    import onnx
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    ops = sorted({node.op_type for node in proto.graph.node})
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "nodes": len(proto.graph.node), "ops": ops, "bytes": len(data)}


def providers(device: str) -> list[str] | None:
    """onnxruntime providers for a device, or None when onnxruntime cannot run there."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    if device == "cuda":
        return ["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else None
    return ["CPUExecutionProvider"]


def session(data: bytes, device: str = "cpu", threads: int | None = None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    chosen = providers(device)
    if chosen is None:
        raise ExportError(f"onnxruntime has no provider for {device} "
                          f"(available: {', '.join(ort.get_available_providers())})")
    return ort.InferenceSession(data, sess_options=options, providers=chosen)


_ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
              "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def feeds(sess, arrays) -> dict:
    """Inputs by the session's names, cast to the dtypes the graph declares (a Keras input declared
    float32 that is fed token ids, for instance)."""
    import numpy as np
    inputs = sess.get_inputs()
    if len(inputs) != len(arrays):
        raise ExportError(f"the ONNX model takes {len(inputs)} input(s), {len(arrays)} given")
    out = {}
    for spec, arr in zip(inputs, arrays):
        dtype = _ORT_TYPES.get(spec.type)
        out[spec.name] = np.ascontiguousarray(arr.astype(dtype) if dtype and arr.dtype != dtype else arr)
    return out


def run(sess, arrays) -> list:
    return list(sess.run(None, feeds(sess, arrays)))
