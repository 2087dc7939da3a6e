"""`painter --help` and the commands that never need TensorFlow start without importing it
(it takes seconds); the others still import it, quietly, before they run."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

# Runs the CLI in a fresh interpreter, then says which heavy modules it imported.
PROBE = """
import sys
from painter.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as e:
    code = e.code
print("imported:", "tensorflow" in sys.modules, "keras" in sys.modules, "exit:", code)
"""


def _probe(*args, env=None):
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env)
    return done.stdout.splitlines()[-1], done


@pytest.fixture
def two_image_zip(tmp_path):
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(2):
            buffer = io.BytesIO()
            Image.fromarray(np.full((256, 256, 3), 40 * i, np.uint8)).save(buffer, "JPEG")
            zf.writestr(f"{i}.jpg", buffer.getvalue())
    return path


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["check", "--help"]])
def test_help_does_not_import_tensorflow(args):
    last, done = _probe(*args)
    assert last == "imported: False False exit: 0", done.stderr
    assert "Usage: painter" in done.stdout


def test_check_does_not_import_tensorflow(two_image_zip):
    last, done = _probe("check", two_image_zip)
    # Two images are too few for Kaggle: the check ran to the end and said so.
    assert last == "imported: False False exit: 1", done.stderr
    assert "2 images; Kaggle takes 7,000 to 10,000" in done.stderr


def test_weights_path_does_not_import_tensorflow(tmp_path):
    import os

    env = dict(os.environ, PAINTER_CACHE=str(tmp_path / "cache"))
    last, done = _probe("weights", "path", "fid", env=env)
    assert last == "imported: False False exit: 0", done.stderr
    assert str(tmp_path / "cache" / "fid_inception.weights.h5") in done.stdout


def test_report_does_not_import_tensorflow(tiny_run, tmp_path):
    last, done = _probe("report", tiny_run, "--out", tmp_path / "report.html")
    assert last == "imported: False False exit: 0", done.stderr
    assert (tmp_path / "report.html").stat().st_size > 1000


def test_commands_that_reach_keras_import_tensorflow_first():
    from painter.cli import cli

    needs = {name: getattr(command, "needs_tensorflow", None) for name, command in cli.commands.items()}
    assert needs["train"] is True and needs["score"] is True and needs["generate"] is True
    assert needs["check"] is False and needs["report"] is False
    assert cli.commands["weights"].commands["fetch"].needs_tensorflow is True
    assert cli.commands["kaggle"].commands["submit"].needs_tensorflow is False
