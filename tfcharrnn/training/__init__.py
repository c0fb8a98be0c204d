"""Training: flags, the trainer, its compiled steps, its loop, resume and distribution.

    from tfcharrnn.training import TrainConfig, train
    result = train(TrainConfig(train_data="input.txt", max_epochs=1, checkpoint_dir="cv"))
    result["val_loss"], result["checkpoint"]

    python scripts/train.py --train_data input.txt      # the command line (tfcharrnn.cli)

| module | what it holds |
| --- | --- |
| `config.py` | `TrainConfig` (every flag) and the learning-rate schedule |
| `trainer.py` | `Trainer`: corpus, model on its training path, optimizer, resume, evaluation, checkpoints |
| `train_path.py` | training paths (how a step runs around the model), forced by --train_path or timed once and cached |
| `steps.py` | the compiled train and evaluation steps for a path |
| `loop.py` | the loop: steps, progress lines, validation, samples, stop rules, signals |
| `state.py` | `TrainState` (where a run is) and `RunArrays` (carried state, random streams); resume |
| `distribute.py` | devices and tf.distribute strategies |
"""

from tfcharrnn.training.config import LR_SCHEDULES, STRATEGIES, TrainConfig, learning_rate
from tfcharrnn.training.distribute import configure_devices, is_chief, make_strategy
from tfcharrnn.training.trainer import Trainer, checkpoint_name, train

__all__ = ["LR_SCHEDULES", "STRATEGIES", "TrainConfig", "Trainer", "checkpoint_name", "configure_devices", "is_chief",
           "learning_rate", "make_strategy", "train"]
