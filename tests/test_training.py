"""Training code: Keras compile/fit/evaluate/predict <-> explicit PyTorch code, checked by training.

Keras -> torch: each numeric case writes a small Keras script (a model builder plus a `train(x, y)`
function that builds, compiles and fits), translates it, ports the same initial weights into the torch
model, trains both on the same data in the same batch order (shuffle=False) and compares the loss after
every step (one batch per epoch, so the per-epoch history is the per-step loss) and the final weights.
torch -> Keras: the canonical PyTorch loop and its translation (compile + train_on_batch) on the same
batches, the loss of every step, the final weights and the predictions compared.
Tolerance: fp32, |a - b| <= RTOL * max(1, |a|) on every logged value and every weight (worst seen
4.3e-6, Adam; plain torch.optim.Adam(eps=1e-7) instead of the generated KerasAdam misses by 7e-4, and
torch.optim.RMSprop by 6e-2, after 5 steps).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from translator import translate_source

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "fixtures" / "legacy_project"
RTOL = 2e-5

HEADER = """import keras
from keras import layers
"""

MODELS = {
    "classes": """
def build_model():
    return keras.Sequential([keras.Input(shape=(6,)), layers.Dense(8, activation="tanh"),
                             layers.Dense(3, activation={activation})])
""",
    "binary": """
def build_model():
    return keras.Sequential([keras.Input(shape=(6,)), layers.Dense(8, activation="tanh"),
                             layers.Dense(1, activation={activation})])
""",
    "cnn": """
def build_model():
    return keras.Sequential([keras.Input(shape=(5, 5, 2)), layers.Conv2D(3, 3, activation="relu"),
                             layers.Flatten(), layers.Dense(3, activation={activation})])
""",
    "regression": """
def build_model():
    return keras.Sequential([keras.Input(shape=(6,)), layers.Dense(8, activation="tanh"),
                             layers.Dense(2, activation={activation})])
""",
}

TRAIN = """
def train(x, y, epochs=5, batch_size=None):
    model = build_model()
    model.compile(optimizer={optimizer}, loss={loss}, metrics={metrics})
    history = model.fit(x, y, batch_size=batch_size or len(x), epochs=epochs, shuffle=False, verbose=0)
    return history
"""


def _data(kind: str, n: int = 24, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    if kind == "image":
        return rng.normal(size=(n, 5, 5, 2)).astype("float32"), rng.integers(0, 3, size=(n,))
    if kind == "sparse":
        return x, rng.integers(0, 3, size=(n,))
    if kind == "onehot":
        return x, np.eye(3, dtype="float32")[rng.integers(0, 3, size=(n,))]
    if kind == "binary":
        return x, rng.integers(0, 2, size=(n,)).astype("float32")
    return x, rng.normal(size=(n, 2)).astype("float32")


def _exec(code: str, name: str) -> dict:
    namespace = {"__name__": name}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def _assert_close(keras_values, torch_values, what):
    import numpy as np
    k, t = np.asarray(keras_values, dtype="float64"), np.asarray(torch_values, dtype="float64")
    assert k.shape == t.shape, (what, k.shape, t.shape)
    err = np.abs(k - t) / np.maximum(1.0, np.abs(k))
    assert err.max(initial=0.0) <= RTOL, (what, float(err.max()), k.tolist()[:6], t.tolist()[:6])
    return float(err.max(initial=0.0))


def run_both(source: str, entry: str, x, y, train_kwargs=None):
    """Train the Keras original and its translation from the same weights; returns (keras history,
    torch history, max relative weight error, translation)."""
    import torch
    from translator.verify.port import port_weights

    result = translate_source(source)
    assert not [f for f in result.findings if f.needs_attention], [f.format() for f in result.findings]
    keras_ns, torch_ns = _exec(source, "keras_training"), _exec(result.code, "torch_training")
    keras_ns["keras"].utils.set_random_seed(0)
    keras_model = eval(entry, keras_ns)
    torch_model = eval(entry, torch_ns)
    info = result.models[0]
    port_weights(keras_model, torch_model, info)
    keras_ns["build_model"], torch_ns["build_model"] = lambda: keras_model, lambda: torch_model
    keras_history = keras_ns["train"](x, y, **(train_kwargs or {})).history
    torch_history = torch_ns["train"](x, y, **(train_kwargs or {})).history
    reference = eval(entry, _exec(result.code, "torch_reference"))    # trained Keras weights, ported
    port_weights(keras_model, reference, info)
    trained = dict(torch_model.state_dict())
    weight_err = 0.0
    for name, value in reference.state_dict().items():
        weight_err = max(weight_err, _assert_close(value.numpy(), trained[name].detach().numpy(), name))
    assert torch.is_tensor(trained[name])
    return keras_history, torch_history, weight_err, result


def _case(model: str, optimizer: str, loss: str, data: str, activation: str, metrics='["accuracy"]'):
    return pytest.param(model, optimizer, loss, data, activation, metrics,
                        id=f"{model}-{optimizer}-{loss}-{activation}".replace('"', "").replace(" ", ""))


CASES = [
    _case("classes", '"adam"', '"sparse_categorical_crossentropy"', "sparse", "softmax"),
    _case("classes", "keras.optimizers.Adam(learning_rate=0.01)",
          "keras.losses.SparseCategoricalCrossentropy(from_logits=True)", "sparse", "None"),
    _case("classes", "keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)",
          '"categorical_crossentropy"', "onehot", "softmax"),
    _case("classes", "keras.optimizers.Adam(0.02, amsgrad=True, weight_decay=0.01)",
          "keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)", "onehot", "None"),
    _case("classes", "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)",
          '"sparse_categorical_crossentropy"', "sparse", "softmax"),
    _case("classes", "keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True)",
          "keras.losses.SparseCategoricalCrossentropy()", "sparse", "softmax"),
    _case("classes", "keras.optimizers.Adagrad(learning_rate=0.1)",
          "keras.losses.CategoricalCrossentropy()", "onehot", "softmax"),
    _case("binary", '"rmsprop"', '"binary_crossentropy"', "binary", "sigmoid"),
    _case("binary", '"sgd"', "keras.losses.BinaryCrossentropy(from_logits=True)", "binary", "None"),
    _case("regression", "keras.optimizers.SGD(0.05, momentum=0.8)", '"mse"', "regression", "None", '["mae"]'),
    # (SGD: with 24 samples the mean of the signs can be exactly 0 in one framework and 1e-9 in the other,
    # which Adam's normalisation turns into a 1e-4 step: a property of the data, not of the translation)
    _case("regression", "keras.optimizers.SGD(0.1)", "keras.losses.MeanAbsoluteError()", "regression",
          "None", "None"),
    _case("regression", "keras.optimizers.RMSprop(0.01)", "keras.losses.Huber(delta=0.5)", "regression", "None",
          '["mse"]'),
    _case("classes", "keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.5))",
          '"sparse_categorical_crossentropy"', "sparse", "softmax"),
    _case("classes", "keras.optimizers.SGD(keras.optimizers.schedules.PiecewiseConstantDecay([1, 3], "
          "[0.5, 0.1, 0.02]))", '"sparse_categorical_crossentropy"', "sparse", "softmax"),
    _case("regression", "keras.optimizers.RMSprop(keras.optimizers.schedules.CosineDecay(0.05, 3, alpha=0.1))",
          '"mse"', "regression", "None"),
    # channels-last images into the channels-first translation: fit permutes the NHWC data
    _case("cnn", "keras.optimizers.Adam(0.01)", '"sparse_categorical_crossentropy"', "image", "softmax"),
]


@pytest.mark.parametrize("model,optimizer,loss,data,activation,metrics", CASES)
def test_training_steps_match_keras(model, optimizer, loss, data, activation, metrics):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    activation = "None" if activation == "None" else repr(activation)
    source = HEADER + MODELS[model].format(activation=activation) + TRAIN.format(
        optimizer=optimizer, loss=loss, metrics=metrics)
    x, y = _data(data)
    keras_h, torch_h, weight_err, result = run_both(source, "build_model()", x, y)
    assert set(keras_h) == set(torch_h), (keras_h.keys(), torch_h.keys())
    assert len(keras_h["loss"]) == 5
    for name in keras_h:
        _assert_close(keras_h[name], torch_h[name], name)
    assert keras_h["loss"][0] != keras_h["loss"][-1]          # it trained


def test_batches_validation_and_evaluate_match_keras():
    """Several batches per epoch (the last one smaller), validation data, evaluate and predict."""
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    import numpy as np
    source = HEADER + MODELS["classes"].format(activation='"softmax"') + """
def train(x, y):
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:20], y[:20], batch_size=6, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x[20:], y[20:]))
    score = model.evaluate(x, y, batch_size=7, verbose=0)
    probs = model.predict(x, batch_size=5, verbose=0)
    history.history["score"] = score
    history.history["probs"] = probs.ravel().tolist()
    return history
"""
    x, y = _data("sparse", n=26)
    keras_h, torch_h, _, result = run_both(source, "build_model()", x, y)
    assert "def evaluate(" in result.code and "def predict(" in result.code
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "score", "probs"):
        _assert_close(keras_h[name], torch_h[name], name)
    assert np.asarray(keras_h["probs"]).shape == (26 * 3,)


def test_early_stopping_matches_keras():
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    source = HEADER + MODELS["regression"].format(activation=None) + """
def train(x, y):
    model = build_model()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    return model.fit(x, y, batch_size=len(x), epochs=10, shuffle=False, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="loss", min_delta=0.05, patience=1, restore_best_weights=True)])
"""
    x, y = _data("regression")
    keras_h, torch_h, _, result = run_both(source, "build_model()", x, y)
    assert "KerasEarlyStopping(monitor=" in result.code
    assert len(keras_h["loss"]) < 10                       # it stopped early (and restored the best weights)
    _assert_close(keras_h["loss"], torch_h["loss"], "loss")


# ---- the sample legacy project: its training script, translated, trains like the original -------------------

def test_legacy_training_script_loss_curve(tmp_path, monkeypatch):
    """fixtures/legacy_project/train.py (tf_keras: compile/fit/save_weights) and its translation, from the
    same initial weights: the loss after every step, the epoch logs (loss, accuracy, val_loss,
    val_accuracy) and the saved weights match. Dropout is set to rate 0 in both (its random masks cannot
    match across frameworks) and fit runs with shuffle=False in both (the script keeps Keras' default
    shuffle=True, which the translation keeps too, with torch's generator)."""
    pytest.importorskip("torch")
    tf_keras = pytest.importorskip("tf_keras")
    import numpy as np
    import torch
    from translator.verify.port import port_weights

    source = (LEGACY / "train.py").read_text()
    result = translate_source(source, filename="train.py")
    assert not [f for f in result.findings if f.needs_attention], [f.format() for f in result.findings]
    monkeypatch.syspath_prepend(str(LEGACY))                  # train.py imports utils.preprocessing
    try:
        keras_ns, torch_ns = _exec(source, "legacy_train"), _exec(result.code, "legacy_train_torch")
    finally:
        for name in [m for m in sys.modules if m == "utils" or m.startswith("utils.")]:
            del sys.modules[name]
    tf_keras.utils.set_random_seed(0)
    initial = keras_ns["build_mlp"]()
    weights = initial.get_weights()

    keras_steps, keras_logs = [], []

    class Steps(tf_keras.callbacks.Callback):       # per-batch losses from Keras' running epoch means
        def on_epoch_begin(self, epoch, logs=None):
            self.seen, self.total = 0, 0.0

        def on_train_batch_end(self, batch, logs=None):
            n = min(32, 230 - batch * 32)
            mean = logs["loss"]
            keras_steps.append((mean * (self.seen + n) - self.total) / n)
            self.seen += n
            self.total = mean * self.seen

    def keras_build(num_classes=3):
        model = _orig_keras_build(num_classes)
        model.set_weights(weights)
        for layer in model.layers:
            if isinstance(layer, tf_keras.layers.Dropout):
                layer.rate = 0.0
        fit = model.fit

        def fit_in_order(*args, **kwargs):
            history = fit(*args, shuffle=False, callbacks=[Steps()], **kwargs)
            keras_logs.append(history.history)
            return history
        model.fit = fit_in_order
        return model

    _orig_keras_build = keras_ns["build_mlp"]
    keras_ns["build_mlp"] = keras_build
    (tmp_path / "keras").mkdir()
    monkeypatch.chdir(tmp_path / "keras")
    keras_model = keras_ns["main"](epochs=2)

    torch_steps, torch_logs = [], []
    _orig_torch_build, loss_fn, fit = torch_ns["build_mlp"], torch_ns["sparse_categorical_crossentropy"], \
        torch_ns["fit"]

    def torch_build(num_classes=3):
        module = _orig_torch_build(num_classes)
        port_weights(initial, module, result.models[0])
        for m in module.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        return module

    def recording_loss(output, target):
        loss = loss_fn(output, target)
        if torch.is_grad_enabled():                  # training steps (evaluate runs under no_grad)
            torch_steps.append(loss.item())
        return loss

    def fit_in_order(*args, **kwargs):
        history = fit(*args, shuffle=False, verbose=0, **kwargs)
        torch_logs.append(history.history)
        return history

    torch_ns.update(build_mlp=torch_build, sparse_categorical_crossentropy=recording_loss, fit=fit_in_order)
    (tmp_path / "torch").mkdir()
    monkeypatch.chdir(tmp_path / "torch")
    torch_model = torch_ns["main"](epochs=2)

    assert len(keras_steps) == len(torch_steps) == 16          # 2 epochs x 8 batches (230 training samples)
    _assert_close(keras_steps, torch_steps, "per-step loss")
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        _assert_close(keras_logs[0][name], torch_logs[0][name], name)
    reference = _orig_torch_build()                         # the trained Keras weights, ported
    port_weights(keras_model, reference, result.models[0])
    saved = torch.load(tmp_path / "torch" / "mlp.weights.h5")   # what the translated script saved
    assert set(saved) == set(reference.state_dict()) and (tmp_path / "keras" / "mlp.weights.h5").exists()
    for name, value in reference.state_dict().items():
        _assert_close(value.numpy(), saved[name].numpy(), name)
        assert torch.equal(saved[name], torch_model.state_dict()[name])     # main() returns what it saved
    assert np.isfinite(keras_steps).all()


# ---- torch -> Keras: the canonical PyTorch loop becomes compile + train_on_batch --------------------------------

TORCH_MODEL = """import torch
from torch import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, {out})

    def forward(self, x):
        return {final}(self.fc2(torch.tanh(self.fc1(x))))
"""

TORCH_TRAIN = """

def train(model, batches, epochs=3):
    optimizer = {optimizer}
    criterion = {loss}
    losses = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in batches:
            optimizer.zero_grad()
            output = model(xb)
            loss = criterion(output, yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def predict(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    return out
"""

TORCH_CASES = [
    pytest.param(3, "", "optim.Adam(model.parameters(), lr=0.01)", "nn.CrossEntropyLoss()", "sparse", id="adam-ce"),
    pytest.param(1, "", "optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.1, amsgrad=True)",
                 "nn.BCEWithLogitsLoss()", "binary", id="adamw-bce-logits"),
    pytest.param(1, "torch.sigmoid", "optim.SGD(model.parameters(), lr=0.2)", "nn.BCELoss()", "binary",
                 id="sgd-bce"),
    pytest.param(2, "", "optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)", "nn.MSELoss()",
                 "regression", id="sgd-nesterov-mse"),
    pytest.param(2, "", "optim.Adam(model.parameters(), 0.01, betas=(0.8, 0.99), eps=1e-6)",
                 "nn.HuberLoss(delta=0.5)", "regression", id="adam-huber"),
    pytest.param(2, "", "optim.SGD(model.parameters(), lr=0.1, momentum=0.5)", "nn.L1Loss()", "regression",
                 id="sgd-l1"),
]


@pytest.mark.parametrize("out,final,optimizer,loss,data", TORCH_CASES)
def test_torch_training_loop_matches_keras(out, final, optimizer, loss, data):
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    import numpy as np
    from translator.verify.port_torch import port_weights_to_keras

    source = TORCH_MODEL.format(out=out, final=final) + TORCH_TRAIN.format(optimizer=optimizer, loss=loss)
    result = translate_source(source, to="keras")
    assert not [f for f in result.findings if f.needs_attention], [f.format() for f in result.findings]
    assert "model.compile(optimizer=optimizer, loss=criterion)" in result.code
    assert "loss = model.train_on_batch(xb, yb)" in result.code and "backward" not in result.code
    x, y = _data(data, n=24, seed=1)
    if data == "binary":
        y = y.reshape(-1, 1)
    torch_ns, keras_ns = _exec(source, "torch_loop"), _exec(result.code, "keras_loop")
    torch.manual_seed(0)
    torch_model, keras_model, fresh = torch_ns["Net"](), keras_ns["Net"](), keras_ns["Net"]()
    keras_model(x[:1]), fresh(x[:1])                                # build
    port_weights_to_keras(torch_model, keras_model, result.models[0])
    batches = [(torch.from_numpy(x[i:i + 8]), torch.from_numpy(y[i:i + 8])) for i in range(0, 24, 8)]
    keras_losses = keras_ns["train"](keras_model, batches)          # the DataLoader's torch tensors, as is
    torch_losses = torch_ns["train"](torch_model, batches)
    assert len(torch_losses) == len(keras_losses) == 9
    _assert_close(torch_losses, keras_losses, "per-step loss")
    port_weights_to_keras(torch_model, fresh, result.models[0])     # the trained torch weights
    for i, (a, b) in enumerate(zip(fresh.get_weights(), keras_model.get_weights())):
        _assert_close(np.asarray(a), np.asarray(b), f"weight {i}")
    assert torch_losses[0] != torch_losses[-1]
    assert "out = model(x, training=False)" in result.code and "no_grad" not in result.code
    _assert_close(torch_ns["predict"](torch_model, torch.from_numpy(x)).numpy(),
                  np.asarray(keras_ns["predict"](keras_model, torch.from_numpy(x))), "predictions")


def test_torch_loop_not_canonical_is_reported():
    """The model output used beyond the loss (train_on_batch returns the loss only): kept, FWT104."""
    source = TORCH_MODEL.format(out=3, final="") + """

def train(model, batches):
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    correct = 0
    for xb, yb in batches:
        optimizer.zero_grad()
        output = model(xb)
        loss = criterion(output, yb)
        loss.backward()
        optimizer.step()
        correct += (output.argmax(1) == yb).sum().item()
    return correct
"""
    result = translate_source(source, to="keras")
    findings = [f for f in result.findings if f.code == "FWT104"]
    assert len(findings) == 1 and "used beyond the loss" in findings[0].message
    assert "# fwtranslate FWT104: training loop not translated" in result.code
    assert "loss.backward()" in result.code and "model.train_on_batch" not in result.code


# ---- translation only: what is generated, what is refused --------------------------------------------------------

def _translate(body: str):
    source = HEADER + MODELS["classes"].format(activation='"softmax"') + body
    result = translate_source(source)
    compile(result.code, "out.py", "exec")
    return result


def test_generated_file_is_plain_torch():
    result = _translate("""
def train(x, y):
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2)
    model.save_weights("w.weights.h5")
    model.load_weights("w.weights.h5")
    return history.history["loss"], model.predict(x)
""")
    code = result.code
    assert "import keras" not in code and "from keras" not in code
    assert "keras" not in code[code.index("def train("):]
    assert "optimizer = KerasAdam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-07)" in code
    assert "loss_fn = sparse_categorical_crossentropy" in code and "nn.CrossEntropyLoss" not in code
    assert "torch.save(model.state_dict(), \"w.weights.h5\")" in code
    assert "model.load_state_dict(torch.load(\"w.weights.h5\"))" in code
    assert code.count("def fit(") == 1 and code.count("class KerasAdam(") == 1
    assert not [f for f in result.findings if f.needs_attention]


def test_optimizer_loss_and_schedule_through_variables_are_folded():
    result = _translate("""
def train(x, y):
    model = build_model()
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])
    opt = keras.optimizers.Adam(learning_rate=schedule)   # used once: folded
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return model.fit(x, y, epochs=2, verbose=0)
""")
    code = result.code[result.code.index("def train("):]
    assert "schedule = " not in code and "keras" not in code
    assert "opt = KerasAdam(model.parameters(), lr=0.1," in code
    assert "scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: [0.1, 0.01, 0.001][sum(step > b " \
           "for b in [10, 20])] / 0.1)" in code
    assert "return fit(model, opt, loss_fn, x, y, epochs=2, scheduler=scheduler, target_dtype=torch.long, " \
           "verbose=0)" in code


def test_helper_names_do_not_clash_with_the_file():
    result = _translate("""
def fit(data):            # the user's own fit
    return data


def train(x, y):
    model = build_model()
    model.compile(optimizer="sgd", loss="mse")
    return model.fit(x, y)
""")
    assert "def fit(data):" in result.code and "def fit_torch(model, optimizer" in result.code
    assert "return fit_torch(model, optimizer, loss_fn, x, y)" in result.code
    assert "val = evaluate(model, loss_fn" in result.code          # the helpers call each other by their names


REFUSED = [
    ('model.compile(optimizer="adadelta", loss="mse")', "optimizer 'adadelta' has no PyTorch translation"),
    ('model.compile(optimizer="adam", loss="kld")', "loss 'kld' has no PyTorch translation"),
    ('model.compile(optimizer=keras.optimizers.Adam(clipnorm=1.0), loss="mse")', "clipnorm=1.0"),
    ('model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 5, 0.5), '
     'momentum=0.9), loss="mse")', "SGD with momentum and a learning-rate schedule"),
    ('model.compile(optimizer="adam", loss="mse", metrics=["AUC"])', "metric `\"AUC\"` has no PyTorch translation"),
    ('model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1))',
     "label_smoothing"),
    ('model.compile(optimizer="adam", loss="mse")\n    model.fit(dataset, epochs=3)', "fit() on a dataset"),
    ('model.compile(optimizer="adam", loss="mse")\n    model.fit(x, y, class_weight={0: 1.0, 1: 2.0})',
     "class_weight"),
    ('model.compile(optimizer="adam", loss="mse")\n    model.fit(x, y, callbacks=[keras.callbacks.TensorBoard()])',
     "callback `keras.callbacks.TensorBoard()` has no translation"),
    ("model.fit(x, y)", "no translated model.compile(...) before it"),
]


@pytest.mark.parametrize("statements,message", REFUSED, ids=[r[1][:30] for r in REFUSED])
def test_untranslatable_training_code_is_kept_as_a_comment(statements, message):
    result = _translate(f"""
def train(x, y, dataset):
    model = build_model()
    {statements}
    return model
""")
    findings = [f for f in result.findings if f.code == "FWT104"]
    assert findings and message in findings[-1].message, [f.format() for f in result.findings]
    assert "# fwtranslate FWT104: Keras model API" in result.code
    last = statements.splitlines()[-1].strip()
    assert f"    # {last}" in result.code                       # the original, kept as a comment


def test_keras2_optimizer_spellings():
    source = """from tf_keras.models import Sequential
from tf_keras.layers import Dense
from tf_keras.optimizers import legacy

model = Sequential([Dense(3, input_dim=4)])
model.compile(optimizer=legacy.SGD(lr=0.05, momentum=0.9), loss="mse")
model.fit(x, y)
"""
    result = translate_source(source)
    assert "optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)" in result.code
    assert "fit(model, optimizer, loss_fn, x, y)" in result.code and not result.findings


def test_torch_save_load_and_modes():
    source = TORCH_MODEL.format(out=3, final="") + """

model = Net()


def restore(path):
    model.load_state_dict(torch.load(path))
    model.eval()
    return model


def store(net, path):
    net.train()
    torch.save(net.state_dict(), path)
    torch.save(model.state_dict(), "net.pt")
"""
    result = translate_source(source, to="keras")
    code = result.code
    assert "    model.load_weights(path)\n    return model" in code
    assert "    net.save_weights(path)\n    model.save_weights(\"net.weights.h5\")" in code
    assert "torch" not in code and "train()" not in code
    warnings = [f for f in result.findings if f.code == "FWT402"]
    assert len(warnings) == 3 and "'net.pt' renamed 'net.weights.h5'" in warnings[-1].message


def test_torch_cnn_loop_permutes_the_data():
    """A channels-first CNN becomes a channels-last Keras model: its NCHW batches are transposed."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    import numpy as np
    from translator.verify.port_torch import port_weights_to_keras

    source = CNN_LOOP
    result = translate_source(source, to="keras")
    assert not [f for f in result.findings if f.needs_attention], [f.format() for f in result.findings]
    assert "loss = model.train_on_batch(keras.ops.transpose(xb, (0, 2, 3, 1)), yb)" in result.code
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 2, 5, 5)).astype("float32"), rng.integers(0, 3, size=(16,))
    batches = [(torch.from_numpy(x[i:i + 8]), torch.from_numpy(y[i:i + 8])) for i in (0, 8)]
    torch_ns, keras_ns = _exec(source, "torch_cnn"), _exec(result.code, "keras_cnn")
    torch.manual_seed(0)
    torch_model, keras_model = torch_ns["Net"](), keras_ns["Net"]()
    keras_model(np.transpose(x[:1], (0, 2, 3, 1)))
    port_weights_to_keras(torch_model, keras_model, result.models[0])
    torch_ns["Net"], keras_ns["Net"] = (lambda: torch_model), (lambda: keras_model)
    _, torch_losses = torch_ns["train"](batches)
    _, keras_losses = keras_ns["train"](batches)
    assert len(torch_losses) == 6
    _assert_close(torch_losses, keras_losses, "per-step loss")


CNN_LOOP = """import torch
from torch import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(27, 3)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(torch.flatten(x, 1))


def train(batches, epochs=3):
    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        for xb, yb in batches:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model, losses
"""


def test_compile_in_the_builder_and_calls_inside_expressions():
    source = HEADER + """

def build_model(lr=0.001):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["acc"])
    return model


model = build_model()
model.fit(x, y, epochs=2)
print(model.evaluate(x, y), model.predict(x).argmax(-1))
h = model.fit(x, y).history
"""
    result = translate_source(source)
    code = result.code
    assert "    model.optimizer = KerasAdam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-07)\n" in code
    assert ("fit(model, model.optimizer, model.loss_fn, x, y, epochs=2, metrics=model.metrics, "
            "target_dtype=torch.long)\n") in code
    assert ("print(evaluate(model, model.loss_fn, x, y, metrics=model.metrics, target_dtype=torch.long), "
            "predict(model, x).argmax(-1))") in code
    assert "# h = model.fit(x, y).history" in code
    assert [f.code for f in result.findings] == ["FWT104"]


def test_torch_module_level_loop():
    """A module-level script: enumerate(loader), forward before zero_grad, `loss.item()` after the loop,
    a weights path in a variable (Keras needs .weights.h5: said, not guessed)."""
    source = (TORCH_MODEL.format(out=2, final="") + """

model = Net()
optimizer = optim.AdamW(model.parameters())
criterion = nn.MSELoss()
for epoch in range(3):
    running = 0.0
    for i, (inputs, targets) in enumerate(loader):
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item() * inputs.size(0)
    print(epoch, running, loss.item())
torch.save(model.state_dict(), PATH)
""")
    result = translate_source(source, to="keras")
    code = result.code
    assert ("optimizer = TorchAdamW(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-08, "
            "weight_decay=0.01)\ncriterion = keras.losses.MeanSquaredError()\n"
            "model.compile(optimizer=optimizer, loss=criterion)\n") in code
    assert "        loss = model.train_on_batch(inputs, targets)\n        running += loss * inputs.size(0)\n" in code
    assert "    print(epoch, running, loss)\nmodel.save_weights(PATH)\n" in code
    save_line = source.splitlines().index("torch.save(model.state_dict(), PATH)") + 1
    assert [(f.code, f.line) for f in result.findings] == [("FWT402", save_line)]
