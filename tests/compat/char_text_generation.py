"""Character-level text generation with an LSTM (keras.io lstm_character_level_text_generation).

Cut the text into `maxlen`-character sequences (step 3), one-hot them, train an
`LSTM` + softmax `Dense` to predict the next character with RMSprop, then sample text
with a temperature. Nietzsche's writings are replaced by random text over a small
alphabet; sizes scaled down.
"""

import random

import numpy as np

import lstmkit as keras
from lstmkit import layers

rng = np.random.default_rng(6)
text = "".join(rng.choice(list("abcdefgh ,.\n"), size=1200))
chars = sorted(set(text))
print("Total chars:", len(chars))
char_indices = {c: i for i, c in enumerate(chars)}
indices_char = {i: c for i, c in enumerate(chars)}

maxlen = 20  # 40 in the example
step = 3
sentences, next_chars = [], []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i: i + maxlen])
    next_chars.append(text[i + maxlen])
print("Number of sequences:", len(sentences))

x = np.zeros((len(sentences), maxlen, len(chars)), dtype="bool")
y = np.zeros((len(sentences), len(chars)), dtype="bool")
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

model = keras.Sequential([
    keras.Input(shape=(maxlen, len(chars))),
    layers.LSTM(32),
    layers.Dense(len(chars), activation="softmax"),
])
optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)
model.summary()


def sample(preds, temperature=1.0):
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.default_rng(0).multinomial(1, preds, 1)
    return int(np.argmax(probas))


for _epoch in range(1):
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    start_index = random.Random(0).randint(0, len(text) - maxlen - 1)
    for diversity in [0.5]:
        generated = ""
        sentence = text[start_index: start_index + maxlen]
        for _ in range(8):
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.0
            preds = model.predict(x_pred, verbose=0)[0]
            next_char = indices_char[sample(preds, diversity)]
            sentence = sentence[1:] + next_char
            generated += next_char
        print("diversity", diversity, "generated", len(generated), "characters")

CHECKS = {"model": (model, x[:8].astype("float32"))}
