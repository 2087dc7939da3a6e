"""Choosing the Keras backend (`painter.backend`), refusing one Keras cannot switch to, the
run's record of it in config.toml and the report; and, on JAX in a subprocess without
TensorFlow, `--strategy`'s names mapped onto JAX's devices (`painter.train.distribution`)
with their one-line refusals."""

from __future__ import annotations

import pytest

from conftest import run_python, tiny_cyclegan
from painter import backend
from painter.config import config_to_toml, load_config
from painter.errors import UsageError
from painter.rundir import read_run_record, run_toml


@pytest.fixture
def machine(monkeypatch):
    """A machine whose packages and devices the test sets: `machine(tensorflow=…, jax=…,
    plugins=[…], tf_sees=…, jax_sees=…)`; returns the list of the probes asked since."""

    def set_up(tensorflow=True, jax=True, plugins=(), tf_sees=False, jax_sees=False):
        asked = []
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
        monkeypatch.setattr(backend, "has_tensorflow", lambda: tensorflow)
        monkeypatch.setattr(backend, "has_jax", lambda: jax)
        monkeypatch.setattr(backend, "jax_accelerator_plugins", lambda: list(plugins))

        def probe(name, answer):
            def ask():
                asked.append(name)
                return answer
            return ask

        monkeypatch.setattr(backend, "tensorflow_sees_accelerator", probe("tensorflow", tf_sees))
        monkeypatch.setattr(backend, "jax_sees_accelerator", probe("jax", jax_sees))
        return asked

    return set_up


def test_the_default_backend_is_tensorflow_unless_only_jax_sees_an_accelerator(machine):
    # A CPU machine with both keeps TensorFlow, without asking either for its devices.
    assert machine() == [] and backend.default_backend() == "tensorflow"
    asked = machine(jax=False, plugins=["libtpu"], jax_sees=True)
    assert backend.default_backend() == "tensorflow" and asked == []
    machine(tensorflow=False)
    assert backend.default_backend() == "jax"  # a JAX-only machine, even without accelerator
    # A Kaggle TPU VM: tensorflow-cpu sees no TPU, JAX with libtpu does.
    asked = machine(plugins=["libtpu"], jax_sees=True)
    assert backend.default_backend() == "jax" and asked == ["tensorflow", "jax"]
    # A GPU machine where both see the GPU: TensorFlow, and JAX is not woken up.
    asked = machine(plugins=["jax_plugins.xla_cuda12"], tf_sees=True, jax_sees=True)
    assert backend.default_backend() == "tensorflow" and asked == ["tensorflow"]
    asked = machine(plugins=["jax_plugins.xla_cuda12"])  # a plugin, but no device
    assert backend.default_backend() == "tensorflow" and asked == ["tensorflow", "jax"]


def test_keras_backend_wins_and_a_backend_not_installed_is_one_line(machine, monkeypatch):
    machine(plugins=["libtpu"], jax_sees=True)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backend.default_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(UsageError, match="KERAS_BACKEND=torch: unknown backend 'torch'"):
        backend.default_backend()
    machine(tensorflow=False, jax=False)
    with pytest.raises(UsageError) as raised:
        backend.default_backend()
    message = str(raised.value)
    assert "neither TensorFlow nor JAX is installed" in message and "pip install" in message
    assert "\n" not in message


def test_keras_on_tensorflow_refuses_jax_in_this_process(run_cli, tmp_path, one_error_line,
                                                        sample_dir):
    with pytest.raises(UsageError, match="Keras already runs on tensorflow"):
        backend.select_backend("jax")
    from painter.train import train

    out = tmp_path / "run"
    with pytest.raises(UsageError, match="KERAS_BACKEND=jax"):
        train(tiny_cyclegan(), data=sample_dir, out=out, backend="jax", log=None)
    assert not out.exists()
    config = tmp_path / "tiny.toml"
    config.write_text(config_to_toml(tiny_cyclegan()))
    code, _, err = run_cli("train", str(config), "--backend", "jax", "--out", str(out))
    assert code == 2 and "Keras already runs on tensorflow" in one_error_line(err)
    assert not out.exists()


def test_the_run_record_is_kept_beside_the_config_and_shown_by_the_report(tmp_path):
    from painter.report import read_run, render_report

    config = tiny_cyclegan()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(config) + run_toml(
        {"backend": "jax", "devices": 8}))
    assert load_config(run / "config.toml") == config  # a record, not a setting
    assert read_run_record(run) == {"backend": "jax", "devices": 8}
    record = read_run(run)
    assert record.trained_on == {"backend": "jax", "devices": 8}
    assert "run" not in [row.key for row in record.config]
    page = render_report(record)
    assert "<b>jax</b><span>Keras backend (8 devices)</span>" in page


STRATEGIES_ON_JAX = """
import jax
from conftest import tiny_cyclegan
from painter.errors import PainterError
from painter.train.strategy import describe_strategy, pick_strategy, replicas_agree, worker_info
from painter.train.run import train

def outcome(call):
    try:
        return call()
    except PainterError as error:
        return f"{type(error).__name__}: {error}"

for name in ("auto", "cpu", "tpu", "mirrored", "multiworker"):
    chosen = outcome(lambda: pick_strategy(name))
    print(name, "|", chosen if isinstance(chosen, str) else describe_strategy(chosen))
chosen = pick_strategy("auto")
print("one process |", worker_info(chosen), replicas_agree(chosen, True))
print("odd batch |", outcome(lambda: train(tiny_cyclegan(batch_size=3), out="unused", log=None)))
jax.process_count = lambda: 2
print("multi-host |", outcome(lambda: pick_strategy("auto")))
"""


@pytest.mark.slow
def test_strategies_on_jax_map_onto_its_devices_or_fail_in_one_line(jax_installed, tmp_path):
    done = run_python(STRATEGIES_ON_JAX, devices=2, tensorflow=False, cwd=tmp_path)
    found = dict(line.split(" | ", 1) for line in done.stdout.splitlines() if " | " in line)
    assert found["auto"] == "JAX DataParallel over 2 cpu devices"
    assert found["cpu"] == "JAX on 1 cpu device"
    assert found["tpu"].startswith("AcceleratorError: asked for --strategy tpu but JAX sees no "
                                   "TPU (devices: cpu:0, cpu:1; jax ")
    assert found["mirrored"].startswith("AcceleratorError: asked for --strategy mirrored but "
                                        "JAX sees no GPU")
    assert found["multiworker"].startswith("UsageError: --strategy multiworker is TensorFlow's")
    assert found["one process"] == "(0, 1) True"
    assert found["odd batch"] == "UsageError: batch_size 3 does not split evenly over 2 replicas"
    assert found["multi-host"].startswith("UsageError: JAX runs 2 processes (multi-host)")
    assert all("\n" not in value for value in found.values())
    assert not (tmp_path / "unused").exists()
