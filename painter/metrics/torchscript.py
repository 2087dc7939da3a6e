"""Reads the tensors of a TorchScript archive (`torch.jit.save`) without torch.

A TorchScript archive is a zip: `<root>/data.pkl` is a pickle of the module tree whose
tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` calls, and
whose storages are persistent ids `("storage", torch.FloatStorage, key, device, numel)` that
point at raw little-endian buffers `<root>/data/<key>`. A restricted `pickle.Unpickler`
that knows only those few globals rebuilds every tensor as a numpy array and refuses
anything else, so a hostile archive cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from painter.errors import WeightsError

# torch storage class → little-endian numpy dtype.
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": None,  # no numpy dtype; refused with a clear message
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


# TorchScript pickles typed lists (a conv's `padding: List[int]`) through these.
_LIST_BUILDERS = {"build_intlist", "build_doublelist", "build_boollist", "build_tensorlist"}


class _ScriptModule:
    """Stands in for a `__torch__.*` class: keeps the pickled attribute dict."""

    torch_class = "?"

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state for {self.torch_class}")
        self.__dict__.update(state)


class _StorageType:
    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *_):
    """Numpy twin of `torch._utils._rebuild_tensor_v2`: a strided view copied out."""
    itemsize = storage.dtype.itemsize
    if not size:
        return np.array(storage[offset], dtype=storage.dtype)
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if needed > storage.size:
        raise pickle.UnpicklingError(f"tensor of size {tuple(size)} overruns its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:],
        shape=tuple(size),
        strides=tuple(s * itemsize for s in stride),
        writeable=False,
    )
    return np.ascontiguousarray(view)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self._archive = archive
        self._root = root
        self._storages: dict[str, np.ndarray] = {}
        self._module_classes: dict[str, type] = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return list
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module.startswith("__torch__"):
            key = f"{module}.{name}"
            if key not in self._module_classes:
                self._module_classes[key] = type(name, (_ScriptModule,), {"torch_class": key})
            return self._module_classes[key]
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if key not in self._storages:
            dtype = _STORAGE_DTYPES.get(getattr(storage_type, "name", None))
            if dtype is None:
                raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
            raw = self._archive.read(f"{self._root}/data/{key}")
            array = np.frombuffer(raw, dtype=dtype)
            if array.size < numel:
                raise pickle.UnpicklingError(f"storage {key} holds {array.size} < {numel} items")
            self._storages[key] = array
        return self._storages[key]


def _archive_root(archive: zipfile.ZipFile, path) -> str:
    roots = [n[: -len("/data.pkl")] for n in archive.namelist() if n.endswith("/data.pkl")]
    roots = [r for r in roots if "/" not in r]
    if len(roots) != 1:
        raise WeightsError(f"{path} is not a TorchScript archive (no <root>/data.pkl inside)")
    return roots[0]


def load_torchscript_tensors(path: str | os.PathLike) -> "OrderedDict[str, np.ndarray]":
    """Returns every tensor attribute of a TorchScript module tree, by dotted name.

    Names follow the module attributes, e.g. `net.layers.mixed_3.tower.conv_1.weight`.
    Non-tensor attributes (stride, padding, training flags) are returned too, under the
    same naming, as plain Python values, so a converter can check them.

    Args:
        path: a `.pt` file written by `torch.jit.save`.

    Raises:
        WeightsError: the file is not a zip, has no `data.pkl`, or its pickle holds
            anything but modules, tensors and plain values.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{path} is not a TorchScript archive: {e}") from None
    with archive:
        root = _archive_root(archive, path)
        try:
            data = archive.read(f"{root}/data.pkl")
            tree = _RestrictedUnpickler(io.BytesIO(data), archive, root).load()
        except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError) as e:
            raise WeightsError(f"{path}: cannot read the TorchScript pickle: {e}") from None
    flat: OrderedDict[str, object] = OrderedDict()

    def walk(prefix: str, node) -> None:
        for attr, value in vars(node).items():
            name = f"{prefix}{attr}"
            if isinstance(value, _ScriptModule):
                walk(name + ".", value)
            else:
                flat[name] = value

    if not isinstance(tree, _ScriptModule):
        raise WeightsError(f"{path}: the TorchScript pickle does not hold a module")
    walk("", tree)
    return flat
