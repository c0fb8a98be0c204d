"""Generation peers: characters per second of a (random-weight) model, built inside a worker.

    python scripts/bench.py --only generate

  TfGenerate      tfcharrnn's compiled loop (sampling.Generator) and the TensorFlow
                  text-generation tutorial's OneStep per-character loop, on one CharRNN
  TorchGenerate   a PyTorch per-character loop (torch.multinomial on the softmax)

tutorial_one_step is the one OneStep baseline of the benchmark: the serving benchmark
(benchmarks.serving) compares serving_default against it too.
"""

from __future__ import annotations

from benchmarks.common import EMBEDDING, VOCAB_SIZE, tiny_shakespeare
from benchmarks.train_peers import torch_net

# name -> (model kind, hidden, layers)
FULL_GEN = {"small": ("lstm", 128, 2), "medium": ("lstm", 512, 2)}
QUICK_GEN = {"tiny": ("lstm", 32, 2)}

GEN_PEERS = {
    "tfcharrnn": "tfcharrnn compiled loop (sampling.Generator)",
    "onestep": "OneStep per-character loop (TF tutorial)",
    "torch": "PyTorch per-character loop (its default threads)",
    "torch-1t": "PyTorch per-character loop, 1 thread",
}


def tutorial_one_step(model, vocab, temperature=1.0):
    """OneStep of the TF text-generation tutorial, on the CharRNN's Keras layers.

    One tf.function call per character: strings in and out (StringLookup both ways), the model
    called on the input sequence with its state, the last logits divided by the temperature, a
    (zero) prediction mask added, tf.random.categorical. Returns ``one_step(chars, states)``.
    """
    import keras
    import tensorflow as tf

    chars = list(vocab.chars)
    ids_from_chars = keras.layers.StringLookup(vocabulary=chars, mask_token=None, num_oov_indices=0)
    chars_from_ids = keras.layers.StringLookup(vocabulary=chars, invert=True, mask_token=None, num_oov_indices=0)
    prediction_mask = tf.zeros([vocab.size])  # the tutorial masks "[UNK]"; this vocabulary has none

    @tf.function
    def generate_one_step(inputs, states=None):
        input_chars = tf.strings.unicode_split(inputs, "UTF-8")
        input_ids = tf.cast(ids_from_chars(input_chars).to_tensor(), tf.int32)
        predicted_logits, states = model(input_ids, states)
        predicted_logits = predicted_logits[:, -1, :] / temperature + prediction_mask
        predicted_ids = tf.squeeze(tf.random.categorical(predicted_logits, num_samples=1), axis=-1)
        return chars_from_ids(predicted_ids), states

    return generate_one_step


def one_step_loop(one_step, prompts, num_chars):
    """The tutorial's generation loop: ``num_chars`` calls, each row's text joined at the end (bytes, prompt included)."""
    import tensorflow as tf

    states = None
    next_char = tf.constant(prompts)
    result = [next_char]
    for _ in range(num_chars):
        next_char, states = one_step(next_char, states)
        result.append(next_char)
    return tf.strings.join(result).numpy()


class TfGenerate:
    """tfcharrnn's compiled loop and the tutorial's OneStep loop on one (random-weight) CharRNN."""

    def __init__(self, kind, hidden, layers):
        import keras

        from tfcharrnn.config import ModelConfig
        from tfcharrnn.model import CharRNN
        from tfcharrnn.sampling import Generator

        corpus = tiny_shakespeare()
        self.vocab = corpus.vocab
        keras.utils.set_random_seed(0)
        self.model = CharRNN(ModelConfig(vocab_size=self.vocab.size, model=kind, hidden_size=hidden, num_layers=layers, embedding_size=EMBEDDING))
        self.generator = Generator(self.model, self.vocab)
        self.one_step = tutorial_one_step(self.model, self.vocab)

    def run(self, peer, batch, num_chars):
        import numpy as np

        if peer == "tfcharrnn":
            prompt = np.tile(self.vocab.encode("ROMEO:").astype(np.int32)[None, :], (batch, 1))
            out = self.generator.generate(prompt, prompt.shape[1], num_chars, np.arange(batch), temperature=1.0)
            assert out.shape == (batch, num_chars)
        elif peer == "onestep":
            one_step_loop(self.one_step, ["ROMEO:"] * batch, num_chars)
        else:
            raise ValueError(peer)


class TorchGenerate:
    def __init__(self, kind, hidden, layers):
        import torch

        torch.manual_seed(0)
        self.net = torch_net(kind, hidden, layers)

    def run(self, peer, batch, num_chars):
        import torch

        net = self.net
        with torch.inference_mode():
            ids = torch.randint(0, VOCAB_SIZE, (batch, 6))  # a 6-character prompt, read at once
            state, out = None, []
            for _ in range(num_chars):
                h, state = net.rnn(net.embedding(ids), state)
                probs = torch.softmax(net.head(h[:, -1]), dim=-1)
                ids = torch.multinomial(probs, 1)
                out.append(ids)
            torch.cat(out, 1).numpy()
