"""Training MFU: one generator alone vs painter's whole training step, on this machine.

    .venv/bin/python scripts/bench_train.py [--models resnet,unet,noise,cut,fastcut] [--sizes 128,256]
        [--parts generator,step,starter] [--steps 3] [--warmup 1] [--jit on|off|both]
        [--data ROOT] [--ablate] [--loop fit|painter] [--backend tensorflow|jax|tensorflow,jax]

For each model (the shipped `cyclegan`, `cyclegan_unet`, `noise_gan`, `cut` and `fastcut`
configs at each size; the ResNet generators get 9 residual blocks at 256 px and 6 below,
as Zhu et al.) it times:

  (a) generator   one generator's forward + backward + Adam update alone, on a fixed
                  batch of the config's per-replica size: the upper bound.
  (b) step        painter's whole training step through `keras.Model.fit` on the real
                  input pipeline (`unpaired_dataset` / `monet_dataset` with the config's
                  augmentation): both generators, both discriminators, all losses, the
                  image pool, DiffAugment, four (two) Adam updates.
  starter         (U-Net only) the competition starter notebook's setup on the same
                  networks: batch 1, jit_compile=False, BCE loss, no DiffAugment, no pool,
                  no random jitter; printed as a ratio to painter's (b).

MFU = model FLOPs per step ÷ step time (the fastest timed step) ÷ the FLOP/s of a large dense float32 matmul
(N×N, N=--matmul, best of 5) timed in the same process just before each measurement.
Model FLOPs are counted from the layers (`painter.models.flops`: multiply-adds of convs
and dense layers × 2; a pass forward + backward = 3× forward) and summed over every
network pass the step makes:

  CycleGAN, per-replica batch B:
    G: G(x), G(F(y)), G(y) = 3B images; F: F(y), F(G(x)), F(x) = 3B images;
    D_X and D_Y each on DiffAugment(real ‖ pooled fakes ‖ fresh fakes) = 3B images
    (2B with pool_size = 0), every pass forward + backward:
    model FLOPs = 3 · B · (3·fwd_G + 3·fwd_F + 3·fwd_DX + 3·fwd_DY)
  Noise GAN: G on B latents, D on real ‖ fake = 2B images:
    model FLOPs = 3 · (B·fwd_G + 2B·fwd_D)
  CUT: G on x ‖ y = 2B images (B with FastCUT, which has no identity NCE), G's encoder
    (its layers up to the middle residual block, e = `encoder_share`, ≈ 0.48 of ResNet-9)
    on those outputs for the PatchNCE queries, D on real ‖ fake = 2B images; FastCUT's
    keys are the encoder on its unflipped inputs, forward only:
    model FLOPs = 3 · B · (2·(1 + e)·fwd_G + 2·fwd_D)          (CUT)
                = B · (3·(1 + e)·fwd_G + e·fwd_G + 6·fwd_D)     (FastCUT)
    (the projection head's few MFLOP per image are left out).
  (a): 3 · B · fwd_G.

What the step executes is more than that ("executed" below): the discriminators' activation
gradients are computed for their own loss and again for the generators' adversarial
losses; CycleGAN ≈ B·(18·fwd_G + 24·fwd_D) with the pool, noise GAN ≈ B·(3·fwd_G +
8·fwd_D). The CycleGAN takes both generators' gradients from one `tape.gradient` of Zhu et
al.'s joint loss (float32 and bfloat16); with one `tape.gradient` per generator (its
float16 path, `--ablate`'s "separate generator gradients") the backward passes through
F(G(x)) and G(F(y)) are made twice: 20·fwd_G.

Two clocks: wall time (MFU against the matmul's wall FLOP/s) and the process's CPU time
(user + system of all its threads, tf.data's included; MFU against the matmul's FLOP per
CPU-second). On a machine shared with other jobs the CPU-time figure is the stabler one;
the load average is printed with every figure.

--ablate repeats (b) with one thing changed at a time to find what costs the most:
synthetic input (one cached batch repeated: no decoding, jitter or shuffling), no pool,
no DiffAugment, XLA toggled, and one `tape.gradient` per generator (the same gradients,
computed as the float16 path does).

--backend picks Keras' backend (default tensorflow). Keras fixes it at import, so with
several (`--backend tensorflow,jax`) each runs in its own process, one after the other,
with the same arguments; this process then prints every result again, the ratio of each
JAX measurement to its TensorFlow twin (achieved model FLOP/s, which is the MFU ratio
against any one peak), and the MFUs against the best matmul of both processes. On JAX
the matmul is timed with `jax.jit`, the step is always compiled (`jax.jit`; --jit and
--threads are TensorFlow's) and only (b) is timed: (a) and the starter are written with
`tf.GradientTape`. The step runs through `fit` inside the run's JAX distribution (one CPU
device here), fed by the same `tf.data` pipeline as on TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from painter.families import family_of

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "gan-getting-started"
MODELS = {"resnet": "cyclegan", "unet": "cyclegan_unet", "noise": "noise_gan", "cut": "cut",
          "fastcut": "fastcut"}
RESNET_MODELS = ("resnet", "cut", "fastcut")  # 9 residual blocks at 256 px, 6 below
PARTS = ("generator", "step", "starter")
BACKENDS = ("tensorflow", "jax")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX"}


# ---- clocks ---------------------------------------------------------------------------


def now() -> tuple[float, float]:
    """(wall seconds, process CPU seconds of every thread)."""
    return time.perf_counter(), time.process_time()


def load() -> float:
    return os.getloadavg()[0]


@dataclasses.dataclass
class StepTimes:
    """Per-step wall and CPU seconds of the timed (post-warm-up) steps."""

    wall: list[float]
    cpu: list[float]
    load: float

    # The fastest step: on a machine shared with other jobs, every slower one is the same
    # work plus time lost to them (wall) or to threads spinning while descheduled (CPU).
    @property
    def wall_best(self) -> float:
        return min(self.wall)

    @property
    def cpu_best(self) -> float:
        return min(self.cpu)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


def split_steps(stamps: list[tuple[float, float]], warmup: int) -> tuple[list[float], list[float]]:
    """Step durations from the (wall, cpu) stamps taken at the start and after each step,
    dropping the first `warmup` steps (tracing, XLA compiling, filling shuffle buffers)."""
    kept = stamps[warmup:]
    wall = [b[0] - a[0] for a, b in zip(kept, kept[1:])]
    cpu = [b[1] - a[1] for a, b in zip(kept, kept[1:])]
    return wall, cpu


@dataclasses.dataclass
class MatmulRate:
    wall: float  # FLOP/s
    cpu: float  # FLOP per CPU-second
    size: int


def matmul_rate(size: int, repeats: int = 5) -> MatmulRate:
    """FLOP/s of an N×N float32 matmul on Keras' backend (compiled: `tf.function` or
    `jax.jit`): the best of `repeats` on each clock."""
    import keras

    if keras.backend.backend() == "jax":
        import jax
        import numpy as np

        rng = np.random.default_rng(1)
        a, b = (jax.numpy.asarray(rng.standard_normal((size, size), np.float32))
                for _ in range(2))
        # The operands are arguments, not constants XLA could fold at compile time.
        compiled = jax.jit(lambda a, b: jax.numpy.sum(jax.numpy.matmul(a, b)))
        product = lambda: np.asarray(compiled(a, b))  # noqa: E731  (waits for the result)
    else:
        import tensorflow as tf

        a = tf.random.normal((size, size), seed=1)
        b = tf.random.normal((size, size), seed=2)
        compiled = tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(a, b)))
        product = lambda: compiled().numpy()  # noqa: E731
    product()
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        start = now()
        product()
        end = now()
        best_wall = min(best_wall, end[0] - start[0])
        best_cpu = min(best_cpu, max(end[1] - start[1], 1e-9))
    flops = 2 * size**3
    return MatmulRate(flops / best_wall, flops / best_cpu, size)


# ---- configs and FLOPs ----------------------------------------------------------------


def bench_config(model: str, size: int, jit: bool):
    """The shipped config of `model` at `size` px (ResNet: 9 blocks at 256, 6 below)."""
    from painter.config import load_config

    overrides = {"image_size": size, "jit_compile": jit}
    if model in RESNET_MODELS:
        overrides["residual_blocks"] = 9 if size >= 256 else 6
    return load_config(MODELS[model], **overrides)


def starter_config(size: int):
    """The starter notebook's setup on painter's U-Net and PatchGAN."""
    from painter.config import load_config

    return load_config(
        "cyclegan_unet",
        image_size=size,
        batch_size=1,
        jit_compile=False,
        loss="bce",
        diffaugment="",
        pool_size=0,
        augment=False,
    )


@dataclasses.dataclass
class Flops:
    """Forward FLOPs per image of the generator and the discriminator."""

    generator: int
    discriminator: int


def forward_flops(config) -> Flops:
    """Forward FLOPs of one example through the family's generator and one of its
    discriminators."""
    import keras

    from painter.models.flops import model_flops

    family = family_of(config)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        networks = family.build(config).networks
        generator = networks[family.generator_network]
        discriminator = networks[family.discriminator_network]
        return Flops(model_flops(generator), model_flops(discriminator))
    finally:
        keras.config.set_dtype_policy(previous)


def generator_step_flops(config, flops: Flops) -> int:
    """(a): one generator, forward + backward, on the per-replica batch."""
    return 3 * config.batch_size * flops.generator


def training_step_flops(config, flops: Flops) -> int:
    """(b): model FLOPs of every network pass of one step (module docstring)."""
    g, d = family_of(config).step_passes(config)
    return int(config.batch_size * (g * flops.generator + d * flops.discriminator))


def executed_step_flops(config, flops: Flops, separate: bool = False) -> int:
    """FLOPs the step as written executes, with its separate `tape.gradient` calls."""
    g, d = family_of(config).step_passes(config, executed=True, separate=separate)
    return int(config.batch_size * (g * flops.generator + d * flops.discriminator))


# ---- (a) the generator alone ----------------------------------------------------------


def time_generator(config, steps: int, warmup: int) -> StepTimes:
    """Forward + L1 loss + backward + Adam of one generator on a fixed batch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from painter.train.schedules import adam

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.mixed_precision or "float32")
    try:
        model = family_of(config).build_generator(config)
        shape = (config.batch_size, *model.input_shape[1:])
        optimizer = adam(2e-4, 0.5, config.mixed_precision)
        optimizer.build(model.trainable_variables)
    finally:
        keras.config.set_dtype_policy(previous)
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.uniform(-1, 1, shape), tf.float32)
    size = config.image_size
    target = tf.constant(rng.uniform(-1, 1, (config.batch_size, size, size, 3)), tf.float32)

    @tf.function(jit_compile=config.jit_compile)
    def step(inputs, target):
        with tf.GradientTape() as tape:
            output = ops_cast(model(inputs, training=True))
            loss = optimizer.scale_loss(keras.ops.mean(keras.ops.abs(output - target)))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    stamps = [now()]
    for _ in range(warmup + steps):
        step(inputs, target).numpy()
        stamps.append(now())
    wall, cpu = split_steps(stamps, warmup)
    return StepTimes(wall, cpu, load())


def ops_cast(x):
    import keras

    return keras.ops.cast(x, "float32")


# ---- (b) painter's training step --------------------------------------------------------


def training_dataset(config, root: Path, synthetic: bool):
    """The dataset `painter train` feeds the step (the family's own, `Family.dataset`).

    The noise GAN caches its decoded Monets, which pays from the second epoch (19 steps at
    batch 16) on; a few timed steps all fall in the first.
    """
    dataset, _ = family_of(config).dataset(config, root, config.seed)
    if synthetic:
        return dataset.take(1).cache().repeat()
    return dataset


def time_training_step(
    config, root: Path, steps: int, warmup: int, *, synthetic: bool = False,
    separate: bool = False, loop: str = "fit",
) -> StepTimes:
    """Per-step times of painter's training model, through `fit` (or `painter.train.train`).

    On TensorFlow under the default strategy; on JAX under the run's distribution for one
    CPU device (`pick_strategy("cpu")`), compiled whatever `config.jit_compile` says.
    """
    import keras

    if loop == "painter":
        return _time_painter_loop(config, root, steps, warmup)
    from painter.train.run import build_training_model
    from painter.train.strategy import fit_scope, pick_strategy

    jax = keras.backend.backend() == "jax"
    if jax:
        strategy = pick_strategy("cpu")
    else:
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    model = build_training_model(config, 1000, strategy, config.jit_compile or jax)
    if separate:
        model.joint_generator_gradient = False
    dataset = training_dataset(config, root, synthetic)
    stamps = []

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            stamps.append(now())

        def on_train_batch_end(self, batch, logs=None):
            # Reading a value waits for the step to finish.
            float(next(iter(logs.values())))
            stamps.append(now())

    with fit_scope(strategy):
        model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0,
                  callbacks=[StepClock()])
    wall, cpu = split_steps(stamps, warmup)
    return StepTimes(wall, cpu, load())


def _time_painter_loop(config, root: Path, steps: int, warmup: int) -> StepTimes:
    """The same through `painter.train.train` (`model.fit` with the run's callbacks)."""
    import keras

    from painter.train import train

    stamps = [None]

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(now())

    def begin(message):
        if message.startswith("training "):
            stamps[0] = now()

    with tempfile.TemporaryDirectory() as tmp:
        train(config, data=root, out=Path(tmp) / "run", epochs=1,
              steps_per_epoch=warmup + steps, strategy="auto", log=begin,
              callbacks=[StepClock()], progress=False)
    wall, cpu = split_steps(stamps, warmup)
    return StepTimes(wall, cpu, load())


# ---- accelerator projection -----------------------------------------------------------

# Published dense peaks (FLOP/s) of Kaggle's accelerators in their mixed-precision dtype.
ACCELERATORS = {
    "T4x2 fp16": 2 * 65e12,  # NVIDIA T4 datasheet: 65 TFLOPS FP16 tensor cores, per GPU
    "TPU v5e-8 bf16": 8 * 197e12,  # Cloud TPU v5e: 197 TFLOPS bf16 per chip
}
# The MFU assumed on each (justified in docs/BENCHMARKS.md, "Accelerator projection").
ASSUMED_MFU = {"T4x2 fp16": 0.10, "TPU v5e-8 bf16": 0.25}
KERNEL_SECONDS = 4.5 * 3600
EPOCH_IMAGES = {"cyclegan": 7038, "cut": 7038, "noise_gan": 300}  # Kaggle's photos; its Monets


def projection_lines(mfus=(0.1, 0.2, 0.3, 0.5)) -> list[str]:
    """Epochs of each shipped config (256 px) that fit in a 4.5-hour kernel."""
    lines = [f"{'config':<16}{'GFLOP/image':>12}{'PFLOP/epoch':>12}  "
             + "  ".join(f"{name} @ MFU {m:g}" for name in ACCELERATORS for m in (ASSUMED_MFU[name],))
             + "   (epochs in 4.5 h; s/epoch)"]
    sensitivity = []
    for model in MODELS:
        config = bench_config(model, 256, True)
        flops = forward_flops(config)
        per_step = training_step_flops(config, flops)
        # A photo epoch ends with a partial batch; the noise GAN's Monet batches drop it.
        images, batch = EPOCH_IMAGES[config.family], config.batch_size
        steps = -(-images // batch) if family_of(config).takes_photos else images // batch
        epoch = per_step * steps
        cells = []
        for name, peak in ACCELERATORS.items():
            seconds = epoch / (peak * ASSUMED_MFU[name])
            cells.append(f"{KERNEL_SECONDS / seconds:10.1f} ({seconds:8.2f} s)")
        lines.append(f"{MODELS[model]:<16}{per_step / config.batch_size / 1e9:12.1f}"
                     f"{epoch / 1e15:12.3f}  " + "  ".join(cells))
        for name, peak in ACCELERATORS.items():
            sensitivity.append(f"  {MODELS[model]:<14} {name:<15} epochs at MFU "
                               + ", ".join(f"{m:g}: {KERNEL_SECONDS * peak * m / epoch:.1f}" for m in mfus))
    return lines + ["sensitivity:"] + sensitivity


# ---- report ---------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    label: str
    images_per_step: int
    model_flops: int  # per step
    times: StepTimes
    rate: MatmulRate

    @property
    def mfu_wall(self) -> float:
        return self.model_flops / self.times.wall_best / self.rate.wall

    @property
    def mfu_cpu(self) -> float:
        return self.model_flops / self.times.cpu_best / self.rate.cpu

    @property
    def images_per_second(self) -> float:
        return self.images_per_step / self.times.wall_best

    def line(self) -> str:
        t = self.times
        return (
            f"{self.label:<44} {t.wall_best:8.2f} s/step (median {t.wall_median:.2f}; "
            f"cpu {t.cpu_best:.2f} s) {self.images_per_second:7.3f} img/s  "
            f"{self.model_flops / 1e9:8.1f} GFLOP/step  "
            f"MFU wall {self.mfu_wall:.3f} cpu {self.mfu_cpu:.3f}  "
            f"[matmul {self.rate.wall / 1e9:.0f} GFLOP/s, {self.rate.cpu / 1e9:.0f}/cpu-s; "
            f"{len(t.wall)} steps; load {t.load:.1f}]"
        )


def peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)  # KiB on Linux


def measure(label, images_per_step, flops, timer, matmul_size, results: list) -> Result:
    import gc

    import keras

    rate = matmul_rate(matmul_size)
    times = timer()
    # Each measurement builds its own models, optimizers and traced (XLA) functions; freed
    # here, or a run with --ablate keeps every one of them and grows to many GiB.
    keras.backend.clear_session()
    gc.collect()
    result = Result(label, images_per_step, flops, times, rate)
    print(result.line() + f" peak RSS {peak_rss_gib():.1f} GiB", flush=True)
    results.append(result)
    return result


def ratio_line(label: str, numerator: Result, denominator: Result) -> str:
    """Ratios of achieved model FLOP/s (the MFU ratio against any one peak) and of images/s."""
    wall = (numerator.model_flops / numerator.times.wall_best) / (
        denominator.model_flops / denominator.times.wall_best)
    cpu = (numerator.model_flops / numerator.times.cpu_best) / (
        denominator.model_flops / denominator.times.cpu_best)
    return (
        f"  {label}: MFU wall {wall:.3f}, cpu {cpu:.3f}; images/s "
        f"{numerator.images_per_second / denominator.images_per_second:.3f}"
    )


def step_time_ratios(steps: dict, size: int) -> list[str]:
    """A CUT or FastCUT step's time over the ResNet CycleGAN's at the same size and XLA
    setting, on each clock (the issue's goal: ≤ 0.65 for CUT at 256 px)."""
    lines = []
    for (name, jit), result in steps.items():
        cyclegan = steps.get(("resnet", jit))
        if name in ("cut", "fastcut") and cyclegan is not None:
            lines.append(
                f"  {name} step / cyclegan step at {size} px{'' if jit else ' (no XLA)'}: wall "
                f"{result.times.wall_best / cyclegan.times.wall_best:.3f}, cpu "
                f"{result.times.cpu_best / cyclegan.times.cpu_best:.3f} (batch "
                f"{result.images_per_step} vs {cyclegan.images_per_step})")
    return lines


def summary_lines(results: list) -> list[str]:
    """Every MFU again, against the best matmul of the whole run on each clock.

    The matmul timed beside a measurement drops when other jobs take the cores (and its
    CPU time grows with threads spinning while descheduled), which would flatter the MFU
    measured at that moment; the machine's peak is the best seen.
    """
    wall = max(r.rate.wall for r in results)
    cpu = max(r.rate.cpu for r in results)
    lines = [f"\nsummary against the run's best matmul: {wall / 1e9:.0f} GFLOP/s wall, "
             f"{cpu / 1e9:.0f} GFLOP per CPU-second"]
    for r in results:
        lines.append(
            f"  {r.label:<40} MFU wall {r.model_flops / r.times.wall_best / wall:.3f}  "
            f"cpu {r.model_flops / r.times.cpu_best / cpu:.3f}  "
            f"{r.images_per_second:.3f} img/s  load {r.times.load:.1f}"
        )
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet,unet,noise")
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--jit", choices=("on", "off", "both"), default="on",
                        help="XLA for (a) and (b); 'on' is the shipped configs' setting")
    parser.add_argument("--data", type=Path, default=SHARED_DATA if SHARED_DATA.is_dir() else None,
                        help="Kaggle-layout data root (default: the shared data, else the sample)")
    parser.add_argument("--matmul", type=int, default=2048, help="N of the N×N matmul")
    parser.add_argument("--ablate", action="store_true", help="(b) with one thing changed at a time")
    parser.add_argument("--loop", choices=("fit", "painter"), default="fit")
    parser.add_argument("--project", action="store_true",
                        help="print only the accelerator projection (no timing)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (default 0: TF's choice)")
    parser.add_argument("--backend", default="tensorflow",
                        help="Keras backend(s): tensorflow, jax, or both comma-separated (each "
                             "in its own process, then the JAX ÷ TensorFlow ratios)")
    parser.add_argument("--results-json", type=Path, default=None,
                        help="also write the results to this JSON file (what a run over "
                             "several backends reads back from each process)")
    args = parser.parse_args(argv)
    backends = [b for b in args.backend.split(",") if b]
    for name in backends:
        if name not in BACKENDS:
            parser.error(f"--backend: unknown {name!r} (known: {', '.join(BACKENDS)})")
    if not backends or len(set(backends)) != len(backends):
        parser.error("--backend: one or more of tensorflow, jax, each once")
    if len(backends) > 1:
        return run_backends(backends, argv if argv is not None else sys.argv[1:])
    backend = backends[0]
    # Before Keras is first imported (painter.families does not import it): Keras reads
    # KERAS_BACKEND once.
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
        parser.error(f"--backend {backend}: Keras is already running on another backend")
    os.environ["KERAS_BACKEND"] = backend
    models = [m for m in args.models.split(",") if m]
    parts = [p for p in args.parts.split(",") if p]
    for name in models:
        if name not in MODELS:
            parser.error(f"--models: unknown {name!r} (known: {', '.join(MODELS)})")
    for name in parts:
        if name not in PARTS:
            parser.error(f"--parts: unknown {name!r} (known: {', '.join(PARTS)})")
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1")
    if args.data is None:
        from painter.data import SAMPLE_ROOT

        args.data = Path(SAMPLE_ROOT)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    jits = {"on": [True], "off": [False], "both": [True, False]}[args.jit]

    if args.project:
        print("\n".join(projection_lines()))
        return 0
    import keras

    if backend == "jax":
        import jax

        versions = f"Keras {keras.__version__} on JAX {jax.__version__}"
        skipped = [p for p in parts if p != "step"] + (["--ablate"] if args.ablate else [])
        if skipped:
            print(f"on JAX only (b) the whole step is timed; left out: {', '.join(skipped)} "
                  "(written with tf.GradientTape)", flush=True)
        parts = [p for p in parts if p == "step"]
        args.ablate = False
        jits = [True]  # jax.jit: always compiled
    else:
        import tensorflow as tf

        versions = f"Keras {keras.__version__} on TensorFlow {tf.__version__}"
        if args.threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    model_name = "?"
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    print(f"{os.cpu_count()} CPUs ({model_name}), {versions}, data {args.data}, "
          f"threads {args.threads or 'default'}, load {load():.2f}, {time.strftime('%Y-%m-%d %H:%M')}",
          flush=True)

    everything: list[Result] = []
    for size in sizes:
        steps_by_model: dict[tuple[str, bool], Result] = {}
        for name in models:
            for jit in jits:
                config = bench_config(name, size, jit)
                flops = forward_flops(config)
                xla = "XLA" if jit else "no XLA"
                print(f"\n{name} {size} px, batch {config.batch_size}, {xla}: forward "
                      f"G {flops.generator / 1e9:.2f}, D {flops.discriminator / 1e9:.2f} GFLOP/image; "
                      f"step executes {executed_step_flops(config, flops) / training_step_flops(config, flops):.3f}"
                      f"× its model FLOPs", flush=True)
                results = {}
                prefix = f"{name} {size} {'XLA' if jit else 'noXLA'} "
                if "generator" in parts:
                    results["a"] = measure(
                        prefix + "(a) generator alone", config.batch_size,
                        generator_step_flops(config, flops),
                        lambda: time_generator(config, args.steps, args.warmup), args.matmul, everything)
                if "step" in parts:
                    results["b"] = measure(
                        prefix + f"(b) training step ({args.loop})", config.batch_size,
                        training_step_flops(config, flops),
                        lambda: time_training_step(config, args.data, args.steps, args.warmup,
                                                   loop=args.loop), args.matmul, everything)
                if "a" in results and "b" in results:
                    print(ratio_line("(b)/(a)", results["b"], results["a"]), flush=True)
                if "b" in results:
                    steps_by_model[(name, jit)] = results["b"]
                if "starter" in parts and name == "unet" and jit == jits[0]:
                    starter = starter_config(size)
                    results["starter"] = measure(
                        prefix + "starter notebook setup", starter.batch_size,
                        training_step_flops(starter, flops),
                        lambda: time_training_step(starter, args.data, args.steps, args.warmup),
                        args.matmul, everything)
                    if "b" in results:
                        print(ratio_line("painter (b)/starter", results["b"], results["starter"]),
                              flush=True)
                if args.ablate and "b" in results:
                    variants = [("synthetic input", {}, {"synthetic": True})]
                    if hasattr(config, "pool_size"):
                        variants.append(("no pool", {"pool_size": 0}, {}))
                    variants.append(("no DiffAugment", {"diffaugment": ""}, {}))
                    variants.append((f"XLA {'off' if jit else 'on'}", {"jit_compile": not jit}, {}))
                    family = family_of(config)
                    if family.step_passes(config, True, True) != family.step_passes(config, True):
                        variants.append(("separate generator gradients", {}, {"separate": True}))
                    for label, overrides, options in variants:
                        variant = dataclasses.replace(config, **overrides)
                        result = measure(
                            prefix + f"(b) {label}", variant.batch_size,
                            training_step_flops(variant, flops),
                            lambda: time_training_step(variant, args.data, args.steps,
                                                       args.warmup, **options), args.matmul,
                            everything)
                        print(ratio_line("÷ (b)", result, results["b"]), flush=True)
        for line in step_time_ratios(steps_by_model, size):
            print(line, flush=True)
    if everything:
        print("\n".join(summary_lines(everything)))
    if args.results_json:
        args.results_json.write_text(json.dumps(
            {"backend": backend, "results": [dataclasses.asdict(r) for r in everything]}))
    return 0


def result_from_dict(data: dict) -> Result:
    return Result(data["label"], data["images_per_step"], data["model_flops"],
                  StepTimes(**data["times"]), MatmulRate(**data["rate"]))


def run_backends(backends: list[str], argv: list[str]) -> int:
    """Each backend in its own process with the same arguments, one after the other; then
    every result, the JAX ÷ TensorFlow ratios and the MFUs against the best matmul of all."""
    base = [a for i, a in enumerate(argv)
            if not a.startswith(("--backend", "--results-json"))
            and not (i and argv[i - 1] in ("--backend", "--results-json"))]
    by_backend: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for backend in backends:
            out = Path(tmp) / f"{backend}.json"
            print(f"\n==== {BACKEND_NAMES[backend]} (its own process) ====", flush=True)
            done = subprocess.run(
                [sys.executable, __file__, *base, "--backend", backend, "--results-json", str(out)],
                env={**os.environ, "KERAS_BACKEND": backend})
            if done.returncode != 0 or not out.is_file():
                print(f"error: the {backend} process failed (exit status {done.returncode})",
                      file=sys.stderr)
                return 1
            by_backend[backend] = [result_from_dict(r)
                                   for r in json.loads(out.read_text())["results"]]
    everything = []
    for backend, results in by_backend.items():
        for r in results:
            everything.append(dataclasses.replace(r, label=f"{backend} {r.label}"))
    if "jax" in by_backend and "tensorflow" in by_backend:
        print("\nJAX ÷ TensorFlow, each step against its twin (model FLOP/s: the MFU ratio "
              "against any one peak; > 1: JAX is faster):")
        tf_results = {r.label: r for r in by_backend["tensorflow"]}
        for r in by_backend["jax"]:
            twin = tf_results.get(r.label)
            if twin is not None:
                print(ratio_line(r.label, r, twin))
    print("\n".join(summary_lines(everything)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
