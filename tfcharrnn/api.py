"""tfcharrnn from Python: text in, a trained model out, then text and exports from it.

    import tfcharrnn
    model = tfcharrnn.train("input.txt", checkpoint_dir="cv", time_budget=3)   # any scripts/train.py flag, as a keyword
    print(model.generate("ROMEO:", length=300, temperature=0.8))
    model = tfcharrnn.load("cv")                  # later: a run directory (its best, else latest) or a checkpoint
    model.export("shakespeare")                   # saved_models/shakespeare/1/: the SavedModel and its .tflite

    model.model, model.vocab, model.path          # the Keras CharRNN, its Vocabulary, the checkpoint it came from

The same library calls as the command-line tools (tfcharrnn.cli), with the same checks: a bad
value is a tfcharrnn.errors.UserError naming the flag. TensorFlow is imported on the first call,
not by `import tfcharrnn`. Below this: tfcharrnn.training (Trainer, TrainConfig), tfcharrnn.sampling
(Generator: batches of samples), tfcharrnn.export, tfcharrnn.evaluate.
"""

from __future__ import annotations


class LanguageModel:
    """A trained CharRNN with its vocabulary: generate text, export it."""

    def __init__(self, model, vocab, path: str | None = None):
        self.model = model  # tfcharrnn.model.CharRNN
        self.vocab = vocab  # tfcharrnn.vocab.Vocabulary
        self.path = path  # the checkpoint it was loaded from, if any
        self._generator = None

    def __repr__(self) -> str:
        c = self.model.config
        return f"LanguageModel({c.num_layers}x{c.hidden_size} {c.model}, vocabulary {self.vocab.size}, path={self.path!r})"

    def generate(self, prompt: str = "", length: int = 200, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 123, stop=()) -> str:
        """The text that follows ``prompt`` (not included): what `scripts/sample.py --prime PROMPT` prints
        after the prompt, with the same settings and seed. temperature 0 is greedy; ``stop``: strings
        that end the text (not included; tfcharrnn.sample_settings has the rule)."""
        from tfcharrnn.sample_settings import check_sample_settings, encode_stops
        from tfcharrnn.sampling import Generator

        check_sample_settings(self.vocab.size, length=length, temperature=temperature, top_k=top_k, top_p=top_p)
        encode_stops(self.vocab, stop)
        if self._generator is None:
            self._generator = Generator(self.model, self.vocab)  # compiles once; later calls reuse it
        return self._generator.sample_text(prompt, length, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
                                           stop=stop)[0]

    def export(self, name: str, base_dir: str = "saved_models", **options) -> dict:
        """``base_dir/name/VERSION/`` as `scripts/export.py --name NAME` writes it; options are
        tfcharrnn.export.export_saved_model's (version, overwrite, quantize, tflite, web, ...).
        Returns its summary: {"path", "version", "tflite", ...}."""
        from tfcharrnn.export import export_saved_model

        options.setdefault("source", self.path)
        return export_saved_model(self.model, self.vocab, name, base_dir=base_dir, **options)


def load(path: str) -> LanguageModel:
    """A checkpoint, or a run directory (its best checkpoint, else its latest), as scripts/sample.py reads it."""
    from tfcharrnn import onednn
    from tfcharrnn.checkpoint import load_checkpoint

    onednn.apply()  # before TensorFlow's import

    ckpt = load_checkpoint(path, with_optimizer=False)
    return LanguageModel(ckpt.model, ckpt.vocab, ckpt.path)


def train(train_data: str | None = None, **flags) -> LanguageModel:
    """Train as `scripts/train.py --train_data TRAIN_DATA --FLAG VALUE ...` does (no train_data: the bundled
    Tiny Shakespeare), then load the run directory's best checkpoint (else its latest)."""
    from tfcharrnn.training import TrainConfig, Trainer

    config = TrainConfig(train_data=train_data, **flags)
    Trainer(config).run()
    return load(config.checkpoint_dir)
