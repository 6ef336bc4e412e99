"""PyTorch -> Keras: recurrent layers and cells, numerically.

Each case builds a torch module with random weights, translates it to Keras, ports the weights and
compares every output (final states included) with the harness of tests/test_torch_to_keras.py:
max |torch - keras| <= 1e-5 * max(1, max |torch|).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from test_torch_to_keras import ATOL, _np_inputs, model_source
from translator import translate_source
from translator.findings import ERROR

B, T, F, H = 2, 5, 6, 8
SEQ = (B, T, F)
TSEQ = (T, B, F)          # time-major

# (id, init, forward, forward params, input shapes, expected Keras snippets)
CASES = [
    ("lstm-2layer-bidir-states",
     "self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True)",
     "out, (h_n, c_n) = self.lstm(x)\nreturn out, torch.cat((h_n[-2], h_n[-1]), dim=1), c_n",
     "x", [SEQ], ["layers.Bidirectional(layers.LSTM(8, return_sequences=True, return_state=True))",
                  "self.lstm_drop = layers.Dropout(0.1)", "self.lstm_l1(self.lstm_drop(out))"]),
    ("gru-2layer-time-major", "self.gru = nn.GRU(6, 8, num_layers=2)",
     "out, h = self.gru(x)\nreturn out, h[-1], h",
     "x", [TSEQ], ["keras.ops.transpose(x, (1, 0, 2))", "out = keras.ops.transpose(out, (1, 0, 2))"]),
    ("gru-bidir-initial-state", "self.gru = nn.GRU(6, 8, batch_first=True, bidirectional=True)",
     "out, h = self.gru(x, h0)\nreturn out, h",
     "x, h0", [SEQ, (2, B, H)], ["initial_state=[h0[0], h0[1]]"]),
    ("lstm-2layer-initial-states", "self.lstm = nn.LSTM(6, 8, 2, batch_first=True)",
     "out, (h, c) = self.lstm(x, (h0, c0))\nreturn out, h, c[0]",
     "x, h0, c0", [SEQ, (2, B, H), (2, B, H)], ["initial_state=[h0[1], c0[1]]"]),
    ("rnn-relu-bidir-2layer-nobias",
     "self.rnn = nn.RNN(6, 8, num_layers=2, nonlinearity='relu', bias=False, bidirectional=True, batch_first=True)",
     "out, h = self.rnn(x)\nreturn out, h",
     "x", [SEQ], ['layers.SimpleRNN(8, activation="relu", use_bias=False, return_sequences=True, return_state=True)']),
    ("rnn-tanh-time-major-h0", "self.rnn = nn.RNN(6, 8)", "out, h = self.rnn(x, h0)\nreturn out, h",
     "x, h0", [TSEQ, (1, B, H)], ["layers.SimpleRNN(8, return_sequences=True, return_state=True)"]),
    ("lstm-3layer-output-only", "self.lstm = nn.LSTM(6, 8, num_layers=3, dropout=0.3, batch_first=True)",
     "return self.lstm(x)[0][:, -1]",
     "x", [SEQ], ["self.lstm_l2(self.lstm_drop(self.lstm_l1(self.lstm_drop(self.lstm(x)))))[:, -1]"]),
    ("gru-states-whole-and-permuted",
     "self.gru = nn.GRU(6, 8, num_layers=2, batch_first=True)\nself.fc = nn.Linear(16, 3)",
     "_, h = self.gru(x)\nreturn self.fc(h.permute(1, 0, 2).reshape(x.size(0), -1)), h[-2:]",
     "x", [SEQ], ["seq, h_l0 = self.gru(x)", "seq, h_l1 = self.gru_l1(seq)"]),
    ("encoder-states-to-decoder",
     "self.enc = nn.GRU(6, 8, num_layers=2, batch_first=True)\nself.dec = nn.GRU(6, 8, num_layers=2, batch_first=True)",
     "_, h = self.enc(x)\nout, h = self.dec(y, h)\nreturn out, h",
     "x, y", [SEQ, (B, 3, F)], ["initial_state=[h_l0]"]),
    ("gru-state-squeezed", "self.gru = nn.GRU(6, 8, batch_first=True)\nself.fc = nn.Linear(8, 2)",
     "_, h = self.gru(x)\nreturn self.fc(h.squeeze(0)), h[0] * 2",
     "x", [SEQ], ["_, h = self.gru(x)", "return self.fc(h), h * 2"]),
    ("lstm-state-tuple-kept",
     "self.a = nn.LSTM(6, 8, batch_first=True)\nself.b = nn.LSTM(8, 8, batch_first=True)",
     "out, hidden = self.a(x)\nout, _ = self.b(out, hidden)\nreturn out, hidden[0], hidden[1]",
     "x", [SEQ], []),
    ("lstm-partial-states", "self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True)",
     "out, (h, _) = self.lstm(x)\nreturn h[-1] + out[:, -1]",
     "x", [SEQ], ["out, h_l0, _ = self.lstm(x)"]),
    ("output-overwrites-initial-state", "self.gru = nn.GRU(6, 8, num_layers=2, batch_first=True)",
     "h, h_n = self.gru(x, h)\nreturn h, h_n",
     "x, h", [SEQ, (2, B, H)], ["seq, h_n_l0 = self.gru(x, initial_state=[h[0]])",
                                "h, h_n_l1 = self.gru_l1(seq, initial_state=[h[1]])"]),
    ("states-assigned-in-if-branches",
     "self.a = nn.GRU(6, 8, batch_first=True)\nself.b = nn.GRU(6, 8, num_layers=2, batch_first=True)",
     "out2, _ = self.b(x)\nif x.shape[1] > 3:\n    out, h = self.a(x)\n    h = torch.cat((h, h), 0)\nelse:\n"
     "    out, h = self.b(x)\nreturn out + out2, h[-1]",
     "x", [SEQ], ["h = keras.ops.expand_dims(h, 0)", "h = keras.ops.stack([h_l0, h_l1])"]),
    # cells stepped in Python loops
    ("lstm-cell-loop", "self.cell = nn.LSTMCell(6, 8)",
     "h = torch.zeros((x.size(0), 8))\nc = torch.zeros((x.size(0), 8))\noutputs = []\n"
     "for t in range(x.size(1)):\n    h, c = self.cell(x[:, t], (h, c))\n    outputs.append(h)\n"
     "return torch.stack(outputs, dim=1), c",
     "x", [SEQ], ["h, c = self.cell(x[:, t], [h, c])[1]", "keras.ops.stack(outputs, axis=1)"]),
    ("gru-cell-loop-no-initial-state", "self.cell = nn.GRUCell(6, 8, bias=False)\nself.fc = nn.Linear(8, 2)",
     "h = self.cell(x[:, 0])\nfor t in range(1, x.size(1)):\n    h = self.cell(x[:, t], h)\nreturn self.fc(h)",
     "x", [SEQ], ["self.cell.get_initial_state(keras.ops.shape(x[:, 0])[0])"]),
    ("rnn-cell-relu-time-major", "self.cell = nn.RNNCell(6, 8, nonlinearity='relu')",
     "h = torch.zeros((x.size(1), 8))\nouts = []\nfor t in range(x.size(0)):\n    h = self.cell(x[t], h)\n"
     "    outs.append(h)\nreturn torch.stack(outs)",
     "x", [TSEQ], ['layers.SimpleRNNCell(8, activation="relu")']),
    ("gru-cell-over-time-major-tensor", "self.cell = nn.GRUCell(6, 8)",
     "h = torch.zeros(x.size(1), 8)\nouts = []\nfor x_t in x:\n    h = self.cell(x_t, h)\n    outs.append(h)\n"
     "for x_b in x.unbind(1):\n    h = h + x_b.sum()\nreturn torch.stack(outs), h",
     "x", [TSEQ], ["for x_t in keras.ops.unstack(x):", "for x_b in keras.ops.unstack(x, axis=1):"]),
    ("gru-in-a-loop", "self.gru = nn.GRU(6, 8, num_layers=2, batch_first=True)",
     "h = torch.zeros((2, x.size(0), 8))\nfor _ in range(2):\n    out, h = self.gru(x, h)\nreturn out, h",
     "x", [SEQ], ["h = keras.ops.stack([h_l0, h_l1])"]),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_rnn_numeric(init, forward, params, shapes, snippets):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from translator.verify.port_torch import compare_torch_source
    src = model_source(init, forward, params=params)
    result = translate_source(src, to="keras")
    errors = [f.format() for f in result.findings if f.severity == ERROR]
    assert not errors, "\n".join(errors) + "\n" + result.code
    for snippet in snippets:
        assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", result=result)
    assert comparison.max_abs, "nothing compared"
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for scale {comparison.scale}\n{result.code}"


def test_initial_state_from_torch_zeros_varargs():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True)",
                       "h0 = torch.zeros(2, x.size(0), 8)\nc0 = torch.zeros(2, x.size(0), 8)\n"
                       "out, (h, c) = self.lstm(x, (h0, c0))\nreturn out, h[-1]")
    result = translate_source(src, to="keras")
    assert not [f for f in result.findings if f.severity == ERROR], [f.format() for f in result.findings]
    assert compare_torch_source(src, "Net()", _np_inputs([SEQ]), "Net", result=result).ok(ATOL)


UNSUPPORTED = [
    ("rnn-tuple-kept", "self.gru = nn.GRU(4, 8, batch_first=True)", "y = self.gru(x)\nreturn y[0]", "FWT202"),
    ("rnn-states-by-index", "self.gru = nn.GRU(4, 8, batch_first=True)", "return self.gru(x)[1]", "FWT202"),
    ("symbolic-num-layers", "self.gru = nn.GRU(4, 8, num_layers=n, batch_first=True)", "return self.gru(x)[0]",
     "FWT202"),
]


@pytest.mark.parametrize("init, forward, code", [pytest.param(*c[1:], id=c[0]) for c in UNSUPPORTED])
def test_rnn_unsupported_is_reported(init, forward, code):
    src = model_source(init, forward)
    if "num_layers=n" in init:
        src = src.replace("def __init__(self):", "def __init__(self, n=2):")
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert f"# fwtranslate {code}: " in result.code


def test_flatten_parameters_is_dropped():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.lstm = nn.LSTM(6, 8, batch_first=True, bidirectional=True)",
                       "self.lstm.flatten_parameters()\nout, _ = self.lstm(x)\nreturn out")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "flatten_parameters" not in result.code and "out = self.lstm(x)" in result.code
    assert compare_torch_source(src, "Net()", _np_inputs([SEQ]), "Net", result=result).ok(ATOL)


def test_tied_decoder_needs_an_unconditional_tie():
    src = model_source("self.emb = nn.Embedding(10, 4)\nself.out = nn.Linear(4, 10)\nif True:\n"
                       "    self.out.weight = self.emb.weight", "return self.out(self.emb(x))")
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == ["FWT202"], [f.format() for f in result.findings]
    assert "inside a block" in result.findings[0].message


def test_tied_decoder_without_bias():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.emb = nn.Embedding(10, 4)\nself.out = nn.Linear(4, 10, bias=False)\n"
                       "self.out.weight = self.emb.weight", "return self.out(self.emb(x))")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "keras.ops.matmul(self.emb(x), keras.ops.transpose(self.emb.embeddings))" in result.code
    assert "weight" not in result.code
    comparison = compare_torch_source(src, "Net()", _np_inputs([("int64", (2, 5), 10)]), "Net", result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_stacked_cells_over_split_time_steps():
    """The PyTorch time_sequence_prediction example: two LSTMCells stepped over x.split(1, dim=1),
    outputs collected with `+=` and concatenated (the number of steps needs the input length)."""
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.lstm1 = nn.LSTMCell(1, 12)\nself.lstm2 = nn.LSTMCell(12, 12)\n"
                       "self.linear = nn.Linear(12, 1)",
                       "outputs = []\nh_t = torch.zeros(x.size(0), 12)\nc_t = torch.zeros(x.size(0), 12)\n"
                       "h_t2 = torch.zeros(x.size(0), 12)\nc_t2 = torch.zeros(x.size(0), 12)\n"
                       "for input_t in x.split(1, dim=1):\n"
                       "    h_t, c_t = self.lstm1(input_t, (h_t, c_t))\n"
                       "    h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))\n"
                       "    output = self.linear(h_t2)\n"
                       "    outputs += [output]\n"
                       "return torch.cat(outputs, dim=1)")
    result = translate_source(src, to="keras", input_shape=[(7,)])
    assert not result.findings, [f.format() for f in result.findings]
    assert "keras.ops.concatenate(outputs, axis=1)" in result.code
    comparison = compare_torch_source(src, "Net()", _np_inputs([(B, 7)]), "Net", result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_symbolic_num_layers_is_a_list_of_layers():
    """nn.LSTM(I, H, nlayers) with nlayers a constructor parameter: a list of Keras layers run in a
    Python loop, the states collected in Python lists (indexed and stacked as torch's h_n)."""
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    from test_torch_to_keras import HEADER
    src = HEADER + (
        "class Net(nn.Module):\n"
        "    def __init__(self, nlayers=2, dropout=0.2):\n"
        "        super().__init__()\n"
        "        self.rnn = nn.LSTM(6, 8, nlayers, dropout=dropout, batch_first=True, bidirectional=True)\n"
        "        self.gru = nn.GRU(6, 8, nlayers)\n"
        "        self.rnn2 = nn.RNN(16, 4, nlayers, batch_first=True)\n\n"
        "    def forward(self, x, h0, c0):\n"
        "        out, (h, c) = self.rnn(x, (h0, c0))\n"
        "        y, hg = self.gru(x.transpose(0, 1))\n"
        "        z, _ = self.rnn2(out)\n"
        "        _, h2 = self.gru(x.transpose(0, 1))\n"
        "        y2, h2 = self.gru(x.transpose(0, 1), h2)\n"
        "        return out, h[-1], c, y, hg[-2:], torch.cat([h[-2], h[-1]], 1), z, y2, h2\n")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    for snippet in ["self.rnn = [layers.Bidirectional(layers.LSTM(8, return_sequences=True, return_state=True)) "
                    "for _ in range(nlayers)]", "for i, layer in enumerate(self.rnn):",
                    "initial_state=[h0[2 * i], c0[2 * i], h0[2 * i + 1], c0[2 * i + 1]]",
                    "h += [h_step, h_step_reverse]", "keras.ops.stack(hg[-2:])"]:
        assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs([SEQ, (4, B, H), (4, B, H)]), "Net", result=result)
    assert comparison.ok(ATOL), comparison.max_abs
    three = compare_torch_source(src, "Net(nlayers=3)", _np_inputs([SEQ, (6, B, H), (6, B, H)]), "Net",
                                 result=result)
    assert three.ok(ATOL), three.max_abs


def test_rnn_at_the_end_of_a_sequential():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.seq = nn.Sequential(nn.Linear(6, 6), nn.GRU(6, 8, batch_first=True))",
                       "out, _ = self.seq(x)\nreturn out + self.seq(x)[0]")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "out = self.seq(x)" in result.code
    assert compare_torch_source(src, "Net()", _np_inputs([SEQ]), "Net", result=result).ok(ATOL)
    states = translate_source(model_source("self.seq = nn.Sequential(nn.GRU(6, 8, batch_first=True))",
                                           "out, h = self.seq(x)\nreturn h"), to="keras")
    assert [f.code for f in states.findings] == ["FWT202"], [f.format() for f in states.findings]


def test_rnn_states_used_in_another_method():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    from test_torch_to_keras import HEADER
    src = HEADER + (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.gru = nn.GRU(6, 8, num_layers=2, batch_first=True)\n"
        "        self.fc = nn.Linear(8, 3)\n\n"
        "    def encode(self, x):\n"
        "        out, h = self.gru(x)\n"
        "        return h[-1]\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.encode(x))\n")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "out, h_l1 = self.gru_l1(out)" in result.code and "return h_l1" in result.code
    assert compare_torch_source(src, "Net()", _np_inputs([SEQ]), "Net", result=result).ok(ATOL)


def test_comment_above_a_dropped_tie_statement_is_kept():
    from translator import translate_source
    src = ("import torch\nfrom torch import nn\n\n\nclass LM(nn.Module):\n"
           "    def __init__(self):\n        super().__init__()\n        self.encoder = nn.Embedding(50, 8)\n"
           "        self.decoder = nn.Linear(8, 50)\n        # tie the weights\n"
           "        self.decoder.weight = self.encoder.weight\n\n    def forward(self, x):\n"
           "        return self.decoder(self.encoder(x))\n")
    result = translate_source(src, to="keras")
    assert "# tie the weights" in result.code, result.code
    assert "self.decoder.weight = self.encoder.weight" not in result.code
