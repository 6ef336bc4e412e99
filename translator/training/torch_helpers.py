"""The PyTorch helpers that fwtranslate writes into a translated training script.

Keras `model.compile(...)` / `fit` / `evaluate` / `predict` become explicit PyTorch code that calls the
functions and classes below. This file is read as TEXT by translator.training.codegen (the translator
never imports torch): each definition a translated file uses is copied into it once, at module level,
after the imports. Every definition here states the Keras behaviour it reproduces; tests/test_training.py
runs them against Keras step by step.
"""
import torch
import torch.nn.functional as F


class History:
    """What keras Model.fit returns: `.history` maps each logged name to its per-epoch values."""

    def __init__(self):
        self.history = {}
        self.epoch = []


def fit(model, optimizer, loss_fn, x, y, batch_size=32, epochs=1, shuffle=True, validation_split=0.0,
        validation_data=None, metrics=None, scheduler=None, callbacks=(), target_dtype=torch.float32,
        input_permute=None, verbose=1):
    """keras Model.fit as a PyTorch loop. Like Keras: the validation split is the last fraction of the
    data (taken before shuffling), the training data is reshuffled every epoch (torch's generator, so the
    order differs from Keras'; shuffle=False keeps it), one optimizer step per batch, the learning-rate
    scheduler stepped after every batch (Keras schedules count steps), and the logged loss and metrics
    are epoch means weighted by batch size."""
    metrics = dict(metrics or {})
    x, y = _tensor(x, input_permute), torch.as_tensor(y)
    if validation_data is not None:
        x_val, y_val = _tensor(validation_data[0], input_permute), torch.as_tensor(validation_data[1])
    elif validation_split:
        split_at = int(len(x) * (1.0 - validation_split))
        x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
    else:
        x_val = y_val = None
    history = History()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x)) if shuffle else torch.arange(len(x))
        totals, seen = {}, 0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            xb, yb = x[index], y[index]
            optimizer.zero_grad()
            output = model(xb)
            target = _target(yb, output, target_dtype)
            loss = loss_fn(output, target)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            values = {"loss": loss.item()}
            with torch.no_grad():
                values.update({name: float(fn(output, target)) for name, fn in metrics.items()})
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + value * len(index)
            seen += len(index)
        logs = {name: total / seen for name, total in totals.items()}
        if x_val is not None:
            val = evaluate(model, loss_fn, x_val, y_val, batch_size, metrics, target_dtype, return_dict=True)
            logs.update({"val_" + name: value for name, value in val.items()})
        history.epoch.append(epoch)
        for name, value in logs.items():
            history.history.setdefault(name, []).append(value)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if any([callback.on_epoch_end(epoch, logs, model) for callback in callbacks]):
            break
    for callback in callbacks:
        callback.on_train_end(model)
    return history


def evaluate(model, loss_fn, x, y, batch_size=32, metrics=None, target_dtype=torch.float32,
             input_permute=None, return_dict=False, verbose=0):
    """keras Model.evaluate: the loss (and metrics) over the data in inference mode, batch means weighted
    by batch size; a scalar without metrics, else [loss, *metrics] (a dict with return_dict=True)."""
    metrics = dict(metrics or {})
    x, y = _tensor(x, input_permute), torch.as_tensor(y)
    model.eval()
    totals = {}
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            output = model(xb)
            target = _target(yb, output, target_dtype)
            values = {"loss": float(loss_fn(output, target))}
            values.update({name: float(fn(output, target)) for name, fn in metrics.items()})
            for name, value in values.items():
                totals[name] = totals.get(name, 0.0) + value * len(xb)
    logs = {name: total / len(x) for name, total in totals.items()}
    if verbose:
        print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    return logs["loss"] if not metrics else list(logs.values())


def predict(model, x, batch_size=32, input_permute=None, verbose=0):
    """keras Model.predict: the outputs for x in inference mode, batch by batch, as a NumPy array."""
    x = _tensor(x, input_permute)
    model.eval()
    with torch.no_grad():
        outputs = [model(x[start:start + batch_size]) for start in range(0, len(x), batch_size)]
    return torch.cat(outputs).cpu().numpy()


def _tensor(x, permute=None):
    """An input array as a tensor: floating point data as float32 (Keras casts inputs to the model's
    float32), in the translated model's layout (channels-first images: `permute`)."""
    x = torch.as_tensor(x)
    if x.is_floating_point():
        x = x.float()
    return x.permute(*permute) if permute is not None else x


def _target(y, output, dtype):
    """Targets as the loss expects them: class indices as int64, other targets in the output's dtype with
    a trailing size-1 axis added or removed to match the output (as Keras squeezes or expands them)."""
    if dtype == torch.long:
        return y.long()
    y = y.to(output.dtype)
    if y.dim() == output.dim() - 1 and output.shape[-1] == 1:
        return y.unsqueeze(-1)
    if y.dim() == output.dim() + 1 and y.shape[-1] == 1:
        return y.squeeze(-1)
    return y


class KerasEpsilon:
    """Adam's epsilon as Keras applies it. Keras adds epsilon to sqrt(v) before the bias correction,
    torch after it: rescaling eps every step to eps / sqrt(1 - beta2**t) gives Keras' updates exactly."""

    def step(self, closure=None):
        for group in self.param_groups:
            group.setdefault("keras_eps", group["eps"])
            group["keras_step"] = step = group.get("keras_step", 0) + 1
            group["eps"] = group["keras_eps"] / (1 - group["betas"][1] ** step) ** 0.5
        return super().step(closure)


class KerasAdam(KerasEpsilon, torch.optim.Adam):
    """torch.optim.Adam with Keras' epsilon placement (keras.optimizers.Adam)."""


class KerasAdamW(KerasEpsilon, torch.optim.AdamW):
    """torch.optim.AdamW with Keras' epsilon placement (keras.optimizers.AdamW: decoupled weight decay,
    applied like torch's: p -= lr * weight_decay * p before the Adam update)."""


class KerasRMSprop(torch.optim.Optimizer):
    """keras.optimizers.RMSprop. torch.optim.RMSprop differs: it adds eps outside the square root
    (Keras: sqrt(v + eps)) and applies the learning rate after the momentum buffer (Keras: inside)."""

    def __init__(self, params, lr=0.001, rho=0.9, momentum=0.0, eps=1e-07, centered=False):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps, centered=centered))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, momentum = group["lr"], group["rho"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                    state["average_grad"] = torch.zeros_like(p)
                    state["momentum"] = torch.zeros_like(p)
                grad = p.grad
                velocity = state["velocity"].mul_(rho).add_((1 - rho) * grad * grad)
                denominator = velocity + group["eps"]
                if group["centered"]:
                    average = state["average_grad"].mul_(rho).add_((1 - rho) * grad)
                    denominator = velocity - average * average + group["eps"]
                increment = lr * grad / denominator.sqrt()
                if momentum > 0:
                    increment = state["momentum"].mul_(momentum).add_(increment)
                p.sub_(increment)
        return loss


class KerasAdagrad(torch.optim.Optimizer):
    """keras.optimizers.Adagrad. torch.optim.Adagrad differs: its accumulator starts at 0 (Keras: 0.1)
    and it adds eps outside the square root (Keras: sqrt(accumulator + eps))."""

    def __init__(self, params, lr=0.001, initial_accumulator_value=0.1, eps=1e-07):
        super().__init__(params, dict(lr=lr, initial_accumulator_value=initial_accumulator_value, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"])
                accumulator = state["accumulator"].add_(p.grad * p.grad)
                p.sub_(group["lr"] * p.grad / (accumulator + group["eps"]).sqrt())
        return loss


def cosine_decay(step, decay_steps, alpha=0.0):
    """keras.optimizers.schedules.CosineDecay (no warm-up) as a factor of the initial learning rate:
    (1 - alpha) * (1 + cos(pi * t)) / 2 + alpha with t = min(step, decay_steps) / decay_steps."""
    import math
    t = min(step, decay_steps) / decay_steps
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha


def categorical_crossentropy(probs, target):
    """keras.losses.categorical_crossentropy on probabilities (from_logits=False) as Keras computes it:
    the probabilities renormalised to sum to 1 and clipped to [1e-7, 1 - 1e-7] before the log."""
    probs = probs / probs.sum(dim=-1, keepdim=True)
    return -(target * torch.log(probs.clamp(1e-7, 1 - 1e-7))).sum(dim=-1).mean()


def sparse_categorical_crossentropy(probs, target):
    """keras.losses.sparse_categorical_crossentropy on probabilities (from_logits=False) as Keras computes
    it: renormalised, clipped to [1e-7, 1 - 1e-7], then the negative log-likelihood of the target class."""
    probs = probs / probs.sum(dim=-1, keepdim=True)
    return F.nll_loss(torch.log(probs.clamp(1e-7, 1 - 1e-7)), target.reshape(probs.shape[:-1]))


def binary_crossentropy(probs, target):
    """keras.losses.binary_crossentropy on probabilities (from_logits=False) as Keras computes it:
    clipped to [1e-7, 1 - 1e-7], and 1e-7 added inside both logs."""
    probs = probs.clamp(1e-7, 1 - 1e-7)
    return -(target * torch.log(probs + 1e-7) + (1 - target) * torch.log(1 - probs + 1e-7)).mean()


def accuracy(output, target):
    """Keras' "accuracy" metric: binary (output of size 1 per sample, threshold 0.5), sparse categorical
    (class-index targets) or categorical (one-hot targets), chosen from the shapes as Keras does."""
    if output.shape[-1] == 1:
        return ((output > 0.5).to(target.dtype) == target.reshape(output.shape)).float().mean()
    if target.dim() < output.dim() or target.shape[-1] == 1:
        return (output.argmax(dim=-1) == target.reshape(output.shape[:-1])).float().mean()
    return (output.argmax(dim=-1) == target.argmax(dim=-1)).float().mean()


def mean_absolute_error(output, target):
    """Keras' "mae" metric."""
    return (output - target).abs().mean()


def mean_squared_error(output, target):
    """Keras' "mse" metric."""
    return ((output - target) ** 2).mean()


class KerasEarlyStopping:
    """keras.callbacks.EarlyStopping for the generated fit(): same arguments and decisions (the monitored
    value must improve by more than min_delta within `patience` epochs; mode "auto" maximises accuracy
    and minimises anything else; restore_best_weights restores the best epoch's weights at the end)."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        self.monitor, self.patience, self.baseline = monitor, patience, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        if mode == "auto":
            mode = "max" if monitor.endswith("acc") or monitor.endswith("accuracy") else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.min_delta = abs(min_delta) * self.sign
        self.best = -float("inf") * self.sign
        self.wait, self.best_weights = 0, None

    def improved(self, value, reference):
        return self.sign * (value - self.min_delta) > self.sign * reference

    def on_epoch_end(self, epoch, logs, model):
        current = logs.get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return False
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = {k: v.clone() for k, v in model.state_dict().items()}
        self.wait += 1
        if self.improved(current, self.best):
            self.best = current
            if self.restore_best_weights:
                self.best_weights = {k: v.clone() for k, v in model.state_dict().items()}
            if self.baseline is None or self.improved(current, self.baseline):
                self.wait = 0
            return False
        return self.wait >= self.patience and epoch > 0

    def on_train_end(self, model):
        if self.restore_best_weights and self.best_weights is not None:
            model.load_state_dict(self.best_weights)


class KerasModelCheckpoint:
    """keras.callbacks.ModelCheckpoint (weights) for the generated fit(): saves the model's state_dict
    to `filepath` (formatted with the epoch number and the logs) after every epoch, or only when the
    monitored value improved with save_best_only=True."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto"):
        self.filepath, self.monitor, self.save_best_only = filepath, monitor, save_best_only
        if mode == "auto":
            mode = "max" if monitor.endswith("acc") or monitor.endswith("accuracy") else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = -float("inf") * self.sign

    def on_epoch_end(self, epoch, logs, model):
        current = logs.get(self.monitor)
        if self.save_best_only:
            if current is None or not self.sign * current > self.sign * self.best:
                return False
            self.best = current
        torch.save(model.state_dict(), self.filepath.format(epoch=epoch + 1, **logs))
        return False

    def on_train_end(self, model):
        pass
