"""The Keras helpers that fwtranslate writes into a training script translated from PyTorch.

Read as TEXT by translator.training.codegen (the translator never imports Keras): each definition a
translated file uses is copied into it once, after the imports. tests/test_training.py trains with them
against PyTorch step by step.
"""
import keras


class TorchEpsilon:
    """Adam's epsilon as torch applies it: torch adds eps to the bias-corrected sqrt(v / (1 - beta_2**t)),
    Keras to the raw sqrt(v). This is Keras' Adam update (keras/src/optimizers/adam.py) with torch's
    denominator, so the updates are torch.optim.Adam's / AdamW's."""

    def update_step(self, gradient, variable, learning_rate):
        ops = keras.ops
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        bias_1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        bias_2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[self._get_variable_index(variable)]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias_2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / bias_1), denominator))


class TorchAdam(TorchEpsilon, keras.optimizers.Adam):
    """keras.optimizers.Adam with torch's epsilon placement (torch.optim.Adam)."""


class TorchAdamW(TorchEpsilon, keras.optimizers.AdamW):
    """keras.optimizers.AdamW with torch's epsilon placement (torch.optim.AdamW: the same decoupled
    weight decay, p -= lr * weight_decay * p before the Adam update)."""
