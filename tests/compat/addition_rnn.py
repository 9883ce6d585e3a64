"""Seq2seq arithmetic: learn to add two numbers given as strings (keras.io addition_rnn).

Questions like "12+345" are one-hot encoded (reversed, as the example does), an LSTM
encodes them, `RepeatVector` repeats the encoding for each answer digit, a second LSTM
with `return_sequences=True` decodes, and a softmax Dense predicts each character. The
data is generated exactly as in the example, only fewer questions and smaller layers.
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

TRAINING_SIZE = 160
DIGITS = 3
REVERSE = True
MAXLEN = DIGITS + 1 + DIGITS


class CharacterTable:
    """One-hot encode strings over a fixed alphabet, and decode predictions back."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = {c: i for i, c in enumerate(self.chars)}
        self.indices_char = {i: c for i, c in enumerate(self.chars)}

    def encode(self, C, num_rows):
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(C):
            x[i, self.char_indices[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:
            x = x.argmax(axis=-1)
        return "".join(self.indices_char[int(i)] for i in x)


chars = "0123456789+ "
ctable = CharacterTable(chars)
rng = np.random.default_rng(7)
questions, expected, seen = [], [], set()
while len(questions) < TRAINING_SIZE:
    a, b = (int("".join(rng.choice(list("0123456789"), size=rng.integers(1, DIGITS + 1))))
            for _ in range(2))
    key = tuple(sorted((a, b)))
    if key in seen:
        continue
    seen.add(key)
    q = f"{a}+{b}"
    query = q + " " * (MAXLEN - len(q))
    ans = str(a + b)
    ans += " " * (DIGITS + 1 - len(ans))
    if REVERSE:
        query = query[::-1]
    questions.append(query)
    expected.append(ans)
print("Total questions:", len(questions))

x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
for i, sentence in enumerate(questions):
    x[i] = ctable.encode(sentence, MAXLEN)
for i, sentence in enumerate(expected):
    y[i] = ctable.encode(sentence, DIGITS + 1)
split_at = len(x) - len(x) // 10
(x_train, x_val), (y_train, y_val) = (x[:split_at], x[split_at:]), (y[:split_at], y[split_at:])

num_layers = 1
model = keras.Sequential()
model.add(layers.Input((MAXLEN, len(chars))))
model.add(layers.LSTM(32))
model.add(layers.RepeatVector(DIGITS + 1))
for _ in range(num_layers):
    model.add(layers.LSTM(32, return_sequences=True))
model.add(layers.Dense(len(chars), activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.summary()

for _epoch in range(1, 3):
    model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val),
              verbose=0)
    for _ in range(2):
        ind = int(rng.integers(0, len(x_val)))
        rowx, rowy = x_val[np.array([ind])], y_val[np.array([ind])]
        preds = np.argmax(model.predict(rowx, verbose=0), axis=-1)
        q = ctable.decode(rowx[0])
        correct = ctable.decode(rowy[0])
        guess = ctable.decode(preds[0], calc_argmax=False)
        print("Q", q[::-1] if REVERSE else q, "T", correct, "ok" if correct == guess else "no")

CHECKS = {"model": (model, x_val[:8].astype("float32"))}
