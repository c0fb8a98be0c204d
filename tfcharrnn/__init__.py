"""tfcharrnn: character-level RNN language models on TensorFlow 2 / Keras 3.

    import tfcharrnn
    model = tfcharrnn.train("input.txt", checkpoint_dir="cv", time_budget=3)   # tfcharrnn.api
    print(model.generate("ROMEO:", length=300, temperature=0.8))
    tfcharrnn.load("cv").export("shakespeare")

    tfcharrnn-train --train_data input.txt      # or python scripts/train.py: the command-line tools
    tfcharrnn-sample cv/ --prime "ROMEO:"

`import tfcharrnn` stays cheap: train, load and LanguageModel are loaded from tfcharrnn.api on
first use, and TensorFlow on their first call, so the TF-free LiteRT sampler
(tfcharrnn.litert_sampler) never pays for it. The heavy modules (model, training, export)
import TensorFlow; import them directly. Importing this package sets TF_ENABLE_ONEDNN_OPTS where
tfcharrnn decides it (tfcharrnn.onednn: a cached decision, never a measurement; the user's own
value wins), so import it before TensorFlow.
"""

import os as _os

import tfcharrnn.onednn as _onednn

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow start-up chatter hides our messages
_onednn.apply(measure=False)

__version__ = "0.1.0"
__all__ = ["LanguageModel", "load", "train"]


def __getattr__(name):  # PEP 562: tfcharrnn.train and friends, imported when first touched
    if name in __all__:
        from tfcharrnn import api

        return getattr(api, name)
    raise AttributeError(f"module 'tfcharrnn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
