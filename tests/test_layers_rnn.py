"""Numerical tests of the recurrent family against Keras 3 (and tf_keras): SimpleRNN, LSTM, GRU with
return_sequences / return_state / go_backwards / initial_state, stacked RNNs, the cell-level API
(RNN(cell), lists of cells, StackedRNNCells), Bidirectional (every merge_mode, sequences or last
output, return_state, backward_layer), TimeDistributed; and the findings for what torch cannot compute.

Every case goes through `check` (tests/test_layers_numeric.py): all weights random, both layouts,
max |keras - torch| <= 1e-5 * max(1, max |keras|), every Keras weight ported.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from test_layers_numeric import HEADER, case, check, functional, seq

from translator.api import translate_source
from translator.verify.compare import random_input

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings(
    "ignore:`build\\(\\)` was called on layer:UserWarning",   # Keras 3 subclassed model.build()
    "ignore:Argument `input_length` is deprecated:UserWarning",
)


def run(shape, body, outputs="out", x=None):
    return check(functional(shape, body, outputs=outputs), [x if x is not None else seq(*shape)])


# ---- SimpleRNN, LSTM, GRU: one layer ---------------------------------------------------------------

RECURRENT = [
    case(f"{cls}-{name}", cls, args)
    for cls in ("SimpleRNN", "LSTM", "GRU")
    for name, args in [
        ("last", "5"),
        ("sequences", "5, return_sequences=True"),
        ("go-backwards-last", "5, go_backwards=True"),
        ("go-backwards-sequences", "5, return_sequences=True, go_backwards=True"),
        ("no-bias-sequences", "5, use_bias=False, return_sequences=True"),
    ]
] + [
    case("SimpleRNN-relu-sequences", "SimpleRNN", "4, activation='relu', return_sequences=True"),
    case("SimpleRNN-relu-positional", "SimpleRNN", "4, 'relu'"),
    case("SimpleRNN-relu-function-reference", "SimpleRNN", "4, activation=keras.activations.relu"),
    case("LSTM-dropout-inactive-at-inference", "LSTM", "5, dropout=0.3, recurrent_dropout=0.2"),
    case("GRU-unroll", "GRU", "5, unroll=True, return_sequences=True"),
]


@pytest.mark.parametrize("cls, args", RECURRENT)
def test_recurrent(cls, args):
    run((6, 4), f"out = layers.{cls}({args})(x)")


STATE = [
    case(f"{cls}-{name}", cls, args)
    for cls in ("SimpleRNN", "LSTM", "GRU")
    for name, args in [
        ("last", "5, return_state=True"),
        ("sequences-go-backwards", "5, return_sequences=True, return_state=True, go_backwards=True"),
    ]
]


@pytest.mark.parametrize("cls, args", STATE)
def test_return_state(cls, args):
    """Several outputs unpacked from one call: `out, h, c = layers.LSTM(8, return_state=True)(x)`."""
    states = "h, c" if cls == "LSTM" else "h"
    run((6, 4), f"out, {states} = layers.{cls}({args})(x)", outputs=f"[out, {states}]")


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
def test_encoder_decoder_initial_state(cls):
    """A seq2seq encoder's states start the decoder (`initial_state=` call argument)."""
    states = "h, c" if cls == "LSTM" else "h"
    code = HEADER + textwrap.dedent(f"""
        enc_in = keras.Input(shape=(6, 4))
        dec_in = keras.Input(shape=(5, 3))
        _, {states} = layers.{cls}(7, return_state=True)(enc_in)
        dec = layers.{cls}(7, return_sequences=True)(dec_in, initial_state=[{states}])
        out = layers.Dense(2)(dec)
        model = keras.Model([enc_in, dec_in], out)
    """)
    check(code, [seq(6, 4), seq(5, 3, seed=1)])


def test_gru_initial_state_single_tensor():
    code = HEADER + textwrap.dedent("""
        inp = keras.Input(shape=(6, 4))
        h0 = keras.Input(shape=(5,))
        out = layers.GRU(5)(inp, initial_state=h0)
        model = keras.Model([inp, h0], out)
    """)
    check(code, [seq(6, 4), random_input((2, 5), seed=2)])


# ---- stacked RNNs --------------------------------------------------------------------------------

STACKS = [
    case("lstm-gru-simple-rnn", "x = layers.LSTM(6, return_sequences=True)(x)\n"
         "x = layers.GRU(5, return_sequences=True, go_backwards=True)(x)\nout = layers.SimpleRNN(3)(x)"),
    case("conv1d-lstm-dense", "x = layers.Conv1D(5, 3, padding='same')(x)\n"
         "x = layers.LSTM(6, return_sequences=True)(x)\nout = layers.Dense(2)(x)"),
    case("bidirectional-bidirectional-dense",
         "x = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)\n"
         "x = layers.Bidirectional(layers.GRU(4))(x)\nout = layers.Dense(2)(x)"),
]


@pytest.mark.parametrize("body", STACKS)
def test_stacked(body):
    run((7, 4), body)


def test_sequential_text_model():
    code = HEADER + textwrap.dedent("""
        model = keras.Sequential([
            keras.Input(shape=(7,), dtype='int32'),
            layers.Embedding(20, 6),
            layers.Bidirectional(layers.LSTM(8, return_sequences=True)),
            layers.SimpleRNN(4, return_sequences=True),
            layers.TimeDistributed(layers.Dense(3)),
        ])
    """)
    check(code, [random_input((2, 7), "int32", 0, 20)])


def test_builder_with_symbolic_sizes():
    """Sizes given by builder parameters stay symbolic in the torch constructors."""
    code = HEADER + textwrap.dedent("""
        def build_tagger(units=6, tags=3, bias=True):
            return keras.Sequential([
                keras.Input(shape=(7, 4)),
                layers.Bidirectional(layers.GRU(units, use_bias=bias, return_sequences=True), merge_mode='sum'),
                layers.RNN([layers.LSTMCell(units), layers.LSTMCell(units)], return_sequences=True),
                layers.TimeDistributed(layers.Dense(tags)),
            ])
    """)
    result = check(code, [seq(7, 4)], entry="build_tagger(units=5, tags=2, bias=False)",
                   model_name="build_tagger")
    assert "nn.GRU(4, units, bias=bias," in result["native"].result.code
    sym = HEADER + textwrap.dedent("""
        def build(seqs=True, merge='sum'):
            return keras.Sequential([keras.Input(shape=(7, 4)), layers.Bidirectional(layers.GRU(3), merge_mode=merge)])

        def build2(seqs=True):
            return keras.Sequential([keras.Input(shape=(7, 4)), layers.GRU(3, return_sequences=seqs)])
    """)
    messages = [f.message for f in translate_source(sym).findings]
    assert any("merge_mode=merge must be a constant" in m for m in messages), messages
    assert any("return_sequences=seqs must be a constant" in m for m in messages), messages


def test_subclassed_model():
    code = HEADER + textwrap.dedent("""
        class Tagger(keras.Model):
            def __init__(self):
                super().__init__()
                self.encoder = layers.Bidirectional(layers.GRU(6, return_sequences=True), merge_mode='ave')
                self.rnn = layers.RNN(layers.LSTMCell(5), return_sequences=True, go_backwards=True)
                self.head = layers.TimeDistributed(layers.Dense(3))

            def call(self, x):
                return self.head(self.rnn(self.encoder(x)))


        model = Tagger()
        model.build((None, 6, 4))
    """)
    check(code, [seq(6, 4)], model_name="Tagger")


def test_subclassed_seq2seq():
    """return_state and initial_state inside `call`."""
    code = HEADER + textwrap.dedent("""
        class Seq2Seq(keras.Model):
            def __init__(self):
                super().__init__()
                self.encoder = layers.LSTM(6, return_state=True)
                self.decoder = layers.LSTM(6, return_sequences=True)
                self.head = layers.Dense(3)

            def call(self, x):
                _, h, c = self.encoder(x)
                y = self.decoder(x, initial_state=[h, c])
                return self.head(y)


        model = Seq2Seq()
        model.build((None, 6, 4))
    """)
    check(code, [seq(6, 4)], model_name="Seq2Seq")


def test_subclassed_model_cell_attribute():
    """A cell held in an attribute and given to RNN: the cell builds no module, the RNN does."""
    code = HEADER + textwrap.dedent("""
        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.cell = layers.GRUCell(6)
                self.rnn = layers.RNN(self.cell, return_sequences=True)
                self.out = layers.Bidirectional(layers.LSTM(3), merge_mode='mul')

            def call(self, x):
                return self.out(self.rnn(x))


        model = Net()
        model.build((None, 6, 4))
    """)
    check(code, [seq(6, 4)], model_name="Net")


# ---- the cell-level API ------------------------------------------------------------------------------

CELLS = [
    case("lstm-cell", "layers.RNN(layers.LSTMCell(5))"),
    case("gru-cell-sequences", "layers.RNN(layers.GRUCell(5), return_sequences=True)"),
    case("simple-rnn-cell-relu", "layers.RNN(layers.SimpleRNNCell(5, activation='relu'), return_sequences=True)"),
    case("lstm-cell-no-bias-go-backwards", "layers.RNN(layers.LSTMCell(5, use_bias=False), go_backwards=True)"),
    case("list-of-lstm-cells", "layers.RNN([layers.LSTMCell(5), layers.LSTMCell(5)], return_sequences=True)"),
    case("stacked-gru-cells", "layers.RNN(layers.StackedRNNCells([layers.GRUCell(4), layers.GRUCell(4), "
         "layers.GRUCell(4)]))"),
    case("stacked-simple-rnn-cells-go-backwards",
         "layers.RNN(layers.StackedRNNCells([layers.SimpleRNNCell(4), layers.SimpleRNNCell(4)]), "
         "return_sequences=True, go_backwards=True)"),
]


def test_rnn_named_cell():
    run((6, 4), "cell = layers.LSTMCell(5)\nout = layers.RNN(cell, return_sequences=True)(x)")


@pytest.mark.parametrize("layer", CELLS)
def test_rnn_cells(layer):
    run((6, 4), f"out = {layer}(x)")


@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell"])
def test_rnn_cell_return_state(cell):
    states = "h, c" if cell == "LSTMCell" else "h"
    run((6, 4), f"out, {states} = layers.RNN(layers.{cell}(5), return_state=True)(x)", outputs=f"[out, {states}]")


# ---- Bidirectional ------------------------------------------------------------------------------------

BIDIRECTIONAL = [
    case(f"{cls}-{merge}-{'sequences' if sequences else 'last'}", cls, merge, sequences)
    for cls in ("LSTM", "GRU", "SimpleRNN")
    for merge in ("concat", "sum", "mul", "ave", None)
    for sequences in (False, True)
]


@pytest.mark.parametrize("cls, merge, sequences", BIDIRECTIONAL)
def test_bidirectional(cls, merge, sequences):
    """The backward half of the last output is the backward pass's final state, not out[:, -1]."""
    outputs = "[a, b]" if merge is None else "out"
    target = "a, b" if merge is None else "out"
    run((6, 4), f"{target} = layers.Bidirectional(layers.{cls}(5, return_sequences={sequences}), "
                f"merge_mode={merge!r})(x)", outputs=outputs)


BIDIRECTIONAL_MORE = [
    case("lstm-return-state", "out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(5, return_state=True))(x)",
         "[out, fh, fc, bh, bc]"),
    case("gru-sequences-return-state-merge-none",
         "a, b, fh, bh = layers.Bidirectional(layers.GRU(5, return_sequences=True, return_state=True), "
         "merge_mode=None)(x)", "[a, b, fh, bh]"),
    case("lstm-last-return-state-merge-none",
         "a, b, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(5, return_state=True), merge_mode=None)(x)",
         "[a, b, fh, fc, bh, bc]"),
    case("simple-rnn-sequences-return-state-ave",
         "out, fh, bh = layers.Bidirectional(layers.SimpleRNN(5, return_sequences=True, return_state=True), "
         "merge_mode='ave')(x)", "[out, fh, bh]"),
    case("lstm-backward-layer", "out = layers.Bidirectional(layers.LSTM(5, return_sequences=True), "
         "backward_layer=layers.LSTM(5, return_sequences=True, go_backwards=True))(x)", "out"),
    case("rnn-of-lstm-cell", "out = layers.Bidirectional(layers.RNN(layers.LSTMCell(5)), merge_mode='sum')(x)",
         "out"),
    case("gru-no-bias-positional-merge", "out = layers.Bidirectional(layers.GRU(5, use_bias=False), 'mul')(x)",
         "out"),
]


@pytest.mark.parametrize("body, outputs", BIDIRECTIONAL_MORE)
def test_bidirectional_more(body, outputs):
    run((6, 4), body, outputs=outputs)


def test_bidirectional_initial_state():
    """initial_state: the forward layer's states, then the backward layer's (Keras' order)."""
    code = HEADER + textwrap.dedent("""
        inp = keras.Input(shape=(6, 4))
        fh = keras.Input(shape=(5,))
        fc = keras.Input(shape=(5,))
        bh = keras.Input(shape=(5,))
        bc = keras.Input(shape=(5,))
        out = layers.Bidirectional(layers.LSTM(5))(inp, initial_state=[fh, fc, bh, bc])
        model = keras.Model([inp, fh, fc, bh, bc], out)
    """)
    check(code, [seq(6, 4)] + [random_input((2, 5), seed=i) for i in range(1, 5)])


# ---- TimeDistributed --------------------------------------------------------------------------------

def test_time_distributed_dense():
    run((6, 4), "out = layers.TimeDistributed(layers.Dense(3, activation='tanh'))(x)")


def test_time_distributed_conv_stack():
    """Conv2D / pooling / Flatten per frame (time folded into the batch), then an LSTM over frames."""
    body = """
        f = layers.TimeDistributed(layers.Conv2D(4, 3, padding='same', activation='relu'))(x)
        f = layers.TimeDistributed(layers.MaxPooling2D())(f)
        f = layers.TimeDistributed(layers.Conv2D(3, 2, strides=2))(f)
        g = layers.TimeDistributed(layers.Flatten())(f)
        out = layers.LSTM(4)(g)
    """
    check(functional((5, 8, 8, 3), body, outputs="[f, out]"), [random_input((2, 5, 8, 8, 3), seed=4)])


def test_time_distributed_hierarchical_rnn():
    """An LSTM over the words of each sentence (time folded into the batch), then a GRU over sentences;
    and a BatchNormalization per step."""
    body = """
        w = layers.TimeDistributed(layers.LSTM(5))(x)
        w = layers.TimeDistributed(layers.BatchNormalization())(w)
        out = layers.GRU(3)(w)
    """
    check(functional((3, 6, 4), body, outputs="[w, out]"), [random_input((2, 3, 6, 4), seed=7)])


def test_time_distributed_conv1d():
    run((5, 7, 3), "out = layers.TimeDistributed(layers.Conv1D(4, 3))(x)",
        x=random_input((2, 5, 7, 3), seed=6))


# ---- legacy Keras 2 (tf_keras) ---------------------------------------------------------------------

LEGACY = [
    case("bidirectional-gru-tagger", """
        import tf_keras as keras
        from tf_keras.layers import Bidirectional, GRU, TimeDistributed, Dense, Embedding

        model = keras.Sequential()
        model.add(Embedding(30, 8, input_length=9))
        model.add(Bidirectional(GRU(6, return_sequences=True)))
        model.add(TimeDistributed(Dense(4, activation='softmax')))
    """, [random_input((2, 9), "int32", 0, 30)]),
    case("lstm-encoder-decoder", """
        from tf_keras.layers import Input, LSTM, SimpleRNN, Dense
        from tf_keras.models import Model

        enc = Input(shape=(6, 4))
        dec = Input(shape=(5, 4))
        _, h, c = LSTM(7, return_state=True)(enc)
        y = LSTM(7, return_sequences=True, go_backwards=True)(dec, initial_state=[h, c])
        y = SimpleRNN(3, activation='relu')(y)
        model = Model([enc, dec], Dense(2)(y))
    """, [seq(6, 4), seq(5, 4, seed=1)]),
    case("sequential-bidirectional-input-shape", """
        import tf_keras as keras
        from tf_keras.layers import Bidirectional, LSTM, Dense

        model = keras.Sequential([
            Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)),
            Bidirectional(LSTM(10)),
            Dense(5, activation="softmax"),
        ])
    """, [seq(5, 10)]),
    case("rnn-cells-bidirectional-concat", """
        import tf_keras as keras
        from tf_keras import layers

        inp = keras.Input(shape=(6, 4))
        x = layers.RNN([layers.GRUCell(5), layers.GRUCell(5)], return_sequences=True)(inp)
        out = layers.Bidirectional(layers.LSTM(3))(x)
        model = keras.Model(inp, out)
    """, [seq(6, 4)]),
]


@pytest.mark.parametrize("code, inputs", LEGACY)
def test_legacy_tf_keras(code, inputs):
    pytest.importorskip("tf_keras")
    check(code, inputs)


# ---- what is reported instead of translated ---------------------------------------------------------

FINDINGS = [
    case("gru-reset-after-false", "out = layers.GRU(5, reset_after=False)(x)", "FWT202", "reset_after=False"),
    case("gru-cell-reset-after-false", "out = layers.RNN(layers.GRUCell(5, reset_after=False))(x)", "FWT202",
         "reset_after=False"),
    case("bidirectional-gru-reset-after-false",
         "out = layers.Bidirectional(layers.GRU(5, reset_after=False))(x)", "FWT202", "reset_after=False"),
    case("conv-lstm-2d", "x = layers.Reshape((6, 2, 2, 1))(x)\nout = layers.ConvLSTM2D(2, 3)(x)", "FWT101",
         "ConvLSTM2D"),
    case("lstm-sigmoid-activation", "out = layers.LSTM(5, activation='sigmoid')(x)", "FWT202", "activation"),
    case("simple-rnn-linear-activation", "out = layers.SimpleRNN(5, activation=None)(x)", "FWT202", "activation"),
    case("stateful", "out = layers.LSTM(5, stateful=True)(x)", "FWT202", "stateful"),
    case("stacked-cells-of-different-sizes", "out = layers.RNN([layers.LSTMCell(5), layers.LSTMCell(3)])(x)",
         "FWT202", "stacked cells"),
    case("stacked-cells-of-different-kinds", "out = layers.RNN([layers.LSTMCell(5), layers.GRUCell(5)])(x)",
         "FWT202", "stacked cells"),
    case("bidirectional-of-stacked-cells",
         "out = layers.Bidirectional(layers.RNN([layers.GRUCell(5), layers.GRUCell(5)]))(x)", "FWT202",
         "stacked cells"),
    case("bidirectional-of-dense", "out = layers.Bidirectional(layers.Dense(5))(x)", "FWT202", "wrapped layer"),
    case("backward-layer-of-other-size", "out = layers.Bidirectional(layers.LSTM(5), "
         "backward_layer=layers.LSTM(4, go_backwards=True))(x)", "FWT202", "backward_layer"),
    case("mask-call-argument", "out = layers.LSTM(5)(x, mask=None)", "FWT201", "mask"),
]


@pytest.mark.parametrize("body, code, words", FINDINGS)
def test_findings(body, code, words):
    """The model is left as it was, with a finding that says why (never a silent mismatch)."""
    source = functional((6, 4), body)
    result = translate_source(source)
    found = [f for f in result.findings if f.code == code]
    assert found and words in found[0].message, [f.format() for f in result.findings]
    assert _without_finding_comments(result.code) == source.strip(), result.code


def _without_finding_comments(code: str) -> str:
    """The output with the `# fwtranslate FWTnnn: ...` comment lines removed."""
    return "\n".join(line for line in code.splitlines()
                     if not line.lstrip().startswith(("# fwtranslate", "#   "))).strip()


CELL_FINDINGS = [
    case("custom-cell-with-state-size", """
        class MinimalCell(layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.state_size = units

            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units))

            def call(self, inputs, states):
                h = keras.ops.matmul(inputs, self.kernel) + states[0]
                return h, [h]


        inp = keras.Input(shape=(6, 4))
        out = layers.RNN(MinimalCell(5))(inp)
        model = keras.Model(inp, out)
    """, "FWT202", "custom cell"),
    case("embedding-mask-zero-upstream", """
        inp = keras.Input(shape=(6,), dtype='int32')
        x = layers.Embedding(20, 4, mask_zero=True)(inp)
        out = layers.LSTM(5)(x)
        model = keras.Model(inp, out)
    """, "FWT202", "mask_zero"),
]


@pytest.mark.parametrize("body, code, words", CELL_FINDINGS)
def test_model_findings(body, code, words):
    result = translate_source(HEADER + textwrap.dedent(body))
    found = [f for f in result.findings if f.code == code]
    assert found and words in found[0].message, [f.format() for f in result.findings]
    assert "model = keras.Model(inp, out)" in result.code and "nn.LSTM" not in result.code, result.code


def test_dropout_is_reported():
    result = translate_source(functional((6, 4), "out = layers.Bidirectional(layers.LSTM(5, dropout=0.2))(x)"))
    notes = [f for f in result.findings if f.code == "FWT203"]
    assert notes and "dropout=0.2" in notes[0].message, [f.format() for f in result.findings]


def test_bidirectional_last_output_is_not_out_minus_one():
    """Guard against the classic bug: the translation must not read the backward half at t = -1."""
    result = translate_source(functional((6, 4), "out = layers.Bidirectional(layers.GRU(5))(x)"))
    assert "[:, -1]" not in result.code and ".transpose(0, 1).flatten(1)" in result.code, result.code


def test_port_pairs_bidirectional_weights_with_reverse_parameters():
    """The forward layer's kernels go to weight_*_l0, the backward layer's to weight_*_l0_reverse."""
    from translator.verify.compare import exec_source
    from translator.verify.port import port_weights

    source = functional((6, 4), "out = layers.Bidirectional(layers.LSTM(3))(x)")
    keras_model = exec_source(source, "k")["model"]
    result = translate_source(source)
    torch_model = exec_source(result.code, "t")["model"]
    done = dict((t, k) for k, t in port_weights(keras_model, torch_model, result.model("model")))
    assert set(done) == {f"bidirectional.{n}{s}" for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0",
                                                           "bias_hh_l0") for s in ("", "_reverse")}
    fwd = keras_model.layers[1].forward_layer.cell.kernel.numpy()
    bwd = keras_model.layers[1].backward_layer.cell.kernel.numpy()
    np.testing.assert_array_equal(torch_model.bidirectional.weight_ih_l0.detach().numpy(), fwd.T)
    np.testing.assert_array_equal(torch_model.bidirectional.weight_ih_l0_reverse.detach().numpy(), bwd.T)
