"""lk.explain: names, shapes and equalities for each configuration, checked on real calls.

Oracles: the layer's own outputs (each stated equality is checked and must hold exactly for
the samples the rule predicts), and Keras 3 (torch backend) for the returned shapes.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit.inspection import claims as _claims

SEED_X = np.random.default_rng(0).normal(size=(32, 10, 8)).astype("float32")


def _names_and_shapes(expl):
    return [(name, tuple(shape)) for name, shape, _ in expl.outputs]


@pytest.mark.parametrize("rs,rst,expected", [
    (False, False, [("output", (32, 4))]),
    (True, False, [("output", (32, 10, 4))]),
    (False, True, [("output", (32, 4)), ("final_memory_state", (32, 4)),
                   ("final_carry_state", (32, 4))]),
    (True, True, [("whole_seq_output", (32, 10, 4)), ("final_memory_state", (32, 4)),
                  ("final_carry_state", (32, 4))]),
])
def test_seed_configurations(rs, rst, expected):
    layer = lk.layers.LSTM(4, return_sequences=rs, return_state=rst)
    expl = lk.explain(layer, SEED_X)
    assert _names_and_shapes(expl) == expected
    out = layer(SEED_X)
    out = out if isinstance(out, tuple) else (out,)
    assert [o.shape for o in out] == [s for _, s in expected]
    assert expl.verified is True
    text = str(expl)
    assert "(32, 10, 8) = (batch, timesteps, features)" in text
    assert "kernel           (8, 16)" in text and "recurrent_kernel (4, 16)" in text
    assert "gate order i, f, c, o" in text and "parameters: 208" in text
    if rs and rst:
        assert "whole_seq_output[:, -1] == final_memory_state" in text
    if not rs and rst:
        assert "output == final_memory_state" in text
    if not rst:
        assert "carry state c is not returned" in text
    assert "FAILED" not in text and "equal bit for bit for all 32 samples" in text


def test_shapes_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    for rs in (False, True):
        for rst in (False, True):
            ours = lk.explain(lk.layers.LSTM(4, return_sequences=rs, return_state=rst), SEED_X)
            out = keras.layers.LSTM(4, return_sequences=rs, return_state=rst)(SEED_X)
            out = out if isinstance(out, (tuple, list)) else (out,)
            assert [tuple(s) for _, s, _ in ours.outputs] == [tuple(o.shape) for o in out]
    for mode in ("concat", "sum", "mul", "ave", None):
        ours = lk.explain(lk.layers.Bidirectional(
            lk.layers.LSTM(4, return_sequences=True, return_state=True), merge_mode=mode), SEED_X)
        out = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True,
                                                           return_state=True),
                                         merge_mode=mode)(SEED_X)
        assert [tuple(s) for _, s, _ in ours.outputs] == [tuple(o.shape) for o in out]


def test_masked_last_step_with_zero_output_is_predicted():
    mask = np.ones((32, 10), bool)
    mask[::4, 8:] = False  # right padding in every fourth sample
    layer = lk.layers.LSTM(4, return_sequences=True, return_state=True,
                           zero_output_for_mask=True)
    expl = lk.explain(layer, SEED_X, mask=mask)
    assert expl.verified is True
    first = expl.claims[0]
    assert first.statement == "whole_seq_output[:, -1] == final_memory_state"
    assert "differs, as predicted, for samples [0, 4, 8" in first.result
    seq, h, _ = layer(SEED_X, mask=mask)
    assert not np.array_equal(seq[0, -1], h[0]) and np.array_equal(seq[1, -1], h[1])
    assert "output there is zeros" in str(expl)


def test_mask_without_zero_output_keeps_the_equality():
    mask = np.ones((32, 10), bool)
    mask[::4, 8:] = False
    expl = lk.explain(lk.layers.LSTM(4, return_sequences=True, return_state=True), SEED_X,
                      mask=mask)
    assert expl.verified is True
    assert "for all 32 samples" in expl.claims[0].result
    assert "repeats the previous output" in str(expl)


def test_go_backwards_explained():
    layer = lk.layers.LSTM(4, return_sequences=True, return_state=True, go_backwards=True)
    expl = lk.explain(layer, SEED_X)
    text = str(expl)
    assert expl.verified is True
    assert "NOT flipped back" in text and "x[:, T-1-t]" in text
    seq, h, _ = layer(SEED_X)
    assert np.array_equal(seq[:, -1], h)  # the claim, by hand


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("rs", [False, True])
@pytest.mark.parametrize("rst", [False, True])
def test_bidirectional_each_merge_mode(mode, rs, rst):
    mask = np.ones((32, 10), bool)
    mask[::3, 7:] = False
    mask[1, :2] = False
    layer = lk.layers.Bidirectional(lk.layers.LSTM(4, return_sequences=rs, return_state=rst),
                                    merge_mode=mode)
    expl = lk.explain(layer, SEED_X, mask=mask)
    assert expl.verified is True, str(expl)
    out = layer(SEED_X, mask=mask)
    out = out if isinstance(out, tuple) else (out,)
    assert [tuple(s) for _, s, _ in expl.outputs] == [o.shape for o in out]
    text = str(expl)
    assert f"merge_mode={mode!r}" in text and "parameters: 416" in text
    if mode == "concat" and rs:
        assert "output[:, -1, :4] ==" in text and "output[:, 0, 4:] ==" in text
        # the forward half at the end is zero for padded samples (zero_output_for_mask forced)
        assert "differs, as predicted, for samples [0, 3, 6" in expl.claims[0].result
    if mode in ("sum", "mul", "ave"):
        assert any(c.statement.startswith("output ==") for c in expl.claims)


@settings(max_examples=30, deadline=None)
@given(rs=st.booleans(), rst=st.booleans(), gb=st.booleans(), zero=st.booleans(),
       init=st.booleans(), bidir=st.sampled_from([None, "concat", "sum", "mul", "ave", "none"]),
       data=st.data())
def test_every_claim_holds_as_predicted(rs, rst, gb, zero, init, bidir, data):
    B, T = 4, data.draw(st.integers(1, 5))
    mask = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=T, max_size=T),
                                       min_size=B, max_size=B)))
    x = np.random.default_rng(T).normal(size=(B, T, 3)).astype("float32")
    # Keras's Bidirectional refuses a go_backwards layer (its backward copy reads backwards too)
    lstm = lk.layers.LSTM(2, return_sequences=rs, return_state=rst,
                          go_backwards=gb and bidir is None, zero_output_for_mask=zero)
    layer = lstm if bidir is None else lk.layers.Bidirectional(
        lstm, merge_mode=None if bidir == "none" else bidir)
    n_states = 2 if bidir is None else 4
    states = [np.full((B, 2), 0.5, "float32")] * n_states if init else None
    expl = lk.explain(layer, x, mask=mask, initial_state=states)
    assert expl.verified is True, str(expl)


def test_a_false_claim_is_caught():
    layer = lk.layers.LSTM(4, return_sequences=True, return_state=True)
    tr = lk.trace(layer, SEED_X)
    wrong = _claims.Claim("whole_seq_output[:, 0] == final_memory_state", "it is not",
                          lambda t: t.outputs[0][:, 0], lambda t: t.outputs[1])
    assert wrong.check(tr).verified is False
    assert "NOT as predicted" in wrong.result


def test_without_inputs_shapes_are_symbolic():
    expl = lk.explain(lk.layers.LSTM(4, return_sequences=True, return_state=True))
    assert _names_and_shapes(expl)[0] == ("whole_seq_output", ("batch", "timesteps", 4))
    assert expl.verified is None
    assert "kernel           (input_dim, 16)" in str(expl)


def test_html_repr():
    html = lk.explain(lk.layers.LSTM(4, return_state=True), SEED_X)._repr_html_()
    assert "<table>" in html and "final_carry_state" in html and "&#10003;" in html
    assert "http" not in html


def test_bad_input():
    with pytest.raises(TypeError, match="LSTM, Bidirectional or model"):
        lk.explain(object())


def test_explain_a_model_and_one_of_its_layers():
    model = lk.Sequential([
        lk.Input(shape=(None,), dtype="int32"),
        lk.layers.Embedding(20, 6, mask_zero=True),
        lk.layers.LSTM(5, return_sequences=True, name="encoder"),
        lk.layers.LSTM(3, name="summarizer"),
    ])
    x = np.array([[1, 2, 3, 0], [4, 5, 6, 7]])
    whole = lk.explain(model, x)
    assert whole.verified is True
    assert [c.title.split(":")[0] for c in whole.children] == ["LSTM 'encoder'",
                                                               "LSTM 'summarizer'"]
    assert "Inputs (2, 4, 6)" in str(whole) and "Inputs (2, 4, 5)" in str(whole)
    assert "Mask: at a masked step" in str(whole)  # the Embedding's mask reaches both
    one = lk.explain(model, x, layer="summarizer")
    assert one.verified is True and one.title.startswith("LSTM 'summarizer'")
    symbolic = lk.explain(model)
    assert symbolic.verified is None and len(symbolic.children) == 2
    assert "kernel           (6, 20)" in str(symbolic.children[0])  # built: input_dim known
    bi = lk.layers.Bidirectional(lk.layers.LSTM(3))
    bi.build((None, None, 7))
    assert "forward/kernel            (7, 12)" in str(lk.explain(bi))
