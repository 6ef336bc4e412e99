"""What every translated form of an nn.MultiheadAttention result shares (keras_hatches_attention with the
Keras layer, keras_hatches_mha_additive with the attention written out)."""
from __future__ import annotations

from ..findings import TranslationError
from .keras_code import Meta, call, node_of, tensor


class MhaPair:
    """Base of a result pair: the weights' meta, head averaging and the findings for a misused pair."""

    def averaged(self, node):
        if not self.average:
            return node
        return call(self.ft.refs.ops("mean"), [node], [("axis", node_of(1))])

    def weights_meta(self) -> Meta:
        return tensor(3 if self.average else 4)

    def fail(self):
        raise TranslationError("FWT202", "nn.MultiheadAttention returns (output, weights): unpack it "
                                         "(`out, w = self.attn(...)`) or index it (`self.attn(...)[0]`)", self.line)

    def no_weights(self):
        if not self.need:
            raise TranslationError("FWT202", "nn.MultiheadAttention(need_weights=False) returns None weights, "
                                             "which are used here", self.line)
