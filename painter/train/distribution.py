"""Data parallelism on Keras' JAX backend: `keras.distribution.DataParallel` over the
devices JAX sees, wrapped as the run's "strategy".

TensorFlow-free. `painter.train.run` asks a strategy for `scope()` (entered while the
model's variables are created, and again around `fit`: Keras' JAX trainer lays each batch
out over the devices by the distribution current then), `num_replicas_in_sync` (the global
batch must split evenly over it) and a description; `JaxDataParallel` answers those, and
`painter.train.strategy`'s `worker_info`, `replicas_agree` and `workers_min` see one
process (JAX's multi-host training is not supported: refused, never a hang).

`--strategy` names map onto JAX's devices:

    auto         every device of JAX's default backend (TPU, GPU, else CPU); one device
                 trains without a distribution
    tpu          every TPU; none is an `AcceleratorError` (no silent CPU)
    mirrored     every GPU; none is an `AcceleratorError`
    cpu          one CPU device
    multiworker  TensorFlow's (TF_CONFIG): a `UsageError` on JAX

Tests give JAX several CPU devices with XLA_FLAGS=--xla_force_host_platform_device_count=N.
"""

from __future__ import annotations

import contextlib
from typing import Callable

from painter.errors import AcceleratorError, UsageError


class JaxDataParallel:
    """A run's devices on JAX: `keras.distribution.DataParallel` over them, or no
    distribution for one device of the default backend.

    Attributes:
        devices: the `jax.Device`s the batch is split over.
        distribution: the `keras.distribution.DataParallel`, or None (one device).
    """

    def __init__(self, devices, distribution=None):
        self.devices = list(devices)
        self.distribution = distribution

    @property
    def num_replicas_in_sync(self) -> int:
        return len(self.devices)

    @property
    def platform(self) -> str:
        """"tpu", "gpu" or "cpu": the devices' platform."""
        return self.devices[0].platform

    def scope(self):
        """Makes the distribution current (Keras' `Distribution.scope`); nothing for one
        device without a distribution."""
        return self.distribution.scope() if self.distribution else contextlib.nullcontext()

    def describe(self) -> str:
        if self.distribution is None:
            return f"JAX on 1 {self.platform} device"
        return f"JAX DataParallel over {len(self.devices)} {self.platform} devices"


def device_names(devices) -> str:
    """"cpu:0, cpu:1": JAX devices, short."""
    return ", ".join(f"{d.platform}:{d.id}" for d in devices) or "none"


def _jax_build() -> str:
    import jax

    from painter.backend import jax_accelerator_plugins

    plugins = jax_accelerator_plugins()
    return f"jax {jax.__version__}, " + (
        f"plugins {', '.join(plugins)}" if plugins else "no accelerator plugin installed")


def _platform_devices(platform: str) -> list:
    import jax

    try:
        return list(jax.devices(platform))
    except RuntimeError:  # that backend is not available
        return []


def pick_distribution(name: str = "auto", log: Callable[[str], None] | None = None):
    """The run's `JaxDataParallel` for `--strategy name` (module docstring).

    Raises:
        UsageError: an unknown name, "multiworker", or several JAX processes (multi-host).
        AcceleratorError: "tpu" without a TPU, "mirrored" without a GPU (one line saying
            what JAX sees and what to do).
    """
    import jax
    import keras

    if name not in ("auto", "tpu", "mirrored", "cpu", "multiworker"):
        raise UsageError(f"unknown strategy {name!r} (known: auto, tpu, mirrored, "
                         "multiworker, cpu)")
    log = log or (lambda message: None)
    if jax.process_count() > 1:
        raise UsageError(
            f"JAX runs {jax.process_count()} processes (multi-host), which painter does not "
            "support: train on one host, whose devices DataParallel splits the batch over"
        )
    if name == "multiworker":
        raise UsageError("--strategy multiworker is TensorFlow's (TF_CONFIG); on JAX painter "
                         "trains on one host's devices: use --strategy auto, or --backend "
                         "tensorflow")
    default = jax.devices()
    if name == "tpu":
        devices = _platform_devices("tpu")
        if not devices:
            raise AcceleratorError(
                f"asked for --strategy tpu but JAX sees no TPU (devices: "
                f"{device_names(default)}; {_jax_build()}): install jax[tpu] on a TPU VM, "
                "or choose another accelerator")
    elif name == "mirrored":
        devices = _platform_devices("gpu")
        if not devices:
            raise AcceleratorError(
                f"asked for --strategy mirrored but JAX sees no GPU (devices: "
                f"{device_names(default)}; {_jax_build()}): install jax[cuda12] on a GPU "
                "machine, or train on the CPU with --strategy cpu")
    elif name == "cpu":
        devices = _platform_devices("cpu")[:1]
    else:
        devices = default
    if len(devices) == 1 and devices[0] in default:
        chosen = JaxDataParallel(devices)
    else:
        # One CPU device where the default is an accelerator still needs a distribution:
        # it is what places the variables and batches on that device.
        chosen = JaxDataParallel(devices, keras.distribution.DataParallel(devices=devices))
    log(f"strategy: {chosen.describe()} (devices: {device_names(default)})")
    return chosen
