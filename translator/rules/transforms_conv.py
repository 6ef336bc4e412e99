"""Weight transforms of the convolution family (depthwise and separable kernels).

Keras depthwise kernels are `(*k, in, depth_multiplier)`; TF computes output channel
`c * depth_multiplier + m` from input channel `c` with kernel slice `[..., c, m]`. torch's depthwise
conv is `Conv*d(in, in * depth_multiplier, groups=in)` with weight `(in * depth_multiplier, 1, *k)`,
whose output channel `c * depth_multiplier + m` reads input channel `c`: the same order, so the
kernel is a reshape to `(*k, 1, in * depth_multiplier)` then the usual `(*k, in, out) -> (out, in, *k)`.
Transposed-convolution kernels `(*k, filters, in)` map to torch `(in, filters, *k)` with the plain
`kernel_to_oihw` permutation (no spatial flip), and separable pointwise kernels `(1.., in*m, filters)`
likewise.
"""
from __future__ import annotations

from .transforms import kernel_to_oihw, oihw_to_kernel, weight_transform


@weight_transform("depthwise_to_oihw", inverse="oihw_to_depthwise")
def depthwise_to_oihw(array, meta=None):
    """Keras depthwise kernel (*k, in, mult) -> torch grouped-conv weight (in * mult, 1, *k)."""
    spatial = array.shape[:-2]
    return kernel_to_oihw(array.reshape(spatial + (1, array.shape[-2] * array.shape[-1])))


@weight_transform("oihw_to_depthwise", inverse="depthwise_to_oihw")
def oihw_to_depthwise(array, meta=None):
    """torch (in * mult, 1, *k) -> Keras (*k, in, mult); needs `meta["depth_multiplier"]`."""
    mult = (meta or {}).get("depth_multiplier")
    if not mult:
        raise ValueError("oihw_to_depthwise needs meta['depth_multiplier']")
    kernel = oihw_to_kernel(array)          # (*k, 1, in * mult)
    return kernel.reshape(kernel.shape[:-2] + (kernel.shape[-1] // mult, mult))
