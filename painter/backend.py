"""Which Keras backend painter runs on, and which of TensorFlow and JAX are installed.

TensorFlow-free: the CLI asks here before Keras is imported (Keras reads `KERAS_BACKEND`
once, at its import). Whether a package is installed is answered from its import spec,
without importing it (importing TensorFlow costs seconds).
"""

from __future__ import annotations

import importlib.util

BACKENDS = ("tensorflow", "jax")


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
