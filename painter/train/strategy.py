"""Picking a `tf.distribute.Strategy` for the machine training runs on.

TensorFlow-only code lives here, at the edge; the models and their `train_step`s only see
a strategy through Keras. On Keras' JAX backend `pick_strategy` hands over to
`painter.train.distribution` (`keras.distribution.DataParallel` over JAX's devices), whose
`JaxDataParallel` the functions below accept as well.

`auto` tries, in order:
1. a TPU: `TPUClusterResolver(tpu="local")` (Kaggle's and Cloud TPU VMs), then the older
   TPU-node form `TPUClusterResolver()` (Colab / TPU nodes named by TPU_NAME). It is tried
   only when the machine shows a sign of one (a TPU device, /dev/accel*, /dev/vfio, or one
   of TPU_NAME, COLAB_TPU_ADDR, TPU_ACCELERATOR_TYPE), because the node form asks the GCE
   metadata server and waits for it on an ordinary machine;
2. `TF_CONFIG` set → `MultiWorkerMirroredStrategy` (checked before the GPU count, as each
   worker of a cluster may hold several GPUs);
3. several GPUs → `MirroredStrategy` over all of them;
4. otherwise the default strategy (one device).

A forced `tpu` or `mirrored` is checked against what TensorFlow sees, and refused with an
`AcceleratorError` (what was found, what to do) rather than training on the host CPU:
Kaggle's TPU VM image installs `tensorflow-cpu`, which cannot reach the TPU, and a GPU
kernel whose GPU is missing would otherwise mirror over nothing but the CPU. Tests and
benchmarks that want several replicas on a CPU-only machine ask for them explicitly:
`mirrored_strategy(logical_cpus())`.
"""

from __future__ import annotations

import glob
import importlib.metadata
import json
import os
from typing import Callable, Sequence

from painter.errors import AcceleratorError, UsageError, first_line

STRATEGIES = ("auto", "tpu", "mirrored", "multiworker", "cpu")

_TPU_ENV = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE")


def _tf():
    import tensorflow as tf

    return tf


def _first_sentence(error: BaseException, limit: int = 160) -> str:
    """The first sentence of an error's first line: TensorFlow's TPU errors go on to list
    op attributes for hundreds of characters."""
    line = first_line(error)
    head = line.split(". ", 1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"


def visible_devices() -> str:
    """The logical devices TensorFlow sees, short: "CPU:0, GPU:0, GPU:1"."""
    devices = _tf().config.list_logical_devices()
    return ", ".join(d.name.split("device:")[-1] for d in devices) or "none"


def logical_cpus() -> list[str]:
    """Names of the logical CPU devices (several when configured, as the tests do)."""
    return [d.name for d in _tf().config.list_logical_devices("CPU")]


def _tensorflow_build() -> str:
    """"tensorflow-cpu 2.20.0" / "tensorflow 2.21.0": which TensorFlow distribution is
    installed (the CPU-only one cannot use a TPU or a GPU)."""
    for name in ("tensorflow-cpu", "tensorflow-tpu", "tensorflow"):
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return f"tensorflow {_tf().__version__}"


def _tpu_hinted() -> bool:
    if any(os.environ.get(name) for name in _TPU_ENV):
        return True
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return True
    return bool(_tf().config.list_physical_devices("TPU"))


class _NoTPU(Exception):
    """No TPU could be reached (the message lists each attempt's error)."""


def _connect_tpu():
    """A TPUStrategy on a TPU VM (`tpu="local"`), else on a TPU node.

    Raises:
        _NoTPU: neither way reaches a TPU; its message has each attempt's error.
    """
    tf = _tf()
    errors = []
    attempts = [("TPUClusterResolver(tpu='local')", lambda: {"tpu": "local"})]
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
        attempts.append(("TPUClusterResolver()", dict))
    for label, kwargs in attempts:
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(**kwargs())
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        except Exception as e:  # noqa: BLE001 - any failure means "no TPU this way"
            errors.append(f"{label}: {_first_sentence(e)}")
            continue
        if tf.config.list_logical_devices("TPU"):
            return strategy
        errors.append(f"{label}: connected, but no TPU device appeared")
    raise _NoTPU("; ".join(errors))


# One MirroredStrategy per device set and process. A second one over the same devices
# numbers its collectives from the same keys as the first, and TF (2.21) then matches them
# against the first one's ("Shape mismatch in the collective instance 100"): training
# twice in one process (a notebook, the test suite) would fail on the second run.
_MIRRORED: dict[tuple[str, ...], object] = {}


def mirrored_strategy(devices: Sequence[str] | None = None):
    """A MirroredStrategy over `devices`, by default over every GPU.

    Args:
        devices: device names, e.g. `logical_cpus()` to test several replicas on a machine
            without GPUs. Default None: every GPU TensorFlow sees.

    Raises:
        AcceleratorError: `devices` is None and TensorFlow sees no GPU (mirroring over
            the CPU alone would train for hours without saying so).
    """
    tf = _tf()
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if not devices:
            built = "" if tf.test.is_built_with_cuda() else ", a build without CUDA"
            raise AcceleratorError(
                f"asked for --strategy mirrored but TensorFlow sees no GPU (devices: "
                f"{visible_devices()}; {_tensorflow_build()}{built}): choose a GPU "
                "accelerator, or train on the CPU with --strategy cpu"
            )
    key = tuple(devices)
    if key not in _MIRRORED:
        _MIRRORED[key] = tf.distribute.MirroredStrategy(list(devices))
    return _MIRRORED[key]


def _multiworker():
    tf = _tf()
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UsageError("--strategy multiworker needs TF_CONFIG (the cluster and this task)")
    try:
        cluster = json.loads(raw)["cluster"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"TF_CONFIG is not a JSON object with a 'cluster': {raw!r}") from None
    if not isinstance(cluster, dict) or not cluster:
        raise UsageError(f"TF_CONFIG has an empty cluster: {raw!r}")
    return tf.distribute.MultiWorkerMirroredStrategy()


def _one_cpu():
    return _tf().distribute.OneDeviceStrategy("/cpu:0")


def pick_strategy(name: str = "auto", log: Callable[[str], None] | None = None):
    """Returns the distribution strategy `name` asks for.

    Args:
        name: "auto" (default; see the module docstring), or one of "tpu", "mirrored",
            "multiworker", "cpu" to force it. "tpu" must reach a TPU and "mirrored" (all
            GPUs) must find a GPU; "cpu" is one CPU device even where there are GPUs.
        log: where to say which strategy was picked and why; default silent.

    Returns:
        A `tf.distribute.Strategy`; on Keras' JAX backend a
        `painter.train.distribution.JaxDataParallel`.

    Raises:
        UsageError: an unknown name, or "multiworker" without a usable TF_CONFIG.
        AcceleratorError: "tpu" that reaches no TPU, "mirrored" without a GPU (one line
            saying what TensorFlow sees and what to do).
    """
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    from painter.backend import on_jax

    if on_jax():
        from painter.train.distribution import pick_distribution

        return pick_distribution(name, log)
    log = log or (lambda message: None)
    tf = _tf()
    if name == "tpu":
        try:
            strategy = _connect_tpu()
        except _NoTPU as e:
            raise AcceleratorError(
                f"asked for --strategy tpu but {_tensorflow_build()} cannot connect to a TPU "
                f"({e}; devices: {visible_devices()}); painter trains with TensorFlow, which "
                "needs a build that sees the TPU (Kaggle's TPU VM image installs "
                "tensorflow-cpu, which does not): choose the GPU accelerator instead"
            ) from None
    elif name == "mirrored":
        strategy = mirrored_strategy()
    elif name == "multiworker":
        strategy = _multiworker()
    elif name == "cpu":
        strategy = _one_cpu()
    else:
        strategy = None
        if _tpu_hinted():
            try:
                strategy = _connect_tpu()
            except _NoTPU as e:
                log(f"strategy: TPU hinted but not usable with {_tensorflow_build()}, going "
                    f"on without ({e})")
        if strategy is None and os.environ.get("TF_CONFIG"):
            strategy = _multiworker()
        if strategy is None and len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = mirrored_strategy()
        if strategy is None:
            strategy = tf.distribute.get_strategy()
    log(f"strategy: {describe_strategy(strategy)} (devices: {visible_devices()})")
    return strategy


def describe_strategy(strategy) -> str:
    """One line: the strategy's class and its replica count."""
    if hasattr(strategy, "describe"):
        return strategy.describe()
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"


def is_tpu(strategy) -> bool:
    return ("TPUStrategy" in type(strategy).__name__
            or getattr(strategy, "platform", None) == "tpu")


def fit_scope(strategy):
    """What `fit` runs inside: on JAX the run's distribution (Keras' JAX trainer lays each
    batch out over the devices by the distribution current while it runs); nothing on
    TensorFlow, whose `fit` enters the model's strategy itself."""
    import contextlib

    return strategy.scope() if hasattr(strategy, "distribution") else contextlib.nullcontext()


def worker_info(strategy) -> tuple[int, int]:
    """(this worker's index, number of workers); (0, 1) outside multi-worker training.

    The chief (or worker 0 where the cluster has no chief) is index 0.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not type(strategy).__name__.startswith("MultiWorker"):
        return 0, 1
    spec = resolver.cluster_spec().as_dict()
    jobs = [job for job in ("chief", "worker") if job in spec]
    count = sum(len(spec[job]) for job in jobs)
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    if task_type == "chief":
        return 0, count
    offset = len(spec.get("chief", []))
    return offset + int(task_id), count


def tf_config_worker(strategy_name: str) -> tuple[int, int] | None:
    """(index, count) of this worker from TF_CONFIG when `strategy_name` would make a
    multi-worker strategy, without starting one (which waits for every worker); else None.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw or strategy_name not in ("auto", "multiworker"):
        return None
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec.get("task", {})
        chiefs = len(cluster.get("chief", []))
        count = chiefs + len(cluster.get("worker", []))
        if task.get("type") == "chief":
            return 0, count
        return chiefs + int(task.get("index", 0)), count
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # pick_strategy reports a malformed TF_CONFIG


def replicas_agree(strategy, flag: bool) -> bool:
    """True on every worker when `flag` is True on any of them.

    Workers must run the same number of steps or their collectives hang, so a decision
    taken from a local clock (the time budget) is shared first. Free outside
    multi-worker training.
    """
    if worker_info(strategy)[1] <= 1:
        return flag
    tf = _tf()
    value = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
    return bool(float(total) > 0)


def workers_min(strategy, value: int) -> int:
    """The smallest of every worker's `value`; `value` itself outside multi-worker training.

    Like `replicas_agree`, for a count taken from a local clock (the epochs a time budget
    leaves): every worker must plan the same number of steps and the same schedule.
    """
    if worker_info(strategy)[1] <= 1:
        return value
    tf = _tf()
    per_replica = strategy.run(lambda: tf.constant([float(value)]))
    gathered = strategy.gather(per_replica, axis=0)
    return int(min(float(v) for v in gathered.numpy().reshape(-1)))


def jit_allowed(strategy) -> bool:
    """Whether Keras may XLA-compile the train step under `strategy`.

    Keras compiles the whole `strategy.run(train_step)` with XLA. That fails as soon as
    the step spans several devices (measured with TF 2.21 / Keras 3.15: MirroredStrategy
    over 2 logical CPUs, "Trying to access resource … located in device …"), and
    TPUStrategy compiles its steps with XLA anyway. So: one replica, not a TPU.
    On JAX always: `jax.jit` compiles the step over a distribution's devices, and a step
    run op by op there would be slow beyond use.
    """
    if hasattr(strategy, "distribution"):
        return True
    return strategy.num_replicas_in_sync == 1 and not is_tpu(strategy)
