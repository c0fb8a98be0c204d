"""Training: flags, the trainer and its loop, the training path, the compiled steps, resume and distribution.

    from tfcharrnn.training import TrainConfig, train
    result = train(TrainConfig(train_data="input.txt", max_epochs=1, checkpoint_dir="cv"))
    result["val_loss"], result["checkpoint"]

    python scripts/train.py --train_data input.txt      # the command line (tfcharrnn.cli)

| module | what it holds |
| --- | --- |
| `config.py` | `TrainConfig` (every flag) and the learning-rate schedule |
| `trainer.py` | `Trainer`: a run set up in a straight line (corpus, strategy, path, model, optimizer, resume), then its loop; it owns the run's state |
| `train_path.py` | training paths (how a step runs around the model), forced by --train_path or timed once and cached |
| `steps.py` | the compiled train and evaluation steps for a path |
| `progress.py` | the loop's clock (elapsed time across resumes, smoothed loss, speed) and progress bar |
| `stopping.py` | the stop rules; Ctrl-C / SIGTERM as a flag read between steps |
| `state.py` | `TrainState` (where a run is) and `RunArrays` (carried state, random streams); resume |
| `optimizer.py` | --optimizer: Adam, or Muon on the recurrent layers' matrices and Adam on the rest |
| `averaging.py` | the weights' moving average (--ema_momentum): the optimizer's, warmed up, and the swap in and out of the model |
| `finetune.py` | `--finetune_from`: a new run from a trained model's weights, shape and vocabulary (new characters appended) |
| `distribute.py` | devices and tf.distribute strategies |
"""

from tfcharrnn.training.config import LR_SCHEDULES, STRATEGIES, TrainConfig, learning_rate
from tfcharrnn.training.distribute import configure_devices, is_chief, make_strategy
from tfcharrnn.training.trainer import Trainer, checkpoint_name, train

__all__ = ["LR_SCHEDULES", "STRATEGIES", "TrainConfig", "Trainer", "checkpoint_name", "configure_devices", "is_chief",
           "learning_rate", "make_strategy", "train"]
