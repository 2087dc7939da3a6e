"""On PYTHONPATH, makes `import tensorflow` fail as if TensorFlow were not installed.

Tests of the TensorFlow-free paths (the JAX backend's reader, generation and scoring) run
their subprocesses with this, in the same virtual environment as the rest of the suite.
"""

import importlib.abc
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
