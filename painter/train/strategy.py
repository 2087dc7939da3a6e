"""Picking a `tf.distribute.Strategy` for the machine training runs on.

TensorFlow-only code lives here, at the edge; the models and their `train_step`s only see
a strategy through Keras.

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
"""

from __future__ import annotations

import glob
import json
import os
from typing import Callable

from painter.errors import UsageError

STRATEGIES = ("auto", "tpu", "mirrored", "multiworker", "cpu")

_TPU_ENV = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE")


def _tf():
    import tensorflow as tf

    return tf


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _tpu_hinted() -> bool:
    if any(os.environ.get(name) for name in _TPU_ENV):
        return True
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return True
    return bool(_tf().config.list_physical_devices("TPU"))


def _connect_tpu():
    """A TPUStrategy on a TPU VM (`tpu="local"`), else on a TPU node; raises if neither."""
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
            return tf.distribute.TPUStrategy(resolver)
        except Exception as e:  # noqa: BLE001 - any failure means "no TPU this way"
            errors.append(f"{label}: {_first_line(e)}")
    raise UsageError("--strategy tpu: no TPU found (" + "; ".join(errors) + ")")


# One MirroredStrategy per device set and process. A second one over the same devices
# numbers its collectives from the same keys as the first, and TF (2.21) then matches them
# against the first one's ("Shape mismatch in the collective instance 100"): training
# twice in one process (a notebook, the test suite) would fail on the second run.
_MIRRORED: dict[tuple[str, ...], object] = {}


def _mirrored():
    """MirroredStrategy over every GPU, or over every logical CPU when there is no GPU."""
    tf = _tf()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    key = tuple(devices)
    if key not in _MIRRORED:
        _MIRRORED[key] = tf.distribute.MirroredStrategy(devices)
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
            "multiworker", "cpu" to force it. "mirrored" spans all GPUs, or all logical
            CPU devices on a machine without GPUs; "cpu" is one CPU device even where
            there are GPUs.
        log: where to say which strategy was picked and why; default silent.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        UsageError: for an unknown name, or a forced strategy this machine cannot give
            (no TPU, no TF_CONFIG), with the reason on one line.
    """
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    log = log or (lambda message: None)
    tf = _tf()
    if name == "tpu":
        strategy = _connect_tpu()
    elif name == "mirrored":
        strategy = _mirrored()
    elif name == "multiworker":
        strategy = _multiworker()
    elif name == "cpu":
        strategy = _one_cpu()
    else:
        strategy = None
        if _tpu_hinted():
            try:
                strategy = _connect_tpu()
            except UsageError as e:
                log(f"strategy: TPU hinted but not usable, going on without ({e})")
        if strategy is None and os.environ.get("TF_CONFIG"):
            strategy = _multiworker()
        if strategy is None and len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = _mirrored()
        if strategy is None:
            strategy = tf.distribute.get_strategy()
    log(f"strategy: {describe_strategy(strategy)}")
    return strategy


def describe_strategy(strategy) -> str:
    """One line: the strategy's class and its replica count."""
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"


def is_tpu(strategy) -> bool:
    return "TPUStrategy" in type(strategy).__name__


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


def jit_allowed(strategy) -> bool:
    """Whether Keras may XLA-compile the train step under `strategy`.

    Keras compiles the whole `strategy.run(train_step)` with XLA. That fails as soon as
    the step spans several devices (measured with TF 2.21 / Keras 3.15: MirroredStrategy
    over 2 logical CPUs, "Trying to access resource … located in device …"), and
    TPUStrategy compiles its steps with XLA anyway. So: one replica, not a TPU.
    """
    return strategy.num_replicas_in_sync == 1 and not is_tpu(strategy)
