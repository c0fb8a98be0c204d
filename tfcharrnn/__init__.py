"""tfcharrnn: character-level RNN language models on TensorFlow 2 / Keras 3.

Train:   python scripts/train.py --train_data input.txt
Sample:  python scripts/sample.py checkpoints/
Export:  python scripts/export.py checkpoints/ --name shakespeare

The heavy modules (model, training, export) import TensorFlow; import them directly. Importing
this package sets TF_ENABLE_ONEDNN_OPTS where tfcharrnn decides it (tfcharrnn.onednn: a cached
decision, never a measurement; the user's own value wins), so import it before TensorFlow.
"""

import os as _os

import tfcharrnn.onednn as _onednn

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow start-up chatter hides our messages
_onednn.apply(measure=False)

__version__ = "0.1.0"
