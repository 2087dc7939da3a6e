"""Unit tests of the training pieces that need no training: durations and deadlines,
the learning-rate schedule, the image pool, history files, TensorBoard events,
strategies, checkpoints, and the CLI's refusals (each before any model is traced)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from painter.config import CycleGANConfig, NoiseGANConfig, config_to_toml
from painter.errors import AcceleratorError, CheckpointError, UsageError
from painter.train import budget as budget_module
from painter.train import checkpoints as ckpt
from painter.train.budget import Deadline, format_duration, parse_duration
from painter.train.history import plot_history, read_history, write_history
from painter.train.pool import ImagePool
from painter.train.schedules import ConstantThenLinearDecay, cyclegan_schedule
from painter.train.strategy import logical_cpus, mirrored_strategy, pick_strategy, tf_config_worker

TINY_NOISE = NoiseGANConfig(
    image_size=16, latent_dim=4, gen_filters=8, disc_filters=4, disc_layers=1, batch_size=2,
    jit_compile=False, keep_checkpoints=2,
)


# ---- durations and deadlines -----------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("4h30m", 16200), ("90m", 5400), ("3600s", 3600), ("1.5h", 5400), ("1h 5m 30s", 3930),
     ("3600", 3600), (".5m", 30), ("2H", 7200)],
)
def test_parse_duration_accepts_the_documented_forms(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["4x", "", "h", "5m4h", "1h1h", "0s", "-5m", "4h30", "nan"])
def test_parse_duration_rejects_anything_else_on_one_line(text):
    with pytest.raises(UsageError) as error:
        parse_duration(text)
    assert "\n" not in str(error.value) and repr(text) in str(error.value)


def test_format_duration():
    assert format_duration(42.5) == "42.5s"
    assert format_duration(3725) == "1h02m05s"
    assert format_duration(125) == "2m05s"


def test_deadline_stops_when_a_step_and_a_checkpoint_no_longer_fit(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock[0])
    deadline = Deadline(100.0)  # margin: max(2 s, 5 s) = 5 s
    assert deadline.margin == 5.0
    deadline.record_step(30.0)  # the first step (tracing) is used until others are timed
    clock[0] += 30.0
    assert deadline.step_seconds() == 30.0
    deadline.record_step(2.0)
    assert deadline.step_seconds() == 2.0
    deadline.record_checkpoint(3.0)
    deadline.record_epoch_end(10.0)
    clock[0] = 1000.0 + 100.0 - 11.0  # 11 s left: 2 + 3 + 5 = 10 fit, +10 of epoch end do not
    assert not deadline.should_stop(last_step_of_epoch=False)
    assert deadline.should_stop(last_step_of_epoch=True)
    clock[0] = 1000.0 + 100.0 - 9.0
    assert deadline.should_stop(last_step_of_epoch=False)
    assert not Deadline(None).should_stop(True)


def test_deadline_projects_the_whole_epochs_that_fit(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock[0])
    deadline = Deadline(200.0)  # margin 5 s
    assert Deadline(None).epochs_that_fit(10) is None
    for seconds in (30.0, 2.0, 2.0, 3.0):  # the first (tracing) is forgotten: 3 s a step
        deadline.record_step(seconds)
    deadline.record_epoch_end(4.0)
    assert deadline.step_seconds() == 3.0  # one step is guarded by the slowest
    # An epoch: 10 steps at the mean (7/3 s) + 4 s epoch end + the 5 s checkpoint guess.
    assert deadline.epoch_seconds(10) == pytest.approx(70 / 3 + 9)
    clock[0] = 37.0  # 163 s left, 158 s after the margin: 4 epochs of 32.3 s, not 5
    assert deadline.epochs_that_fit(10) == 4
    assert deadline.epochs_that_fit(10, pending=40.0) == 3  # a checkpoint still to write
    deadline.record_checkpoint(1.0)
    # MiFID tracking on one epoch end of two: the mean (14 s) per epoch, and the slowest's
    # excess (10 s) kept free once for the last epoch, which is always tracked.
    deadline.record_epoch_end(24.0)
    per_epoch = 70 / 3 + 14 + 1
    assert deadline.epoch_seconds(10) == pytest.approx(per_epoch)
    clock[0] = 200.0 - 5.0 - 10.0 - 2 * per_epoch - 1.0  # room for 2 epochs and 1 s
    assert deadline.epochs_that_fit(10) == 2
    clock[0] = 199.0
    assert deadline.epochs_that_fit(10) == 0


# ---- schedule ----------------------------------------------------------------------------


def test_constant_then_linear_decay():
    schedule = ConstantThenLinearDecay(2e-4, constant_steps=10, decay_steps=10)
    values = [float(schedule(step)) for step in (0, 10, 15, 20, 30)]
    assert values == pytest.approx([2e-4, 2e-4, 1e-4, 0.0, 0.0])
    assert float(ConstantThenLinearDecay(1e-3, 5, 0)(100)) == pytest.approx(1e-3)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, ConstantThenLinearDecay)
    assert float(restored(15)) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="Received: constant_steps=-1"):
        ConstantThenLinearDecay(1e-3, -1, 5)


def test_schedule_fit_end_keeps_the_proportion_or_goes_on_without_a_jump():
    schedule = ConstantThenLinearDecay(2e-4, constant_steps=50, decay_steps=50)  # 100 steps
    # Planned after 10 steps for 30: half of them constant, then down to 0 at step 30.
    schedule.fit_end(30, 0.5, step=10)
    assert (schedule.constant_steps, schedule.decay_steps) == (15, 15)
    assert [float(schedule(s)) for s in (14, 15, 29, 30, 40)] == pytest.approx(
        [2e-4, 2e-4, 2e-4 / 15, 0.0, 0.0])
    # Planned again at step 20, mid-decay, for an end at step 26: from the rate at step 20
    # straight to 0 at 26 (no jump), not the proportion, which would jump.
    before = float(schedule(20))
    schedule.fit_end(26, 0.5, step=20)
    assert schedule.lengths() == pytest.approx(
        {"learning_rate": before, "constant_steps": 20, "decay_steps": 6})
    assert float(schedule(20)) == pytest.approx(before)
    assert float(schedule(26)) == 0.0 and float(schedule(23)) == pytest.approx(before / 2)
    # The state round-trips (a checkpoint's plan) and as a Keras config.
    copy = ConstantThenLinearDecay(2e-4, 50, 50)
    copy.restore(**schedule.lengths())
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    for other in (copy, restored):
        assert [float(other(s)) for s in (21, 24)] == [float(schedule(s)) for s in (21, 24)]
    # Still constant but the new decay would already have begun: it begins now.
    schedule = ConstantThenLinearDecay(1e-3, constant_steps=100, decay_steps=0)
    schedule.fit_end(40, 0.9, step=10)
    assert (schedule.constant_steps, schedule.decay_steps) == (10, 30)
    assert float(schedule(10)) == pytest.approx(1e-3) and float(schedule(40)) == 0.0
    # Decayed to 0: nothing left to fit.
    schedule.fit_end(80, 0.5, step=45)
    assert (schedule.constant_steps, schedule.decay_steps) == (10, 30)


def test_budget_plan_shrinks_at_once_grows_by_a_margin_and_never_after_the_decay(monkeypatch,
                                                                                 tmp_path):
    from types import SimpleNamespace

    from painter.train.state import TrainingRun
    from painter.train.schedules import adam, learning_rate_at

    clock = [0.0]
    monkeypatch.setattr(budget_module.time, "monotonic", lambda: clock[0])
    schedule = ConstantThenLinearDecay(1e-3, constant_steps=50, decay_steps=50)  # 10 × 10 steps
    optimizer = adam(schedule, 0.5)
    weights = keras.Variable(np.zeros(3, "float32"))
    optimizer.build([weights])
    config = CycleGANConfig(epochs=10, decay_epochs=5, steps_per_epoch=10)
    deadline = Deadline(1000.0)  # margin 20 s
    lines = []
    run = TrainingRun(tmp_path, config, SimpleNamespace(optimizers={"gen_G": optimizer}),
                      tf.distribute.get_strategy(), lines.append, deadline)

    def epoch_ends(seconds_per_step):
        for _ in range(10):
            deadline.record_step(seconds_per_step)
            clock[0] += seconds_per_step
        optimizer.iterations.assign_add(10)
        run.epoch += 1
        deadline.record_checkpoint(0.0)
        deadline.record_epoch_end(0.0)
        run.fit_to_budget()

    epoch_ends(30.0)  # 300 s an epoch: 700 s left, less the margin, fit 2 more
    assert run.planned_epochs == 3 and (schedule.constant_steps, schedule.decay_steps) == (15, 15)
    assert lines == ["time budget: 3 of 10 epochs fit (about 5m00s each; planned again after "
                     "each epoch); the learning rate decays to 0 at the last"]
    epoch_ends(3.0)  # the mean step falls to 15.8 s: 650 s of room fit 4 more epochs
    assert run.planned_epochs == 5  # grown to 6, less one epoch spare
    # Mid-decay: from the rate the plan of 3 gave step 20 (10/15 of it), no jump, down to
    # 0 at epoch 5's end, slower.
    assert learning_rate_at(optimizer, 20) == pytest.approx(1e-3 * 10 / 15)
    assert learning_rate_at(optimizer, 35) == pytest.approx(1e-3 * 10 / 15 / 2)
    assert learning_rate_at(optimizer, 50) == 0.0
    rate = learning_rate_at(optimizer, 20)
    epoch_ends(35.0)  # slower again (mean 22.4 s): 1 more fits after epoch 3, not 2
    assert run.planned_epochs == 4 and learning_rate_at(optimizer, 30) < rate
    assert learning_rate_at(optimizer, 40) == 0.0
    deadline.budget = 100_000.0
    epoch_ends(1.0)  # plenty of time now, but the rate has decayed to 0 with epoch 4
    assert run.planned_epochs == 4 and len(lines) == 1


def test_restored_plan_goes_on_is_planned_again_when_cut_short_and_ends_with_fewer_epochs(tmp_path):
    from types import SimpleNamespace

    from painter.train.state import TrainingRun
    from painter.train.schedules import adam, learning_rate_at

    def resumed_at(epoch, plan, epochs=10):
        schedule = ConstantThenLinearDecay(1e-3, constant_steps=50, decay_steps=50)
        optimizer = adam(schedule, 0.5)
        optimizer.build([keras.Variable(np.zeros(3, "float32"))])
        optimizer.iterations.assign(epoch * 10)
        config = CycleGANConfig(epochs=epochs, decay_epochs=5, steps_per_epoch=10)
        run = TrainingRun(tmp_path, config, SimpleNamespace(optimizers={"gen_G": optimizer}),
                          tf.distribute.get_strategy(), lambda line: None, Deadline(1000.0))
        run.epoch = epoch
        return run, run.restore_plan(plan), optimizer

    # Mid-plan: the plan and its schedule as stored (decay from step 15 to 30).
    fitted = {"learning_rate": 1e-3, "constant_steps": 15.0, "decay_steps": 15.0}
    run, replanned, optimizer = resumed_at(2, {"planned_epochs": 3, "schedules": {"gen_G": fitted}})
    assert (replanned, run.planned_epochs) == (False, 3)
    assert learning_rate_at(optimizer, 20) == pytest.approx(1e-3 * 10 / 15)
    assert learning_rate_at(optimizer, 30) == 0.0
    # Finished (its rate reached 0 with epoch 3): the resumed run stays done.
    run, replanned, optimizer = resumed_at(3, {"planned_epochs": 3, "schedules": {"gen_G": fitted}})
    assert (replanned, run.planned_epochs) == (False, 3)
    assert learning_rate_at(optimizer, 30) == 0.0
    # Cut short: planned for 4 epochs (decay from step 20 to 40), shrunk to the 3 done with
    # the rate at half. Planned again over the config's 10 epochs, from that rate (no jump)
    # to 0 at step 100.
    cut = {"learning_rate": 1e-3, "constant_steps": 20.0, "decay_steps": 20.0}
    run, replanned, optimizer = resumed_at(3, {"planned_epochs": 3, "schedules": {"gen_G": cut}})
    assert (replanned, run.planned_epochs) == (True, 10)
    assert learning_rate_at(optimizer, 30) == pytest.approx(1e-3 / 2)
    assert learning_rate_at(optimizer, 65) == pytest.approx(1e-3 / 4)
    assert learning_rate_at(optimizer, 100) == 0.0
    # --epochs lowered to 4 under a plan of 8: the decay ends with epoch 4, not 8.
    long_plan = {"learning_rate": 1e-3, "constant_steps": 40.0, "decay_steps": 40.0}
    plan = {"planned_epochs": 8, "schedules": {"gen_G": long_plan}}
    run, replanned, optimizer = resumed_at(2, plan, epochs=4)
    assert (replanned, run.planned_epochs) == (False, 4)
    assert learning_rate_at(optimizer, 20) == pytest.approx(1e-3)
    assert learning_rate_at(optimizer, 40) == 0.0


def test_cyclegan_schedule_counts_epochs_in_steps():
    schedule = cyclegan_schedule(CycleGANConfig(epochs=5, decay_epochs=2, learning_rate=1e-3), 10)
    assert (schedule.constant_steps, schedule.decay_steps) == (30, 20)
    assert float(schedule(40)) == pytest.approx(5e-4)


# ---- image pool --------------------------------------------------------------------------


def _fakes(start, count=2, size=4):
    """Images whose every pixel holds their index, so returned images can be traced back."""
    values = np.arange(start, start + count, dtype="float32")
    return np.broadcast_to(values[:, None, None, None], (count, size, size, 3)).copy()


def _ids(images):
    return [float(image[0, 0, 0]) for image in np.asarray(images)]


def test_pool_fills_then_swaps_with_stored_fakes():
    pool = ImagePool(4, seed=3)
    pool.build((None, 4, 4, 3))
    assert _ids(pool(_fakes(0), training=True)) == [0, 1]
    assert _ids(pool(_fakes(2), training=True)) == [2, 3]
    assert sorted(_ids(pool.images)) == [0, 1, 2, 3] and int(pool.count) == 4

    swapped = passed = 0
    for start in range(4, 44, 2):
        before = set(_ids(pool.images))
        new = _ids(_fakes(start))
        returned = _ids(pool(_fakes(start), training=True))
        after = _ids(pool.images)
        for fake, out in zip(new, returned):
            if out == fake:
                passed += 1
                assert fake not in after
            else:  # a stored fake came back and the new one took its slot
                swapped += 1
                assert out in before and out not in after and fake in after
        assert len(set(after)) == 4 and int(pool.count) == 4
    assert swapped > 5 and passed > 5  # probability ½ each, 40 draws


def test_pool_passes_gradient_only_through_fresh_fakes():
    pool = ImagePool(2, seed=0)
    pool.build((None, 4, 4, 3))
    pool(_fakes(0), training=True)  # full
    fakes = tf.constant(_fakes(10, count=2))
    with tf.GradientTape() as tape:
        tape.watch(fakes)
        out = pool(fakes, training=True)
        total = tf.reduce_sum(out)
    gradient = tape.gradient(total, fakes).numpy()
    for fake, returned, grad in zip(_ids(fakes), _ids(out), gradient):
        assert np.all(grad == (1.0 if returned == fake else 0.0))


def test_pool_off_and_outside_training_is_identity():
    fakes = _fakes(0)
    assert np.array_equal(ImagePool(0)(fakes, training=True), fakes)
    pool = ImagePool(3)
    assert np.array_equal(pool(fakes, training=False), fakes)
    with pytest.raises(ValueError, match="Received: pool_size=-1"):
        ImagePool(-1)


def test_pool_config_round_trip():
    pool = ImagePool(7, seed=5, name="pool_Y")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pool))
    assert isinstance(restored, ImagePool)
    assert (restored.pool_size, restored.seed, restored.name) == (7, 5, "pool_Y")


def test_pool_is_per_replica_under_mirrored_strategy():
    strategy = mirrored_strategy(logical_cpus())
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        pool = ImagePool(4, seed=0)
        pool.build((None, 4, 4, 3))
    batches = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(_fakes(0, count=4)).batch(4)))
    strategy.run(lambda x: pool(x, training=True), args=(next(batches),))
    per_replica = [sorted(_ids(v))[-2:] for v in pool.images.value.values]  # SyncOnRead parts
    assert per_replica == [[0.0, 1.0], [2.0, 3.0]]


# ---- history, TensorBoard ---------------------------------------------------------------


def test_history_round_trip_with_a_column_added_later(tmp_path):
    rows = [
        {"epoch": 1, "step": 10, "G_loss": 1.5},
        {"epoch": 2, "step": 20, "G_loss": 1.25, "mifid": 90.5},
    ]
    write_history(rows, tmp_path / "history.csv")
    text = (tmp_path / "history.csv").read_text().splitlines()
    assert text[0] == "epoch,step,G_loss,mifid"
    assert read_history(tmp_path / "history.csv") == rows
    assert read_history(tmp_path / "absent.csv") == []


def test_plot_history_draws_one_panel_per_numeric_column(tmp_path):
    from PIL import Image

    rows = [
        {"epoch": e, "step": e * 5, "seconds": 1.0, "lr": 1e-3, "G_loss": 5.0 / e, "D_loss": 0.3}
        for e in range(1, 6)
    ]
    path = plot_history(rows, tmp_path / "loss.png", panel_size=(200, 100), cols=3)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (100, 600, 3)  # lr, G_loss, D_loss: one row of three panels
    assert (image != 255).any(axis=-1).mean() > 0.01  # something was drawn


def test_event_writer_writes_tensorboard_scalars_and_images(tmp_path):
    from painter.train.tensorboard import EventWriter

    writer = EventWriter(tmp_path)
    writer.scalars({"G_loss": 1.5, "note": "skipped"}, step=3)
    writer.images("samples", np.zeros((2, 8, 8, 3), "float32"), step=3)
    writer.close()
    (events,) = list(tmp_path.iterdir())
    found = {}
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        for value in event.summary.value:
            found[value.tag] = (event.step, value.metadata.plugin_data.plugin_name, value.tensor)
    assert set(found) == {"G_loss", "samples"}
    assert found["G_loss"][:2] == (3, "scalars")
    assert tf.make_ndarray(found["G_loss"][2]) == pytest.approx(1.5)
    assert found["samples"][1] == "images"
    assert list(tf.make_ndarray(found["samples"][2])[:2]) == [b"8", b"8"]


def test_heartbeat_is_written_whole_and_throttled(tmp_path):
    from painter.rundir import HEARTBEAT_JSON
    from painter.train.heartbeat import Heartbeat, read_heartbeat

    clock = [100.0]
    heartbeat = Heartbeat(tmp_path, every=5.0, clock=lambda: clock[0])
    assert read_heartbeat(tmp_path) is None
    before = time.time()
    assert heartbeat.beat(epoch=0, step=0, global_step=0)
    record = read_heartbeat(tmp_path)
    assert set(record) == {"time", "epoch", "step", "global_step"}
    assert before - 1 <= record["time"] <= time.time() + 1
    clock[0] += 4.9
    assert not heartbeat.beat(epoch=0, step=3, global_step=3)  # throttled
    assert read_heartbeat(tmp_path)["step"] == 0
    assert heartbeat.beat(epoch=0, step=4, global_step=4, force=True)
    clock[0] += 5.0
    assert heartbeat.beat(epoch=1, step=2, global_step=7)
    assert json.loads((tmp_path / HEARTBEAT_JSON).read_text()) == {
        **read_heartbeat(tmp_path), "epoch": 1, "step": 2, "global_step": 7}
    assert sorted(p.name for p in tmp_path.iterdir()) == [HEARTBEAT_JSON]  # no temp files


# ---- strategies --------------------------------------------------------------------------


def test_pick_strategy_forced_and_refused(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name in ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE"):
        monkeypatch.delenv(name, raising=False)
    assert pick_strategy("cpu").num_replicas_in_sync == 1
    # Several replicas on a CPU-only machine only when asked for by device name.
    assert mirrored_strategy(logical_cpus()).num_replicas_in_sync == 2  # conftest's CPUs
    lines = []
    assert type(pick_strategy("auto", log=lines.append)).__name__ == "_DefaultDistributionStrategy"
    assert lines == ["strategy: _DefaultDistributionStrategy with 1 replica(s) (devices: CPU:0, CPU:1)"]
    with pytest.raises(UsageError, match="unknown strategy 'gpu'"):
        pick_strategy("gpu")
    with pytest.raises(UsageError, match="needs TF_CONFIG"):
        pick_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UsageError, match="TF_CONFIG is not a JSON object"):
        pick_strategy("multiworker")


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="a GPU is present")
def test_forced_accelerator_that_tensorflow_cannot_see_is_refused():
    with pytest.raises(AcceleratorError) as error:
        pick_strategy("mirrored")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("asked for --strategy mirrored but TensorFlow sees no GPU "
                               "(devices: CPU:0, CPU:1; tensorflow")
    assert message.endswith("choose a GPU accelerator, or train on the CPU with --strategy cpu")
    with pytest.raises(AcceleratorError) as error:
        pick_strategy("tpu")
    message = str(error.value)
    assert "\n" not in message
    assert re.match(r"asked for --strategy tpu but tensorflow(-cpu)? [\d.]+ cannot connect to a "
                    r"TPU \(TPUClusterResolver\(tpu='local'\): .+; devices: CPU:0, CPU:1\)", message)
    assert message.endswith("choose the GPU accelerator instead")
    assert AcceleratorError.exit_code == 3


def test_tf_config_worker_index(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    task = {"type": "worker", "index": 1}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert tf_config_worker("auto") == (1, 2)
    assert tf_config_worker("cpu") is None
    with_chief = {"chief": ["127.0.0.1:0"], **cluster}
    task = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": task}))
    assert tf_config_worker("multiworker") == (0, 3)
    monkeypatch.delenv("TF_CONFIG")
    assert tf_config_worker("auto") is None


# ---- checkpoints ---------------------------------------------------------------------------


def _tiny_noise_model(config=TINY_NOISE):
    from painter.train.noise_gan import build_noise_gan, compile_noise_gan

    model = build_noise_gan(config)
    compile_noise_gan(model, config, jit_compile=False)
    return model


def _write_run(run_dir, config, model, steps=(3,), **kwargs):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(config_to_toml(config))
    return [ckpt.save_checkpoint(run_dir, model, config, epoch=i + 1, step_in_epoch=0,
                                 global_step=step, keep=config.keep_checkpoints, **kwargs)
            for i, step in enumerate(steps)]


def test_checkpoints_round_trip_prune_and_name(tmp_path):
    from painter.train.checkpoints import load_generator

    model = _tiny_noise_model()
    model.generator_optimizer.iterations.assign(9)
    model.latent_seed.state.assign([5, 77])
    _write_run(tmp_path, TINY_NOISE, model, steps=(3, 6, 9))
    ckpt.save_checkpoint(tmp_path, model, TINY_NOISE, epoch=3, step_in_epoch=0, global_step=9,
                         metrics={"mifid": 80.0}, name="best")
    (tmp_path / "checkpoints" / ".step_00000012.abc.tmp").mkdir()  # an interrupted write

    listed = ckpt.list_checkpoints(tmp_path)
    assert [c.name for c in listed] == ["step_00000006", "step_00000009", "best"]  # keep=2
    assert ckpt.find_checkpoint(tmp_path, "last").global_step == 9
    assert ckpt.find_checkpoint(tmp_path, "best").metrics == {"mifid": 80.0}
    with pytest.raises(CheckpointError, match="no checkpoint 'worst'"):
        ckpt.find_checkpoint(tmp_path, "worst")
    ckpt.clear_partial_writes(tmp_path)
    assert not (tmp_path / "checkpoints" / ".step_00000012.abc.tmp").exists()

    fresh = _tiny_noise_model()
    ckpt.restore_checkpoint(ckpt.find_checkpoint(tmp_path), fresh, TINY_NOISE)
    for network in ("generator", "discriminator"):
        for saved, loaded in zip(model.networks[network].weights, fresh.networks[network].weights):
            np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    assert int(fresh.generator_optimizer.iterations.numpy()) == 9
    assert list(fresh.latent_seed.state.numpy()) == [5, 77]

    config, generator = load_generator(tmp_path, "best")
    assert config == TINY_NOISE and generator.name == "noise_generator"
    for saved, loaded in zip(model.generator.weights, generator.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())


def test_checkpoint_of_another_model_or_shape_is_refused(tmp_path):
    model = _tiny_noise_model()
    (path,) = _write_run(tmp_path, TINY_NOISE, model)
    found = ckpt.read_checkpoint(path)
    with pytest.raises(CheckpointError) as error:
        ckpt.check_compatible(found, CycleGANConfig())
    assert "holds a noise_gan model; the config builds cyclegan" in str(error.value)
    wider = NoiseGANConfig(**{**TINY_NOISE.__dict__, "gen_filters": 16})
    with pytest.raises(CheckpointError, match="gen_filters=8 there, 16 in the config"):
        ckpt.check_compatible(found, wider)
    with pytest.raises(CheckpointError, match="image_size=16 there, 32 in the config"):
        ckpt.check_compatible(found, NoiseGANConfig(**{**TINY_NOISE.__dict__, "image_size": 32}))


def test_checkpoint_from_before_a_new_architecture_field_reads_it_as_the_default(tmp_path):
    import json

    config = CycleGANConfig()
    path = tmp_path / "step_00000001"
    path.mkdir()
    arch = ckpt.architecture(config)
    del arch["disc_norm"]  # written before the field existed
    (path / ckpt.MANIFEST).write_text(json.dumps(
        {"format": ckpt.FORMAT, "version": 1, "family": "cyclegan", "architecture": arch}))
    found = ckpt.read_checkpoint(path)
    ckpt.check_compatible(found, config)  # the default, "instance": the same networks
    with pytest.raises(CheckpointError, match="disc_norm='instance' there, 'none' in the config"):
        ckpt.check_compatible(found, dataclasses.replace(config, disc_norm="none"))


# ---- CLI refusals (nothing traced, nothing written) --------------------------------------


@pytest.fixture
def tiny_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text("family = 'noise_gan'\nimage_size = 16\nlatent_dim = 4\ngen_filters = 8\n"
                    "disc_filters = 4\ndisc_layers = 1\nbatch_size = 2\njit_compile = false\n")
    return path


def test_cli_unknown_config_key(run_cli, tmp_path, one_error_line):
    config = tmp_path / "bad.toml"
    config.write_text("family = 'cyclegan'\nlearning_rat = 0.1\n")
    code, _, err = run_cli("train", config, "--out", tmp_path / "run")
    assert code == 2 and "'learning_rat'" in one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_cli_set_overrides_reach_the_config_and_are_checked(run_cli, tmp_path, tiny_toml,
                                                            one_error_line):
    code, _, err = run_cli("train", tiny_toml, "--out", tmp_path / "run", "--set", "epochs=0")
    assert code == 2 and "key 'epochs' must be at least 1, got 0" in one_error_line(err)
    code, _, err = run_cli("train", tiny_toml, "--out", tmp_path / "run", "--set", "latent_dimm=3")
    line = one_error_line(err)
    assert code == 2 and "(overridden: latent_dimm)" in line and "unknown key 'latent_dimm'" in line
    code, _, err = run_cli("train", tiny_toml, "--out", tmp_path / "run", "--set", "epochs")
    assert code == 2 and "expected KEY=VALUE" in one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_cli_existing_run_dir_is_left_untouched(run_cli, tmp_path, tiny_toml, sample_dir,
                                                one_error_line):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("mine\n")
    code, _, err = run_cli("train", tiny_toml, "--data", sample_dir, "--out", run)
    assert code == 2 and "--resume" in one_error_line(err)
    assert os.listdir(run) == ["history.csv"] and (run / "history.csv").read_text() == "mine\n"


def test_cli_resume_from_another_model(run_cli, tmp_path, tiny_toml, sample_dir, one_error_line):
    run = tmp_path / "run"
    _write_run(run, TINY_NOISE, _tiny_noise_model())
    before = sorted(p.name for p in run.rglob("*"))
    cyclegan = tmp_path / "cg.toml"
    cyclegan.write_text("family = 'cyclegan'\nimage_size = 16\n")
    code, _, err = run_cli("train", cyclegan, "--data", sample_dir, "--out", run, "--resume")
    assert code == 1 and "holds a noise_gan model" in one_error_line(err)
    tiny_toml.write_text(tiny_toml.read_text().replace("gen_filters = 8", "gen_filters = 12"))
    code, _, err = run_cli("train", tiny_toml, "--data", sample_dir, "--out", run, "--resume")
    assert code == 1 and "gen_filters=8 there, 12 in the config" in one_error_line(err)
    assert sorted(p.name for p in run.rglob("*")) == before


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--time-budget", "4x"], 2, "time budget '4x'"),
        (["--resume"], 2, "no run to resume"),
        (["--resume", "--force"], 2, "exclude each other"),
        (["--strategy", "multiworker"], 2, "needs TF_CONFIG"),
        (["--epochs", "0"], 2, "--epochs"),
        (["--data", "/nonexistent/data"], 2, "/nonexistent/data"),
    ],
)
def test_cli_bad_options(
    run_cli, tmp_path, tiny_toml, sample_dir, monkeypatch, args, code, message, one_error_line
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    data = [] if "--data" in args else ["--data", sample_dir]
    got, _, err = run_cli("train", tiny_toml, *data, "--out", tmp_path / "run", *args)
    assert got == code and message in one_error_line(err)
    assert not (tmp_path / "run").exists()
    assert not re.search(r"Traceback", err)


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="a GPU is present")
@pytest.mark.parametrize("strategy, found", [
    ("mirrored", "TensorFlow sees no GPU (devices: CPU:0, CPU:1"),
    ("tpu", "cannot connect to a TPU"),
])
def test_cli_accelerator_mismatch_stops_before_data_and_models(
    run_cli, tmp_path, tiny_toml, sample_dir, monkeypatch, strategy, found, one_error_line
):
    from painter.train import run as run_module

    def must_not_run(*args, **kwargs):
        raise AssertionError("reached after the strategy was refused")

    from painter.families.cyclegan import CycleGANFamily

    monkeypatch.setattr(CycleGANFamily, "dataset", must_not_run)
    monkeypatch.setattr(run_module, "build_training_model", must_not_run)
    started = time.monotonic()
    code, out, err = run_cli("train", tiny_toml, "--data", sample_dir, "--out", tmp_path / "run",
                             "--strategy", strategy)
    elapsed = time.monotonic() - started
    line = one_error_line(err)
    assert code == 3 and f"error: asked for --strategy {strategy} but" in line and found in line
    assert "choose" in line and "Traceback" not in err + out
    assert not (tmp_path / "run").exists()  # nothing written: no run dir, no checkpoint
    assert elapsed < 60, elapsed  # "within the first minute", with room to spare


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_builds_under_the_policy_and_restores_it(policy):
    from painter.train.run import build_training_model

    config = NoiseGANConfig(**{**TINY_NOISE.__dict__, "mixed_precision": policy})
    model = build_training_model(config, 10, tf.distribute.get_strategy(), jit_compile=False)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is back
    compute = {layer.dtype_policy.compute_dtype for layer in model.generator.layers[1:]}
    assert policy.split("_")[1] in compute and "float32" in compute  # output layer: float32
    is_scaled = isinstance(model.generator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")
    model.run_eagerly = True
    model.make_train_function()
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    logs = model.train_function(iter(tf.data.Dataset.from_tensors(images).repeat()))
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_a_step_the_callbacks_did_not_see_is_counted_before_an_interrupt_checkpoint(tmp_path):
    """Ctrl-C or SIGTERM can land after the compiled step returned and before the
    callbacks counted it: the checkpoint written then must match the optimizer's step."""
    from types import SimpleNamespace

    from painter.train.schedules import adam
    from painter.train.state import TrainingRun

    optimizer = adam(1e-3, 0.5)
    optimizer.build([keras.Variable(np.zeros(3, "float32"))])
    run = TrainingRun(tmp_path, CycleGANConfig(epochs=3, steps_per_epoch=5),
                      SimpleNamespace(optimizers={"gen_G": optimizer}),
                      tf.distribute.get_strategy(), lambda line: None, Deadline(None))
    run.epoch, run.step_in_epoch, run.epoch_start_step = 1, 2, 5
    optimizer.iterations.assign(8)  # one step past what the callbacks saw
    run.catch_up_with_optimizer()
    assert (run.step_in_epoch, run.steps_since_checkpoint) == (3, 1)
    assert run.global_step == 5 * run.epoch + run.step_in_epoch
    run.catch_up_with_optimizer()  # nothing more to count
    assert (run.step_in_epoch, run.steps_since_checkpoint) == (3, 1)
