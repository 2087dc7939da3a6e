"""Staged CycleGAN training (`CycleGANConfig.stages`): a one-way stage leaves the other
direction's networks and optimizers bit-identical, a run interrupted in the middle of
stage 2 resumes in stage 2, history.csv and the loss curves mark the stages, and a bad
`stages` is one config error line."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_cyclegan
from painter.config import config_from_dict, config_to_toml, load_config
from painter.errors import ConfigError
from painter.families.stages import Stage, parse_stages

# Stage 1 (epoch 1): G and D_Y; stage 2 (epochs 2-3): F and D_X; stage 3 (epoch 4): all.
STAGES = ({"train": "G,D_Y", "epochs": 1}, {"train": "F,D_X", "epochs": 2}, {"train": "all"})
FORWARD, BACKWARD = ("gen_G", "disc_Y"), ("gen_F", "disc_X")


# ---- the config ----------------------------------------------------------------------


def test_stages_read_from_toml_and_written_back(tmp_path):
    path = tmp_path / "staged.toml"
    path.write_text(
        'stages = [{train = "G,D_Y", epochs = 2}, {train = " D_X , F", epochs = 2}, '
        '{train = "G,F,D_X,D_Y"}]\n'
    )
    config = load_config(path)
    assert parse_stages(config.stages) == (
        Stage("G,D_Y", 2), Stage("F,D_X", 2), Stage("all", None)
    )
    again = tmp_path / "again.toml"
    again.write_text(config_to_toml(config))  # a run's config.toml, read by --resume
    assert load_config(again) == config
    assert parse_stages(load_config("quick").stages) == ()


@pytest.mark.parametrize("stages, message", [
    ([{"train": "G"}], r"stage 1: train must be one of \"G,D_Y\", \"F,D_X\", \"all\", got 'G'"),
    ([{"train": "G,D_Y"}, {"train": "all"}], r"stage 1 \(G,D_Y\) needs epochs"),
    ([{"train": "all", "epochs": 0}, {"train": "all"}], r"epochs must be a positive integer"),
    ([{"train": "all", "epoch": 2}], r"unknown key 'epoch'"),
    (["G,D_Y"], r"stage 1 must be a table"),
    ("G,D_Y:2", r"key 'stages' must be an array"),
])
def test_a_bad_stage_is_one_config_error_line(stages, message):
    with pytest.raises(ConfigError, match=message) as error:
        config_from_dict({"stages": stages}, source="staged.toml")
    assert "\n" not in str(error.value) and str(error.value).startswith("staged.toml: ")


def test_a_bad_stage_in_the_cli_is_one_error_line(tmp_path, run_cli, one_error_line):
    path = tmp_path / "bad.toml"
    path.write_text('stages = [{train = "G,D_X", epochs = 1}, {train = "all"}]\n')
    code, _, err = run_cli("train", path, "--out", tmp_path / "run")
    assert code != 0 and not (tmp_path / "run").exists()
    assert "bad.toml" in one_error_line(err) and "'G,D_X'" in err


# ---- where the stages begin, in steps ------------------------------------------------


def test_the_run_step_is_counted_back_from_the_optimizers():
    from painter.train.cyclegan import StagePlan

    plan = StagePlan(parse_stages(STAGES), steps_per_epoch=5)
    assert plan.starts == [0, 5, 15]
    assert [plan.index_at(s) for s in (0, 4, 5, 14, 15, 999)] == [0, 0, 1, 1, 2, 2]
    # step 12 (stage 2): G and D_Y took stage 1's 5 steps, F and D_X 7 of stage 2's
    assert plan.run_step({"gen_G": 5, "disc_Y": 5, "gen_F": 7, "disc_X": 7}) == 12
    assert plan.run_step({"gen_G": 5, "disc_Y": 5, "gen_F": 0, "disc_X": 0}) == 5
    assert plan.run_step({"gen_G": 8, "disc_Y": 8, "gen_F": 13, "disc_X": 13}) == 18
    assert plan.run_step(dict.fromkeys(FORWARD + BACKWARD, 0)) == 0
    # of a 10-epoch run, F trains in 9 epochs and G in 8
    assert [plan.idle_epochs(n, 10) for n in ("gen_G", "gen_F")] == [2, 1]


# ---- a staged run: bit-identical idle networks, resume in stage 2 -----------------------


def _state(model) -> dict:
    """Every network's weights and every optimizer's variables, by network name."""
    return {
        name: [np.array(v.numpy()) for v in network.weights]
        + [np.array(v.numpy()) for v in model.optimizers[name].variables]
        for name, network in model.networks.items()
    }


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def staged_runs(tmp_path_factory, sample_dir):
    """A tiny 4-epoch staged run (2 steps an epoch) interrupted after the first step of
    epoch 3 (stage 2), then resumed. Returns the two runs' states: at the start of each
    and after each epoch, and the checkpoint the resume started from.

    Its last stage is one way again (G, D_Y), not "all": tracing the joint step is most
    of a tiny run's time, and that step is the unstaged one tests/test_train_runs.py
    trains."""
    from painter.train import train
    from painter.train.callbacks import RunCallback
    from painter.train.checkpoints import find_checkpoint

    class Snapshots(RunCallback):
        def __init__(self, interrupt_at=None):
            super().__init__()
            self.states, self.logs, self.interrupt_at = {}, [], interrupt_at

        def on_train_begin(self, logs=None):  # a mid-epoch resume calls fit twice
            self.states.setdefault("start", _state(self.model))

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append((self.run.epoch + 1, set(self.run.last_logs)))
            if (self.run.epoch, self.run.step_in_epoch) == self.interrupt_at:
                raise KeyboardInterrupt

        def epoch_end(self, epoch, row):
            self.states[epoch] = _state(self.model)

    stages = STAGES[:2] + ({"train": "G,D_Y"},)
    config = tiny_cyclegan(stages=stages, epochs=4, decay_epochs=4, keep_checkpoints=5)
    out = tmp_path_factory.mktemp("staged") / "run"
    first, second = Snapshots(interrupt_at=(2, 1)), Snapshots()
    with pytest.raises(KeyboardInterrupt):
        train(config, data=sample_dir, out=out, steps_per_epoch=2, log=None,
              progress=False, callbacks=[first])
    checkpoint = find_checkpoint(out)
    result = train(config, data=sample_dir, out=out, steps_per_epoch=2, resume=True,
                   log=None, progress=False, callbacks=[second])
    return first, second, checkpoint, result


@pytest.mark.slow
def test_stage_1_leaves_the_other_direction_bit_identical(staged_runs):
    first, _, _, _ = staged_runs
    start, stage_1, stage_2 = first.states["start"], first.states[1], first.states[2]
    for name in BACKWARD:  # F and D_X, their Adam moments and step counts: untouched
        assert _same(stage_1[name], start[name]), name
    for name in FORWARD:
        assert not _same(stage_1[name], start[name]), name
    for name in FORWARD:  # stage 2: the other way round
        assert _same(stage_2[name], stage_1[name]), name
    for name in BACKWARD:
        assert not _same(stage_2[name], stage_1[name]), name
    assert first.logs[0] == (1, {"G_loss", "D_Y_loss", "identity_loss", "stage"})
    assert first.logs[2] == (2, {"F_loss", "D_X_loss", "identity_loss", "stage"})


@pytest.mark.slow
def test_a_resume_in_the_middle_of_stage_2_continues_stage_2(staged_runs):
    first, second, checkpoint, result = staged_runs
    assert (checkpoint.epoch, checkpoint.step_in_epoch, checkpoint.global_step) == (2, 1, 5)
    resumed, epoch_3, epoch_4 = second.states["start"], second.states[3], second.states[4]
    # The resumed step (epoch 3's second) is stage 2's: G and D_Y stay as they were.
    assert [epoch for epoch, _ in second.logs] == [3, 4, 4]
    assert "F_loss" in second.logs[0][1] and "G_loss" not in second.logs[0][1]
    for name in FORWARD:
        assert _same(epoch_3[name], resumed[name]), name
        assert _same(resumed[name], first.states[2][name]), name
    for name in BACKWARD:
        assert not _same(epoch_3[name], resumed[name]), name
    for name in FORWARD:  # stage 3, after the resume: G and D_Y again
        assert not _same(epoch_4[name], epoch_3[name]), name
    for name in BACKWARD:
        assert _same(epoch_4[name], epoch_3[name]), name
    assert result.global_step == 8 and result.epochs_completed == 4
    rows = result.history
    assert [r["stage"] for r in rows] == [1, 2, 2, 3]
    assert "F_loss" not in rows[0] and "G_loss" not in rows[1] and "G_loss" in rows[3]


@pytest.mark.slow
def test_every_rate_ends_at_0_with_the_run(staged_runs):
    """Each optimizer's schedule spans the epochs its network trains (F and D_X: epochs
    2 and 3, ending with their last step)."""
    from painter.train.schedules import learning_rate_at

    *_, result = staged_runs
    for name, optimizer in result.model.optimizers.items():
        assert learning_rate_at(optimizer) == 0.0, name
        assert learning_rate_at(optimizer, 0) > 0, name


def test_the_loss_curves_mark_where_each_stage_begins():
    from painter.train.history import History, history_charts, history_figure

    rows = [{"epoch": 1, "G_loss": 1.0, "stage": 1}, {"epoch": 2, "F_loss": 2.0, "stage": 2},
            {"epoch": 3, "F_loss": 1.5, "stage": 2},
            {"epoch": 4, "G_loss": 0.5, "F_loss": 1.0, "stage": 3}]
    charts = history_charts(History.from_rows(rows))
    assert "stage" not in [name for c in charts for name in c.series]
    assert all(chart.marks == ((1.0, "stage 2"), (3.0, "stage 3")) for chart in charts)
    figure = history_figure(charts)
    texts = {t.get_text().strip() for ax in figure.axes for t in ax.texts}
    assert {"stage 2", "stage 3"} <= texts
    # A loss's line breaks where a stage begins: a one-way G_loss is another sum of terms.
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    g_loss = lines["G_loss"].get_ydata()
    assert np.isnan(g_loss).sum() == 1 and list(g_loss[~np.isnan(g_loss)]) == [1.0, 0.5]


def test_a_time_budget_fits_each_schedule_in_its_own_steps(tmp_path):
    """A budget that ends a staged run at epoch 3 ends every rate there, F's and D_X's
    too, whose optimizers stood idle in stage 1 and so counted fewer steps."""
    import tensorflow as tf

    from painter.train.cyclegan import build_cyclegan, compile_cyclegan
    from painter.train.schedules import learning_rate_at
    from painter.train.state import TrainingRun

    config = tiny_cyclegan(stages=STAGES[:1] + ({"train": "all"},), epochs=4, decay_epochs=2,
                           steps_per_epoch=2)
    model = build_cyclegan(config)
    compile_cyclegan(model, config, steps_per_epoch=2, jit_compile=False)
    for name, steps in {"gen_G": 4, "disc_Y": 4, "gen_F": 2, "disc_X": 2}.items():
        model.optimizers[name].iterations.assign(steps)  # after epoch 2
    run = TrainingRun(tmp_path, config, model, tf.distribute.get_strategy(), print, None)
    run.epoch, run.planned_epochs = 2, 3
    assert run.global_step == 4
    run._fit_schedules(run.global_step)
    for name, optimizer in model.optimizers.items():  # one epoch (2 steps) left for each
        own = int(optimizer.iterations.numpy())
        assert learning_rate_at(optimizer, own + 1) > 0, name
        assert learning_rate_at(optimizer, own + 2) == 0, name
