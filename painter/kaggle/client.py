"""A thin wrapper over the `kaggle` client: download the data, push the bundle, submit.

The `kaggle` package authenticates when it is imported and calls `exit(1)` (after printing
a page of help) when it finds no credentials, so it is imported only here, only after
painter has found credentials itself, with its output captured. Its errors become one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

from painter.errors import PainterError, UsageError, first_line
from painter.io import atomic_dir

COMPETITION = "gan-getting-started"
# What the bundle's metadata says when no user name was found; `push` refuses it.
USERNAME_PLACEHOLDER = "your-kaggle-username"
CREDENTIALS_HELP = (
    "no Kaggle credentials: put kaggle.json (kaggle.com → Settings → API → Create New Token) "
    "in ~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY"
)


class KaggleError(PainterError):
    """The kaggle client is missing, has no credentials, or Kaggle refused a request."""

    exit_code = 1


def _config_dirs() -> list[Path]:
    env = os.environ.get("KAGGLE_CONFIG_DIR")
    if env:
        return [Path(env).expanduser()]
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return [Path.home() / ".kaggle", xdg]


def credentials_file() -> Path | None:
    """The kaggle.json the kaggle client would read, if there is one."""
    for folder in _config_dirs():
        if (folder / "kaggle.json").is_file():
            return folder / "kaggle.json"
    return None


def kaggle_username() -> str | None:
    """The Kaggle user name from KAGGLE_USERNAME or kaggle.json, if either is there."""
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    path = credentials_file()
    if path is not None:
        try:
            return json.loads(path.read_text()).get("username") or None
        except (OSError, ValueError):
            return None
    return None


def find_credentials() -> str | None:
    """Where Kaggle credentials are (an env var or a file), or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    path = credentials_file()
    if path is not None:
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise KaggleError(f"{path}: not a readable kaggle.json ({e})") from None
        if not (isinstance(values, dict) and values.get("username") and values.get("key")):
            raise KaggleError(f"{path}: needs \"username\" and \"key\"")
        return str(path)
    for folder in _config_dirs():
        if (folder / "access_token").is_file():
            return str(folder / "access_token")
    return None


def kaggle_api():
    """An authenticated `KaggleApi`.

    Raises:
        KaggleError: no credentials (the message says where kaggle.json goes), or the
            kaggle package is not installed.
    """
    if find_credentials() is None:
        raise KaggleError(CREDENTIALS_HELP)
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except ImportError:
        raise KaggleError("the kaggle package is not installed: pip install kaggle") from None
    except SystemExit:
        raise KaggleError(CREDENTIALS_HELP) from None
    except Exception as e:
        raise KaggleError(f"kaggle authentication failed: {first_line(e)}") from None
    return api


@contextlib.contextmanager
def _kaggle_errors(what: str):
    try:
        yield
    except PainterError:
        raise
    except SystemExit:
        raise KaggleError(f"kaggle {what}: the kaggle client gave up (credentials?)") from None
    except Exception as e:  # requests/HTTP/ValueError from the client: one line
        raise KaggleError(f"kaggle {what}: {first_line(e)}") from None


def download_data(out: str | os.PathLike, *, force: bool = False, competition: str = COMPETITION) -> Path:
    """Downloads and unzips the competition data into `out` (Kaggle's layout: monet_jpg/, …).

    The data lands in a temporary folder renamed at the end, so an interrupted download
    leaves nothing behind. You must have joined the competition on kaggle.com.
    """
    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} exists; pass --force to replace it")
    api = kaggle_api()
    with atomic_dir(out, force) as tmp, _kaggle_errors("download"):
        api.competition_download_files(competition, path=str(tmp), quiet=False, unzip=True)
    return out


def push(bundle: str | os.PathLike, *, dataset: bool = True, kernel: bool = True,
         notes: str = "painter update", log=print) -> None:
    """Uploads a bundle (`painter kaggle bundle`): the dataset (new or a new version), then
    the kernel, which Kaggle then runs.
    """
    bundle = Path(bundle)
    folders = [(name, bundle / name) for name, wanted in (("dataset", dataset), ("kernel", kernel)) if wanted]
    for name, folder in folders:
        metadata = folder / f"{name}-metadata.json"
        if not metadata.is_file():
            raise UsageError(f"{metadata}: no such file; build it with `painter kaggle bundle`")
        if USERNAME_PLACEHOLDER in metadata.read_text(encoding="utf-8"):
            raise UsageError(f"{metadata}: still says '{USERNAME_PLACEHOLDER}'; rebuild with --username")
    api = kaggle_api()
    for name, folder in folders:
        if name == "dataset":
            slug = json.loads((folder / "dataset-metadata.json").read_text())["id"]
            with _kaggle_errors("dataset upload"):
                exists = _dataset_exists(api, slug)
                if exists:
                    api.dataset_create_version(str(folder), notes, quiet=False)
                else:
                    api.dataset_create_new(str(folder), public=False, quiet=False)
            log(f"dataset {slug}: {'new version' if exists else 'created'}")
        else:
            with _kaggle_errors("kernel push"):
                response = api.kernels_push(str(folder))
            error = getattr(response, "error", None)
            if error:
                raise KaggleError(f"kaggle kernel push: {error}")
            log(f"kernel pushed: {getattr(response, 'url', '') or folder}")


def _dataset_exists(api, slug: str) -> bool:
    try:
        api.dataset_status(slug)
        return True
    except Exception:
        return False


def submit(path: str | os.PathLike | None = None, *, message: str = "painter",
           kernel: str | None = None, version: int | None = None,
           competition: str = COMPETITION) -> str:
    """Submits `images.zip`: a local file, or (`kernel` + `version`) a kernel's output file.

    Returns:
        Kaggle's reply message.
    """
    if (kernel is None) != (version is None):
        raise UsageError("--kernel and --version go together (a kernel version's output)")
    if kernel is None:
        if path is None:
            raise UsageError("give the images.zip to submit, or --kernel and --version")
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    api = kaggle_api()
    with _kaggle_errors("submit"):
        if kernel is None:
            response = api.competition_submit(str(path), message, competition)
        else:
            response = api.competition_submit_code(
                Path(path).name if path else "images.zip", message, competition, kernel, version
            )
    return getattr(response, "message", "") or "submitted"
