"""scripts/import_graph.py: painter's modules import each other in one direction only, and
the script names a circle when there is one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_graph.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_painter_has_no_import_cycle():
    done = _run()
    assert done.returncode == 0, done.stderr
    edges = set(done.stdout.splitlines())
    # Function-level imports count: cli imports the library inside its commands.
    assert "painter.cli -> painter.errors" in edges
    assert "painter.cli -> painter.weights" in edges
    # The layers of the pretrained weights: registry ← networks ← conversions ← fetch/import.
    assert "painter.models.stylizer -> painter.pretrained" in edges
    assert "painter.models.stylizer_convert -> painter.models.stylizer" in edges
    assert "painter.weights -> painter.models.stylizer_convert" in edges
    assert "painter.kaggle.bundle -> painter.kaggle.client" in edges
    assert {edge for edge in edges if edge.startswith("painter.pretrained ->")} == {
        "painter.pretrained -> painter.errors"
    }
    assert not any(edge.startswith("painter.errors ->") for edge in edges)
    # The family registry sits above the model builders, which never import it or config.
    assert "painter.families.cyclegan -> painter.models.generators" in edges
    assert not any(edge.startswith(("painter.models.", "painter.data.")) and
                   edge.endswith(("painter.config", "painter.families", "painter.train.run"))
                   for edge in edges)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_is_named_and_fails(tmp_path):
    package = _write(tmp_path / "toy", {
        "__init__.py": "",
        "low.py": "import os\n",
        # A lazy import closes the circle: it still counts.
        "a.py": "from toy import low\nfrom toy.b import helper\n",
        "b.py": "def helper():\n    from .a import thing\n    return thing\n",
        "sub/__init__.py": "from ..low import os\n",
        "sub/leaf.py": "from toy.sub import x\nimport toy.low\n",
    })
    done = _run(package)
    assert done.returncode == 1
    edges = set(done.stdout.splitlines())
    assert edges == {
        "toy.a -> toy.low", "toy.a -> toy.b", "toy.b -> toy.a",
        "toy.sub -> toy.low", "toy.sub.leaf -> toy.sub", "toy.sub.leaf -> toy.low",
    }
    cycle_lines = [line for line in done.stderr.splitlines() if line.startswith("import cycle")]
    assert cycle_lines == ["import cycle among toy.a, toy.b: toy.a -> toy.b -> toy.a"]
    assert "error: 1 import cycle(s) in toy" in done.stderr


def test_type_checking_imports_are_no_edge(tmp_path):
    package = _write(tmp_path / "toy", {
        "__init__.py": "",
        "config.py": "def check():\n    from toy import model\n",
        # Type hints only: never imported at run time, so no circle with config.
        "model.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from toy.config import Config\nelse:\n    import toy.low\n"),
        "low.py": "",
    })
    done = _run(package)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.splitlines()) == {"toy.config -> toy.model", "toy.model -> toy.low"}


def test_dot_output_marks_the_cycle(tmp_path):
    package = _write(tmp_path / "toy", {
        "__init__.py": "", "a.py": "import toy.b\n", "b.py": "import toy.a\n", "c.py": "import toy.a\n",
    })
    done = _run(package, "--dot")
    assert done.returncode == 1
    assert done.stdout.startswith("digraph imports {")
    assert '"toy.a" -> "toy.b" [color=red];' in done.stdout
    assert '"toy.c" -> "toy.a";' in done.stdout


def test_not_a_package_is_a_usage_error(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 2 and "not a package folder" in done.stderr
