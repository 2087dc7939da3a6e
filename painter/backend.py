"""Which Keras backend painter runs on, and which of TensorFlow and JAX are installed.

TensorFlow-free: the CLI asks here before Keras is imported. Keras reads `KERAS_BACKEND`
once, at its import, and `import tensorflow` imports Keras, so the choice must be made
(`select_backend`) before either. Whether a package is installed is answered from its
import spec, without importing it (importing TensorFlow costs seconds).

The default backend (`default_backend`) is `KERAS_BACKEND` when it is set; otherwise
TensorFlow where TensorFlow sees an accelerator, where JAX is not installed, or where JAX
sees no accelerator either; JAX only where JAX alone sees one (Kaggle's TPU VM image,
whose `tensorflow-cpu` cannot reach the TPU; a GPU machine with JAX but no TensorFlow).
A CPU-only machine keeps TensorFlow even with JAX installed: on the CPU both train, and
TensorFlow's pipeline and ops are the ones measured there. Only a machine where JAX has an
accelerator plugin (libtpu, a CUDA/ROCm plugin) pays for asking the devices.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil
import subprocess
import sys

from painter.errors import UsageError

BACKENDS = ("tensorflow", "jax")

# What to install when neither backend is: the one line the CLI prints.
INSTALL_HINT = ("pip install tensorflow (CPU and NVIDIA GPUs), or pip install 'jax[tpu]' / "
                "'jax[cuda12]' / jax (TPUs, GPUs, CPU)")


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it.

    A module that an import hook refuses (tests block TensorFlow that way to stand in for
    an environment without it) counts as not installed.
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def has_tensorflow() -> bool:
    return installed("tensorflow")


def has_jax() -> bool:
    return installed("jax")


def keras_backend() -> str:
    """The backend Keras runs on (imports Keras)."""
    import keras

    return keras.backend.backend()


def on_jax() -> bool:
    return keras_backend() == "jax"


# ---- what each backend sees -----------------------------------------------------------


def jax_accelerator_plugins() -> list[str]:
    """The accelerator plugins installed for JAX (libtpu, jax_plugins.xla_cuda12, …),
    without importing JAX: a JAX without any sees only the CPU."""
    found = ["libtpu"] if installed("libtpu") else []
    try:
        spec = importlib.util.find_spec("jax_plugins")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        found += [f"jax_plugins.{m.name}"
                  for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    return found


def jax_sees_accelerator() -> bool:
    """Whether JAX's default devices are a TPU or GPU (imports JAX only where it has an
    accelerator plugin; JAX_PLATFORMS=cpu counts as none)."""
    if not has_jax() or os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return False
    if not jax_accelerator_plugins():
        return False
    try:
        import jax

        return jax.default_backend() != "cpu"
    except Exception:  # noqa: BLE001 - a plugin that cannot start means no accelerator
        return False


def _tensorflow_distribution() -> str | None:
    for name in ("tensorflow-cpu", "tensorflow-tpu", "tensorflow"):
        try:
            importlib.metadata.version(name)
            return name
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


_TF_PROBE = ("import tensorflow as tf; "
             "print(bool(tf.config.list_physical_devices('GPU') "
             "or tf.config.list_physical_devices('TPU')))")


def tensorflow_sees_accelerator() -> bool:
    """Whether TensorFlow sees a GPU or TPU.

    Asked in a child process: importing TensorFlow here would import Keras before its
    backend is chosen. `tensorflow-cpu` (Kaggle's TPU image) sees none without asking.
    """
    if not has_tensorflow() or _tensorflow_distribution() == "tensorflow-cpu":
        return False
    try:
        done = subprocess.run([sys.executable, "-c", _TF_PROBE], capture_output=True,
                              text=True, timeout=300,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().endswith("True")


# ---- choosing ---------------------------------------------------------------------------


def _require_installed(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise UsageError(f"{source}: unknown backend {name!r}; painter trains on "
                         f"{' or '.join(BACKENDS)}")
    if not installed(name):
        hint = "pip install tensorflow" if name == "tensorflow" else "pip install jax"
        raise UsageError(f"{source}: {name} is not installed ({hint})")
    return name


def default_backend() -> str:
    """The backend a run takes when none is asked for (module docstring).

    Raises:
        UsageError: `KERAS_BACKEND` names another backend or one not installed; neither
            TensorFlow nor JAX is installed (the message says what to pip install).
    """
    named = os.environ.get("KERAS_BACKEND", "").strip()
    if named:
        return _require_installed(named, f"KERAS_BACKEND={named}")
    tensorflow, jax = has_tensorflow(), has_jax()
    if not tensorflow and not jax:
        raise UsageError(f"neither TensorFlow nor JAX is installed: {INSTALL_HINT}")
    if not jax:
        return "tensorflow"
    if not tensorflow:
        return "jax"
    # Both: the cheap question first (no JAX plugin → no JAX accelerator → TensorFlow).
    if not jax_accelerator_plugins() or tensorflow_sees_accelerator():
        return "tensorflow"
    return "jax" if jax_sees_accelerator() else "tensorflow"


def select_backend(requested: str | None = None) -> str:
    """Chooses the backend for this process and sets `KERAS_BACKEND` to it, before Keras
    is imported.

    Args:
        requested: "jax" or "tensorflow" (`painter train --backend`); default None:
            `default_backend()`.

    Returns:
        The backend chosen.

    Raises:
        UsageError: an unknown backend or one not installed; neither installed; Keras
            already imported on another backend (it cannot change in a process).
    """
    name = (_require_installed(requested, f"--backend {requested}") if requested
            else default_backend())
    check_keras_backend(name)
    os.environ["KERAS_BACKEND"] = name
    return name


def check_keras_backend(name: str | None) -> str:
    """The backend Keras runs on in this process, checked against `name` when given.

    Does not import Keras when it is not imported yet (returns `name` then).

    Raises:
        UsageError: Keras already runs on another backend, or on one painter does not
            train on.
    """
    if "keras" not in sys.modules:
        return name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    running = keras_backend()
    if running not in BACKENDS:
        raise UsageError(f"Keras runs on {running} in this process; painter trains on "
                         f"{' or '.join(BACKENDS)} (set KERAS_BACKEND before importing Keras)")
    if name and name != running:
        raise UsageError(f"asked for backend {name} but Keras already runs on {running} in this "
                         f"process (it reads KERAS_BACKEND once, at import): start a new "
                         f"process with KERAS_BACKEND={name}, or run painter train --backend "
                         f"{name}")
    return running
