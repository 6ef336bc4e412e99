"""TensorFlow ops that tf2onnx (and so Keras' own ONNX export, which runs it) cannot convert, given
exact ONNX lowerings. Imported by onnx_export before a Keras export; registering is idempotent.

  Erfc(x) = 1 - Erf(x)      (TensorFlow's exact GELU, `keras.ops.gelu(approximate=False)`, uses Erfc)
"""
from __future__ import annotations

_REGISTERED = False


def register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            node.type = "Erf"
            sub = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(node.name),
                                                inputs=[one.output[0], node.output[0]])
            ctx.copy_shape(node.output[0], sub.output[0])
            ctx.set_dtype(sub.output[0], ctx.get_dtype(node.output[0]))
    _REGISTERED = True
