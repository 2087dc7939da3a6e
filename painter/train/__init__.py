"""Training: strategies, the GAN `train_step`s, run directories and checkpoints.

- `run`: `train(config, *, data, out, …) -> RunResult`: plan, build, open, restore, loop
  (`model.fit`), finish
- `callbacks`: the run's per-step and per-epoch work as Keras callbacks (`RunCallback`);
  `state`: `TrainingRun`, the run in progress that they share
- `strategy`: `pick_strategy(name)` (TPU, multi-worker, several GPUs, default; a forced
  TPU or GPU strategy that TensorFlow cannot give is an `AcceleratorError`)
- `cyclegan`: `CycleGAN` (gen_G, gen_F, disc_X, disc_Y), `build_cyclegan`
- `noise_gan`: `NoiseGAN`, `build_noise_gan`
- `pool`: `ImagePool`; `schedules`: `ConstantThenDecay` (fitted to a time budget);
  `budget`: `parse_duration`, `Deadline`
- `checkpoints`: `load_generator(run_dir, checkpoint)`, `list_checkpoints(run_dir)`;
  `history`, `heartbeat`: the files of a run directory (its layout: `painter.rundir`)

The model modules import TensorFlow; this package's top level does not.
"""

from painter.rundir import load_run_config
from painter.train.budget import parse_duration
from painter.train.checkpoints import CheckpointInfo, find_checkpoint, list_checkpoints, load_generator
from painter.train.run import RunResult, train
from painter.train.state import TrainingRun
from painter.train.strategy import STRATEGIES, pick_strategy

__all__ = [
    "STRATEGIES",
    "CheckpointInfo",
    "RunResult",
    "TrainingRun",
    "find_checkpoint",
    "list_checkpoints",
    "load_generator",
    "load_run_config",
    "parse_duration",
    "pick_strategy",
    "train",
]
