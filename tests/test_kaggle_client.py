"""`painter kaggle download|push|submit`: credentials first, the kaggle client faked (no network)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from painter.kaggle import client


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.delenv("KAGGLE_CONFIG_DIR", raising=False)


class FakeKaggleApi:
    """Records calls; stands in for kaggle.api.kaggle_api_extended.KaggleApi."""

    calls: list = []
    exit_on_authenticate = False

    def authenticate(self):
        if self.exit_on_authenticate:
            print("Authentication required ...")
            exit(1)

    def competition_download_files(self, competition, path=None, quiet=True, unzip=False):
        self.calls.append(("download", competition, unzip))
        for domain in ("monet_jpg", "photo_jpg"):
            (__import__("pathlib").Path(path) / domain).mkdir()

    def competition_submit(self, file_name, message, competition, quiet=False):
        self.calls.append(("submit", file_name, message, competition))
        return types.SimpleNamespace(message="Successfully submitted")

    def competition_submit_code(self, file_name, message, competition, kernel, kernel_version):
        self.calls.append(("submit_code", file_name, message, competition, kernel, kernel_version))
        return types.SimpleNamespace(message="Successfully submitted")

    def dataset_status(self, slug):
        raise RuntimeError("404 not found")

    def dataset_create_new(self, folder, public=False, quiet=False):
        self.calls.append(("dataset_create_new", folder, public))

    def kernels_push(self, folder):
        self.calls.append(("kernels_push", folder))
        return types.SimpleNamespace(error=None, url="https://www.kaggle.com/code/alice/painter-monet")


@pytest.fixture
def fake_kaggle(monkeypatch):
    FakeKaggleApi.calls = []
    FakeKaggleApi.exit_on_authenticate = False
    module = types.ModuleType("kaggle.api.kaggle_api_extended")
    module.KaggleApi = FakeKaggleApi
    monkeypatch.setitem(sys.modules, "kaggle", types.ModuleType("kaggle"))
    monkeypatch.setitem(sys.modules, "kaggle.api", types.ModuleType("kaggle.api"))
    monkeypatch.setitem(sys.modules, "kaggle.api.kaggle_api_extended", module)
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "secret")
    return FakeKaggleApi


@pytest.mark.parametrize(
    "args",
    [
        ["download", "--out", "{tmp}/data"],
        ["submit", "--kernel", "alice/painter-monet", "--version", "1"],
        ["push", "{tmp}/bundle"],
    ],
)
def test_missing_credentials_one_line(tmp_path, run_cli, no_credentials, args):
    for name in ("dataset", "kernel"):
        (tmp_path / "bundle" / name).mkdir(parents=True)
        (tmp_path / "bundle" / name / f"{name}-metadata.json").write_text('{"id": "alice/x"}')
    code, out, err = run_cli("kaggle", *[a.format(tmp=tmp_path) for a in args])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "~/.kaggle/kaggle.json" in lines[0] and "KAGGLE_USERNAME and KAGGLE_KEY" in lines[0]
    assert not (tmp_path / "data").exists()


def test_credentials_are_found_where_kaggle_looks(tmp_path, no_credentials, monkeypatch):
    assert client.find_credentials() is None
    folder = tmp_path / "home" / ".kaggle"
    folder.mkdir(parents=True)
    (folder / "kaggle.json").write_text(json.dumps({"username": "alice", "key": "k"}))
    assert client.find_credentials() == str(folder / "kaggle.json")
    (folder / "kaggle.json").write_text("{not json")
    with pytest.raises(client.KaggleError, match="not a readable kaggle.json"):
        client.find_credentials()
    monkeypatch.setenv("KAGGLE_USERNAME", "bob")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert client.find_credentials() == "KAGGLE_USERNAME/KAGGLE_KEY"


def test_kaggle_exit_becomes_one_line(fake_kaggle, capsys):
    fake_kaggle.exit_on_authenticate = True
    with pytest.raises(client.KaggleError, match="~/.kaggle/kaggle.json"):
        client.kaggle_api()
    assert "Authentication required" not in capsys.readouterr().out  # its help page is swallowed


def test_download_lands_atomically(tmp_path, fake_kaggle, run_cli):
    out = tmp_path / "data"
    code, stdout, err = run_cli("kaggle", "download", "--out", out)
    assert code == 0, err
    assert fake_kaggle.calls == [("download", "gan-getting-started", True)]
    assert sorted(p.name for p in out.iterdir()) == ["monet_jpg", "photo_jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary folder left
    code, stdout, err = run_cli("kaggle", "download", "--out", out)
    assert code == 2 and "exists; pass --force" in err


def test_submit_checks_the_zip_first(tmp_path, fake_kaggle, run_cli):
    bad = tmp_path / "images.zip"
    bad.write_bytes(b"not a zip")
    code, out, err = run_cli("kaggle", "submit", bad)
    assert code == 1
    assert err.strip() == f"error: {bad}: not a zip file (painter check lists all problems)"
    assert fake_kaggle.calls == []


def test_submit_file_and_kernel_output(tmp_path, fake_kaggle, monkeypatch):
    zip_path = tmp_path / "images.zip"
    zip_path.write_bytes(b"PK")
    assert client.submit(zip_path, message="m") == "Successfully submitted"
    assert client.submit(kernel="alice/painter-monet", version=3) == "Successfully submitted"
    assert fake_kaggle.calls == [
        ("submit", str(zip_path), "m", "gan-getting-started"),
        ("submit_code", "images.zip", "painter", "gan-getting-started", "alice/painter-monet", 3),
    ]
    with pytest.raises(client.UsageError, match="go together"):
        client.submit(kernel="alice/painter-monet")


def test_push_creates_dataset_then_kernel(tmp_path, fake_kaggle):
    for name in ("dataset", "kernel"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}-metadata.json").write_text('{"id": "alice/x"}')
    messages = []
    client.push(tmp_path, log=messages.append)
    assert [c[0] for c in fake_kaggle.calls] == ["dataset_create_new", "kernels_push"]
    assert fake_kaggle.calls[0][2] is False  # private
    assert "created" in messages[0] and "kaggle.com/code" in messages[1]


def test_push_refuses_the_placeholder(tmp_path, fake_kaggle, run_cli):
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "dataset-metadata.json").write_text(
        '{"id": "your-kaggle-username/painter-wheel"}'
    )
    code, out, err = run_cli("kaggle", "push", tmp_path, "--dataset-only")
    assert code == 2
    assert "still says 'your-kaggle-username'" in err and len(err.strip().splitlines()) == 1
    assert fake_kaggle.calls == []
