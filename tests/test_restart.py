"""Best-restart (`painter train --restart-from RUN_DIR[:best|last]`): a new run from another
run's checkpoint, weights only, with a fresh schedule (the cosine one included), its
parent recorded in config.toml and shown by the report; an incompatible parent is one
`error:` line."""

from __future__ import annotations

import functools
import math
import os
import shutil

import keras
import numpy as np
import pytest

from conftest import EMA_CYCLEGAN, tiny_cyclegan
from painter.config import config_to_toml, load_config
from painter.rundir import read_restart
from painter.train import checkpoints as ckpt
from painter.train.history import format_number, read_history
from painter.train.run import parse_restart
from painter.train.schedules import ConstantThenDecay, cyclegan_schedule


# ---- the schedules ------------------------------------------------------------------------


def test_cosine_schedule_is_constant_then_a_half_cosine_to_zero():
    schedule = ConstantThenDecay(1e-3, constant_steps=10, decay_steps=20, shape="cosine")
    for step, want in ((0, 1e-3), (10, 1e-3), (15, 1e-3 * (1 + math.cos(math.pi / 4)) / 2),
                       (20, 0.5e-3), (25, 1e-3 * (1 + math.cos(3 * math.pi / 4)) / 2),
                       (30, 0.0), (40, 0.0)):
        assert schedule.rate_at(step) == pytest.approx(want, abs=1e-9), step
    restored = ConstantThenDecay.from_config(schedule.get_config())
    assert restored.shape == "cosine" and restored.rate_at(15) == pytest.approx(schedule.rate_at(15))
    # Moved to end elsewhere (a time budget), it goes on from its rate at the step, no jump.
    before = schedule.rate_at(20)
    schedule.fit_end(end_step=40, decay_fraction=0.5, step=20)
    assert schedule.rate_at(20) == pytest.approx(before) and schedule.rate_at(40) == 0.0
    with pytest.raises(ValueError, match="shape"):
        ConstantThenDecay(1e-3, 1, 1, shape="step")


@pytest.mark.parametrize("decay, at_half", [("linear", 0.5), ("cosine", 0.5), ("constant", 1.0)])
def test_the_config_decay_picks_the_schedule(decay, at_half):
    config = tiny_cyclegan(epochs=4, decay_epochs=4, learning_rate=1e-3, decay=decay)
    schedule = cyclegan_schedule(config, steps_per_epoch=10)
    assert schedule.rate_at(0) == pytest.approx(1e-3)
    assert schedule.rate_at(20) == pytest.approx(at_half * 1e-3)
    assert schedule.rate_at(10) == pytest.approx(
        {"linear": 0.75, "cosine": (1 + math.cos(math.pi / 4)) / 2, "constant": 1.0}[decay] * 1e-3)


def test_an_unknown_decay_is_a_config_error_naming_the_file(tmp_path):
    from painter.errors import ConfigError

    path = tmp_path / "c.toml"
    path.write_text('family = "cyclegan"\ndecay = "step"\n')
    with pytest.raises(ConfigError, match=r"c\.toml.*'decay' must be one of 'constant', 'linear', 'cosine'"):
        load_config(path)


def test_parse_restart(tmp_path):
    run = tmp_path / "a:b"  # a colon inside the path is no checkpoint name
    (run / "checkpoints" / "best").mkdir(parents=True)
    assert parse_restart(f"{run}:last") == (run, "last")
    assert parse_restart(str(run)) == (run, "best")
    assert parse_restart(str(tmp_path)) == (tmp_path, "last")  # no best kept


# ---- a restarted run ----------------------------------------------------------------------


class _Started(Exception):
    pass


class _FirstState(keras.callbacks.Callback):
    """The weights and optimizer steps a run would start its first step with; then stops
    it (everything a restart sets up is done by then, and no step need be traced)."""

    def on_train_begin(self, logs=None):
        self.weights = {k: n.get_weights() for k, n in self.model.networks.items()}
        self.iterations = {k: int(o.iterations.numpy()) for k, o in self.model.optimizers.items()}
        raise _Started


def _files_weights(config, files: dict) -> dict:
    from painter.train.cyclegan import build_cyclegan

    model = build_cyclegan(config)
    out = {}
    for key, file in files.items():
        model.networks[key].load_weights(str(file))
        out[key] = model.networks[key].get_weights()
    return out


def test_a_restart_starts_from_the_parents_best_weights_with_fresh_optimizers(
    ema_run, tmp_path, sample_dir, monkeypatch
):
    from painter.report.page import render_report
    from painter.report.read import read_run
    from painter.train import tracking
    from painter.train.run import train
    from test_tracking import colour_features

    monkeypatch.setattr(tracking, "prepare_tracking",
                        functools.partial(tracking.prepare_tracking, features=colour_features))
    config = tiny_cyclegan(**{**EMA_CYCLEGAN, "ema_decay": 0.0, "learning_rate": 1e-4,
                              "decay": "cosine", "epochs": 1, "steps_per_epoch": 1})
    first = _FirstState()
    child = tmp_path / "child"
    lines = []
    with pytest.raises(_Started):
        train(config, data=sample_dir, out=child, restart_from=f"{ema_run}:best",
              log=lines.append, progress=False, callbacks=[first])

    # The parent's best weights: its generator as that checkpoint generates (its moving
    # average when that scored better), the other networks as saved; fresh optimizers.
    best = ckpt.find_checkpoint(ema_run, "best")
    generator_file = "gen_G.ema.weights.h5" if best.generator_weights == "ema" else "gen_G.weights.h5"
    files = {k: best.path / f"{k}.weights.h5" for k in ("gen_F", "disc_X", "disc_Y")}
    expected = _files_weights(config, {**files, "gen_G": best.path / generator_file})
    for key, weights in expected.items():
        for a, b in zip(first.weights[key], weights):
            np.testing.assert_array_equal(a, b, err_msg=key)
    assert first.iterations == {k: 0 for k in ("gen_G", "gen_F", "disc_X", "disc_Y")}
    assert any(line.startswith(f"restarting from {best.path}") for line in lines)

    # The parent's best is the bar: scored again on the same held-out photos as epoch 0.
    history = read_history(child / "history.csv")
    assert history[0]["epoch"] == 0
    assert history[0]["mifid"] == pytest.approx(best.metrics["mifid"], rel=1e-4)

    # config.toml: the new schedule, and the parent in a [restart] table that loading skips.
    written = load_config(child / "config.toml")
    assert written.decay == "cosine" and written.learning_rate == 1e-4
    record = read_restart(child)
    assert record["parent"] == str(ema_run.resolve()) and record["checkpoint"] == "best"
    assert record["mifid"] == pytest.approx(best.metrics["mifid"])
    assert record["generator_weights"] == best.generator_weights

    # The report names the parent, links its report and shows its MiFID.
    run = read_run(child)
    assert run.parent == record and "restart" not in {row.key for row in run.config}
    page = render_report(run)
    link = os.path.relpath(ema_run.resolve() / "report.html", child.resolve())
    assert 'id="parent"' in page and f'href="{link}"' in page
    section = page.split('id="parent"')[1].split("</section>")[0]
    assert f"MiFID {format_number(best.metrics['mifid'])}" in section

    # A resumed restart rewrites config.toml and keeps its record of the parent.
    from types import SimpleNamespace

    from painter.train.run import _open_run_dir

    _open_run_dir(SimpleNamespace(run_dir=child, force=False, resume=True, restart_from=None,
                                  root=sample_dir, tracking=None, backend="tensorflow",
                                  strategy=SimpleNamespace(num_replicas_in_sync=1)), written)
    assert read_restart(child) == record and load_config(child / "config.toml") == written


def test_an_incompatible_parent_is_one_error_line(ema_run, tmp_path, run_cli, one_error_line):
    config = tmp_path / "tiny.toml"
    config.write_text(config_to_toml(tiny_cyclegan(**{**EMA_CYCLEGAN, "track_mifid": False})))
    out = tmp_path / "child"
    code, _, err = run_cli("train", config, "--out", out, "--restart-from", f"{ema_run}:last",
                           "--set", "gen_filters=8")
    line = one_error_line(err)
    assert code != 0 and "gen_filters=4 there, 8 in the config" in line and "step_" in line
    assert not out.exists()
    parent = tmp_path / "parent"  # a copy: were the check missing, --force would clear it
    shutil.copytree(ema_run, parent)
    code, _, err = run_cli("train", config, "--out", parent, "--force", "--restart-from",
                           str(parent))
    assert code != 0 and "not its parent's" in one_error_line(err)
    assert ckpt.find_checkpoint(parent, "best")
    code, _, err = run_cli("train", config, "--out", out, "--restart-from", str(tmp_path / "none"))
    assert code != 0 and "no such run directory" in one_error_line(err)
