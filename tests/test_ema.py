"""The generator's exponential moving average (`painter.train.ema`): the average's maths,
its update inside the compiled step after the optimizer, one replica against two, and a
run that keeps it: checkpoints, MiFID tracking of both generators, a resume, generate."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from conftest import EMA_CYCLEGAN, tiny_cyclegan
from painter.config import load_config
from painter.errors import ConfigError
from painter.train import checkpoints as ckpt
from painter.train.ema import GeneratorEMA, with_generator_ema
from painter.train.history import read_history
from painter.train.step import StepLosses, global_mean
from painter.train.trainer import GANTrainer
from painter.train.strategy import logical_cpus, mirrored_strategy, pick_strategy


def _dense(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="toy_generator")


# ---- the average's maths ----------------------------------------------------------------


def test_average_of_constant_weights_is_those_weights():
    generator, network = _dense(0), _dense(1)
    ema = GeneratorEMA(generator, network, decay=0.9)
    ema.reset()
    for _ in range(7):
        ema.update()
    for average, weight in zip(network.get_weights(), generator.get_weights()):
        np.testing.assert_array_equal(average, weight)


def test_average_follows_its_formula_on_changing_weights():
    d, rng = 0.75, np.random.default_rng(0)
    generator, network = _dense(0), _dense(1)
    expected = network.get_weights()  # the average starts wherever the network is
    ema = GeneratorEMA(generator, network, decay=d)
    for _ in range(4):
        weights = [rng.normal(size=w.shape).astype("float32") for w in expected]
        generator.set_weights(weights)
        ema.update()
        expected = [d * a + (1 - d) * w for a, w in zip(expected, weights)]
    for average, want in zip(network.get_weights(), expected):
        np.testing.assert_allclose(average, want, rtol=1e-6, atol=1e-6)


def test_average_refuses_another_architecture_and_a_bad_decay(tmp_path):
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="does not match"):
        GeneratorEMA(_dense(0), other, decay=0.9)
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(_dense(0), _dense(1), decay=1.0)
    path = tmp_path / "c.toml"
    path.write_text('family = "cyclegan"\nema_decay = 1.5\n')
    with pytest.raises(ConfigError, match=r"c\.toml.*ema_decay.*1\.5"):
        load_config(path)
    assert load_config(path, ema_decay=0.999).ema_decay == 0.999


# ---- inside the compiled step, on one and two replicas ------------------------------------


class _Toy(GANTrainer):
    """A one-network "GAN": its generator trained by SGD towards 1, with the step's loss
    reduced over the global batch as the families' are."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        self.trackers = {"loss": keras.metrics.Mean(name="loss")}
        self.built = True

    def call(self, x):
        return self.generator(x)

    @property
    def networks(self):
        return {"generator": self.generator}

    @property
    def optimizers(self):
        return {"generator": self.sgd}

    def compute_losses(self, data):
        outputs = self.generator(data, training=True)
        loss = ops.sum(ops.square(outputs - 1.0), axis=1)
        return StepLosses(losses={"generator": global_mean(loss)}, metrics={"loss": loss})


def _steps(strategy, batches, decay=0.5):
    """The toy trained on `batches` in a compiled step with an average kept; returns
    (generator weights after each step, starting ones first; the model's average)."""
    with strategy.scope():
        model = _Toy(_dense(0))
        model.compile()
        model.sgd = keras.optimizers.SGD(0.1)
        model.sgd.build(model.generator.trainable_variables)
        ema = with_generator_ema(model, model.generator, _dense(1), decay)
    ema.reset()
    weights = [model.generator.get_weights()]
    model.make_train_function()
    for batch in batches:
        dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
        model.train_function(iter(dataset))
        weights.append(model.generator.get_weights())
    return weights, ema


def test_in_step_average_follows_the_weights_after_each_optimizer_step_on_one_and_two_replicas():
    d = 0.5
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(4, 3)).astype("float32") for _ in range(2)]
    one_weights, one = _steps(pick_strategy("cpu"), batches, d)
    # After the optimizer: the average of w0 (its start), w1, w2, not of w0, w0, w1.
    expected = one_weights[0]
    for weights in one_weights[1:]:
        expected = [d * a + (1 - d) * w for a, w in zip(expected, weights)]
    assert not np.allclose(one_weights[0][0], one_weights[-1][0])  # the steps moved it
    for average, want in zip(one.network.get_weights(), expected):
        np.testing.assert_allclose(average, want, rtol=1e-5, atol=1e-6)

    mirrored = mirrored_strategy(logical_cpus())
    assert mirrored.num_replicas_in_sync == 2
    two_weights, two = _steps(mirrored, batches, d)
    for a, b in zip(two.network.get_weights(), one.network.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for variable in two.network.weights:  # every replica holds the same average
        copies = [np.asarray(v) for v in variable.value.values]
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1])


# ---- a run that keeps the average ---------------------------------------------------------


def _h5_weights(config, file) -> list[np.ndarray]:
    from painter.families import family_of

    network = family_of(config).build_generator(config)
    network.load_weights(str(file))
    return network.get_weights()


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_run_with_an_average_checkpoints_it_and_tracks_both_generators(ema_run):
    config = tiny_cyclegan(**EMA_CYCLEGAN)
    numbered = [c for c in ckpt.list_checkpoints(ema_run) if c.numbered]
    assert [c.epoch for c in numbered] == [1, 2]
    for found in numbered:
        manifest = json.loads((found.path / "manifest.json").read_text())
        assert manifest["ema"] == {"network": "gen_G", "file": "gen_G.ema.weights.h5",
                                   "decay": 0.5}
        assert found.generator_weights == "ema"
    last = numbered[-1].path
    ema, raw = (_h5_weights(config, last / f) for f in ("gen_G.ema.weights.h5", "gen_G.weights.h5"))
    assert not _same(ema, raw)

    # Both generators scored every epoch; `mifid` is the better; `best` is the argmin and
    # says which weights won.
    history = read_history(ema_run / "history.csv")
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert history[0]["mifid_raw"] == history[0]["mifid_ema"]  # the average starts as G
    for row in history:
        assert row["mifid"] == min(row["mifid_raw"], row["mifid_ema"])
    best = ckpt.find_checkpoint(ema_run, "best")
    argmin = min(history, key=lambda row: row["mifid"])
    assert best.epoch == argmin["epoch"]
    assert best.metrics["mifid"] == pytest.approx(argmin["mifid"], rel=1e-5)  # csv rounds
    won = "ema" if argmin["mifid_ema"] <= argmin["mifid_raw"] else "raw"
    assert best.generator_weights == won

    # load_generator: the manifest's choice by default, either on request.
    _, generator = ckpt.load_generator(ema_run, "last")
    assert _same(generator.get_weights(), ema)
    _, generator = ckpt.load_generator(ema_run, "last", weights="raw")
    assert _same(generator.get_weights(), raw)


def test_generate_uses_the_moving_average(ema_run, tmp_path, monkeypatch, sample_dir):
    from painter.families import family_of
    from painter.inference import photo_translator
    from painter.submit import generate as gen

    captured = {}

    class Captured(Exception):
        pass

    def capture(out, inputs, n, transform, **kwargs):
        captured["transform"] = transform
        raise Captured

    monkeypatch.setattr(gen, "write_submission", capture)
    with pytest.raises(Captured):
        gen.generate(ema_run, tmp_path / "images.zip", checkpoint="last", log=lambda m: None)
    photos = np.stack([np.asarray(keras.utils.load_img(p, target_size=(256, 256)), np.uint8)
                       for p in sorted((sample_dir / "photo_jpg").iterdir())[:2]])
    config = tiny_cyclegan(**EMA_CYCLEGAN)
    last = ckpt.find_checkpoint(ema_run, "last").path
    images = captured["transform"](photos)
    for file, same in (("gen_G.ema.weights.h5", True), ("gen_G.weights.h5", False)):
        network = family_of(config).build_generator(config)
        network.load_weights(str(last / file))
        assert np.array_equal(photo_translator(network, config.image_size)(photos), images) is same


@pytest.mark.slow
def test_a_resume_restores_the_average_and_an_old_checkpoint_starts_it(ema_run, tmp_path,
                                                                       sample_dir):
    from painter.train.run import train

    config = tiny_cyclegan(**{**EMA_CYCLEGAN, "track_mifid": False})
    # All epochs done: a resume plans, builds and restores, and trains no step.
    run_dir = tmp_path / "resumed"
    shutil.copytree(ema_run, run_dir)
    last = ckpt.find_checkpoint(run_dir, "last").path
    result = train(config, data=sample_dir, out=run_dir, resume=True, log=None, progress=False)
    assert result.global_step == 4
    restored = result.model.generator_ema.network.get_weights()
    assert _same(restored, _h5_weights(config, last / "gen_G.ema.weights.h5"))
    assert not _same(restored, result.model.gen_G.get_weights())

    # A checkpoint without an average (a run with ema_decay = 0, or an older one): the
    # average starts from the generator it restores.
    manifest = json.loads((last / "manifest.json").read_text())
    del manifest["ema"], manifest["generator_weights"]
    (last / "manifest.json").write_text(json.dumps(manifest))
    (last / "gen_G.ema.weights.h5").unlink()
    result = train(config, data=sample_dir, out=run_dir, resume=True, log=None, progress=False)
    assert _same(result.model.generator_ema.network.get_weights(),
                 result.model.gen_G.get_weights())
    assert ckpt.read_checkpoint(last).generator_weights == "raw"


def test_the_mifid_chart_shows_both_generators_and_no_loss_panel_does():
    from painter.train.history import History, history_charts

    rows = [{"epoch": e, "G_loss": 1.0 / e, "D_Y_loss": 0.5, "mifid": m, "mifid_raw": r,
             "mifid_ema": m} for e, m, r in ((1, 40.0, 41.0), (2, 38.0, 39.5))]
    charts = {chart.key: chart for chart in history_charts(History.from_rows(rows))}
    assert set(charts["mifid"].series) == {"MiFID", "EMA generator", "raw generator"}
    assert list(charts["mifid"].series["raw generator"][1]) == [41.0, 39.5]
    assert set(charts["generator"].series) == {"G_loss"}
