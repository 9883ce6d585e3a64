"""Seq2seq: character-level translation with an LSTM encoder-decoder (keras.io lstm_seq2seq).

The encoder LSTM's final states start the decoder LSTM, trained with teacher forcing on
one-hot characters. After training, the model is saved, loaded, and the encoder and
decoder inference models are cut out of it through `model.input` and
`model.layers[i].output`, then used to decode greedily one character at a time. The
English-French sentence pairs are replaced by random character strings.
"""

import numpy as np

import lstmkit as keras

batch_size = 16
epochs = 1
latent_dim = 16  # 256 in the example
num_samples = 48

rng = np.random.default_rng(1)
source_chars = list("abcdefgh ")
target_chars = list("ABCDEFG ") + ["\t", "\n"]  # "\t" starts and "\n" ends a target
input_texts, target_texts = [], []
for _ in range(num_samples):
    input_texts.append("".join(rng.choice(source_chars[:-1], size=rng.integers(3, 9))))
    body = "".join(rng.choice(target_chars[:-3], size=rng.integers(2, 8)))
    target_texts.append("\t" + body + "\n")

input_characters = sorted(set("".join(input_texts)))
target_characters = sorted(set("".join(target_texts)))
num_encoder_tokens = len(input_characters)
num_decoder_tokens = len(target_characters)
max_encoder_seq_length = max(len(t) for t in input_texts)
max_decoder_seq_length = max(len(t) for t in target_texts)
print("Number of samples:", len(input_texts))
print("Number of unique input tokens:", num_encoder_tokens)
print("Number of unique output tokens:", num_decoder_tokens)

input_token_index = {c: i for i, c in enumerate(input_characters)}
target_token_index = {c: i for i, c in enumerate(target_characters)}

encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens),
                              dtype="float32")
decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens),
                              dtype="float32")
decoder_target_data = np.zeros_like(decoder_input_data)
for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts)):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0
    for t, char in enumerate(target_text):
        decoder_input_data[i, t, target_token_index[char]] = 1.0
        if t > 0:  # the target is the decoder input one step ahead
            decoder_target_data[i, t - 1, target_token_index[char]] = 1.0

# Training model: encoder states feed the decoder's initial state.
encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
encoder = keras.layers.LSTM(latent_dim, return_state=True)
encoder_outputs, state_h, state_c = encoder(encoder_inputs)
encoder_states = [state_h, state_c]

decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
decoder_outputs = decoder_dense(decoder_outputs)
model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)

model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit([encoder_input_data, decoder_input_data], decoder_target_data,
          batch_size=batch_size, epochs=epochs, validation_split=0.2, verbose=0)
model.save("s2s_model.keras")

# Inference: restore the model and cut the encoder and the decoder out of it.
model = keras.models.load_model("s2s_model.keras")

encoder_inputs = model.input[0]
encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output
encoder_states = [state_h_enc, state_c_enc]
encoder_model = keras.Model(encoder_inputs, encoder_states)

decoder_inputs = model.input[1]
decoder_state_input_h = keras.Input(shape=(latent_dim,))
decoder_state_input_c = keras.Input(shape=(latent_dim,))
decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
decoder_lstm = model.layers[3]
decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(
    decoder_inputs, initial_state=decoder_states_inputs)
decoder_states = [state_h_dec, state_c_dec]
decoder_dense = model.layers[4]
decoder_outputs = decoder_dense(decoder_outputs)
decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs,
                            [decoder_outputs] + decoder_states)
decoder_model.summary()

reverse_target_char_index = {i: c for c, i in target_token_index.items()}


def decode_sequence(input_seq):
    states_value = encoder_model.predict(input_seq, verbose=0)
    target_seq = np.zeros((1, 1, num_decoder_tokens))
    target_seq[0, 0, target_token_index["\t"]] = 1.0
    decoded_sentence = ""
    while True:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled_token_index = int(np.argmax(output_tokens[0, -1, :]))
        sampled_char = reverse_target_char_index[sampled_token_index]
        decoded_sentence += sampled_char
        if sampled_char == "\n" or len(decoded_sentence) > max_decoder_seq_length:
            break
        target_seq = np.zeros((1, 1, num_decoder_tokens))
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]
    return decoded_sentence


for seq_index in range(2):
    decoded = decode_sequence(encoder_input_data[seq_index: seq_index + 1])
    print("Input sentence:", input_texts[seq_index], "decoded length:", len(decoded))

step = np.zeros((4, 1, num_decoder_tokens), "float32")
step[:, 0, target_token_index["\t"]] = 1.0
CHECKS = {
    "model": (model, [encoder_input_data[:4], decoder_input_data[:4]]),
    "encoder_model": (encoder_model, encoder_input_data[:4]),
    "decoder_model": (decoder_model, [step] + [rng.normal(size=(4, latent_dim)).astype(
        "float32") for _ in range(2)]),
}
