"""Latency of each variant, measured the way each framework runs in production.

- Keras: a `tf.function` of `model(x, training=False)` (the compiled graph that `predict` runs),
  never op-by-op eager calls, which are several times slower and would flatter the translation.
- torch: `eval()` + `torch.inference_mode()` eager; optionally `torch.compile` (an extra column).
- onnxruntime: a warm `InferenceSession` of each export.

Each variant runs `warmup` times, then `runs` timed calls; the report keeps the median (and min/max).
A call is complete when its result is on the host (Keras: `.numpy()`; torch on CUDA: synchronize).
"""
from __future__ import annotations

import statistics
import time


def measure(fn, runs: int = 20, warmup: int = 3, sync=None) -> dict:
    """Median / min / max wall time of `fn()` in milliseconds over `runs` calls after `warmup`."""
    runs = max(1, int(runs))
    for _ in range(max(0, int(warmup))):
        fn()
    if sync is not None:
        sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "runs": runs, "warmup": max(0, int(warmup))}


def keras_device(device: str) -> str | None:
    """The TensorFlow device for `device`, or None when TensorFlow cannot run there."""
    import tensorflow as tf
    if device == "cuda":
        return "/GPU:0" if tf.config.list_physical_devices("GPU") else None
    return "/CPU:0"


def keras_runner(model, arrays, device: str = "cpu", positional: bool = False):
    """A zero-argument callable running the Keras model compiled (tf.function), result on the host.
    `positional`: the model takes several inputs as separate arguments (`call(self, x, y)`, as the
    torch -> Keras translation writes it) rather than one list."""
    import tensorflow as tf
    where = keras_device(device)
    if where is None:
        raise RuntimeError("TensorFlow sees no GPU (tensorflow-cpu, or no CUDA build)")
    single = len(arrays) == 1
    with tf.device(where):
        tensors = [tf.constant(a) for a in arrays]

    @tf.function(reduce_retracing=True)
    def forward(*xs):
        if positional:
            return model(*xs, training=False)
        return model(xs[0] if single else list(xs), training=False)

    def run():
        with tf.device(where):
            out = forward(*tensors)
        return [o.numpy() for o in tf.nest.flatten(out)]
    return run


def torch_runner(module, tensors, device: str = "cpu", compile: bool = False):
    """(callable, sync) running the torch module in eval() + inference_mode on `device`."""
    import torch
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("torch.cuda.is_available() is False")
    target = torch.device(device)
    module = module.to(target).eval()
    inputs = [t.to(target) for t in tensors]
    fn = torch.compile(module) if compile else module

    def run():
        with torch.inference_mode():
            return fn(*inputs)
    sync = torch.cuda.synchronize if device == "cuda" else None
    return run, sync


def ort_runner(sess, feeds: dict):
    def run():
        return sess.run(None, feeds)
    return run
