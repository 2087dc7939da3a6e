"""CUT and FastCUT: the PatchNCE loss against a direct computation, its negatives kept
within each image, one step on 2 replicas equal to one on 1, the authors' parameter
counts, and the family through `painter train`, resume, generate, report and the Kaggle
bundle."""

from __future__ import annotations

import math
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import one_train_step
from painter.families.cut import CUTConfig
from painter.models.patchnce import gather_patches, patch_nce_loss, sample_positions

TAU = 0.07

# The smallest CUT with every kind of layer, without randomness that differs between
# replicas (DiffAugment) and without XLA.
TINY = dict(image_size=32, gen_filters=4, residual_blocks=2, disc_filters=4, disc_layers=2,
            batch_size=2, epochs=1, decay_epochs=0, augment=False, jit_compile=False,
            sample_images=2, keep_checkpoints=1, nce_patches=16, head_units=8)
FASTCUT = dict(lambda_nce=10.0, nce_identity=False, flip_equivariance=True)


def tiny_cut(**overrides) -> CUTConfig:
    return CUTConfig(**{**TINY, **overrides})


def unit_vectors(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype("float32")


def numpy_patch_nce(query, key, tau=TAU):
    """The authors' PatchNCELoss for one image per batch entry, written out: for patch
    i, logits [q_i·k_i, q_i·k_j for j ≠ i, and −10 in place of j = i] / τ, cross-entropy
    against the first; mean over the patches."""
    losses = []
    for q, k in zip(query.astype("float64"), key.astype("float64")):
        per_patch = []
        for i in range(len(q)):
            negatives = [q[i] @ k[j] if j != i else -10.0 for j in range(len(k))]
            logits = np.array([q[i] @ k[i]] + negatives) / tau
            per_patch.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[0])
        losses.append(np.mean(per_patch))
    return np.array(losses)


# ---- the loss ------------------------------------------------------------------------


def test_patch_nce_equals_a_direct_computation():
    query, key = unit_vectors((2, 6, 5), 0), unit_vectors((2, 6, 5), 1)
    ours = keras.ops.convert_to_numpy(patch_nce_loss(query, key, TAU))
    np.testing.assert_allclose(ours, numpy_patch_nce(query, key), rtol=1e-5)


def test_random_features_score_about_log_256_and_matching_ones_near_zero():
    # 256 patches of 256-wide unit vectors: every logit q·k/τ has mean 0 and variance
    # σ² = 1/(256 τ²), so the loss is log(256) + σ²/2 (the log of a sum of 256 log-normals).
    query, key = unit_vectors((4, 256, 256), 2), unit_vectors((4, 256, 256), 3)
    random_loss = keras.ops.convert_to_numpy(patch_nce_loss(query, key, TAU))
    sigma2 = 1.0 / (256 * TAU**2)
    assert random_loss.mean() == pytest.approx(math.log(256) + sigma2 / 2, abs=0.1)
    assert abs(random_loss - math.log(256)).max() < 0.6
    matched = keras.ops.convert_to_numpy(patch_nce_loss(key, key, TAU))
    assert matched.max() < 0.01 < random_loss.min()


def test_the_negatives_never_come_from_another_image():
    query, key = unit_vectors((2, 32, 8), 4), unit_vectors((2, 32, 8), 5)
    swapped_q, swapped_k = query.copy(), key.copy()
    swapped_q[1], swapped_k[1] = unit_vectors((32, 8), 6), unit_vectors((32, 8), 7)
    before = keras.ops.convert_to_numpy(patch_nce_loss(query, key))
    after = keras.ops.convert_to_numpy(patch_nce_loss(swapped_q, swapped_k))
    assert after[0] == before[0] and abs(after[1] - before[1]) > 1e-3


def test_the_key_side_carries_no_gradient():
    query, key = tf.Variable(unit_vectors((1, 8, 4), 8)), tf.Variable(unit_vectors((1, 8, 4), 9))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(patch_nce_loss(query, key))
    grad_q, grad_k = tape.gradient(loss, [query, key])
    assert grad_k is None and float(tf.reduce_max(tf.abs(grad_q))) > 0


def test_patches_are_sampled_at_the_same_places_of_every_image_and_feature():
    features = [np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)]
    positions = sample_positions(features, 5, keras.random.SeedGenerator(0))
    where = keras.ops.convert_to_numpy(positions[0])
    assert len(set(where.tolist())) == 5 and where.max() < 16  # distinct places
    patches = keras.ops.convert_to_numpy(gather_patches(features, positions)[0])
    flat = features[0].reshape(2, 16, 3)
    np.testing.assert_array_equal(patches, flat[:, where])  # one set for the batch
    # More than there are: every place once.
    every = sample_positions(features, 99, keras.random.SeedGenerator(1))[0]
    assert sorted(keras.ops.convert_to_numpy(every).tolist()) == list(range(16))


def test_one_image_of_a_cut_batch_does_not_change_the_others_nce():
    from painter.train.cut import build_cut

    model = build_cut(tiny_cut())
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    other = x.copy()
    other[1] = rng.uniform(-1, 1, (32, 32, 3))
    state = model.patch_seed.state.numpy()
    losses = []
    for photos in (x, other):
        model.patch_seed.state.assign(state)  # the same patch positions
        keys = model.encoder(photos)
        queries = model.encoder(model.gen_G(photos))
        losses.append(keras.ops.convert_to_numpy(model._patch_nce(keys, queries)))
    assert losses[0][0] == pytest.approx(losses[1][0], abs=1e-6)
    assert abs(losses[0][1] - losses[1][1]) > 1e-4


# ---- the model -------------------------------------------------------------------------


def _sgd_cut(config, strategy, weights=None):
    """The real CUT compiled eagerly with SGD (Adam's first step, ≈ lr·sign(g), would
    hide a loss reduced over the wrong batch)."""
    from painter.train.cut import build_cut

    with strategy.scope():
        model = build_cut(config)
        if weights is not None:
            for name, network in model.networks.items():
                network.set_weights(weights[name])
        model.compile(*(keras.optimizers.SGD(0.01) for _ in range(3)), loss="lsgan",
                      run_eagerly=True)
    return model


@pytest.mark.parametrize("mode", [{}, FASTCUT], ids=["cut", "fastcut"])
def test_a_step_on_two_replicas_equals_one_replica(mode):
    from painter.train.strategy import logical_cpus, mirrored_strategy, pick_strategy

    config = tiny_cut(image_size=16, disc_layers=1, batch_size=4, **mode)
    rng = np.random.default_rng(0)
    batch = tuple(rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32") for _ in range(2))
    single, mirrored = pick_strategy("cpu"), mirrored_strategy(logical_cpus())
    assert mirrored.num_replicas_in_sync == 2
    one = _sgd_cut(config, single)
    initial = {name: net.get_weights() for name, net in one.networks.items()}
    two = _sgd_cut(config, mirrored, weights=initial)
    logs = [one_train_step(one, single, batch), one_train_step(two, mirrored, batch)]
    assert logs[0].keys() == logs[1].keys() and "nce_loss" in logs[0]
    assert logs[1] == pytest.approx(logs[0], abs=1e-5)
    for name in one.networks:
        moved = 0.0
        for before, a, b in zip(initial[name], one.networks[name].get_weights(),
                                two.networks[name].get_weights()):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5, err_msg=name)
            moved = max(moved, float(np.abs(a - before).max()))
        assert moved > 1e-4, name  # the step moved every network, the head included


@pytest.mark.slow
def test_parameter_counts_are_the_authors():
    """The authors print G 11.378 M, D 2.765 M and F (the head) 0.560 M for CUT with
    ngf = ndf = 64; their instance norm has no affine parameters (tests/
    test_models_shapes.py counts ours)."""
    from painter.train.cut import build_cut

    def norms(network):
        return sum(layer.count_params() for layer in network.layers
                   if isinstance(layer, keras.layers.GroupNormalization))

    model = build_cut(CUTConfig())
    assert model.gen_G.count_params() - norms(model.gen_G) == 11_378_179
    assert model.disc_Y.count_params() - norms(model.disc_Y) == 2_764_737
    # Widths 3, 128, 256, 256, 256: Σ (C·256 + 256) + (256·256 + 256).
    assert [int(t.shape[-1]) for t in model.encoder.outputs] == [3, 128, 256, 256, 256]
    assert model.head.count_params() == 560_384
    from painter.models.generators import encoder_layer_names

    # The authors' layers 0, 4, 8, 12, 16: padded input, two down convs, blocks 1 and 5.
    assert encoder_layer_names(model.gen_G) == [
        "gen_G_stem_pad", "gen_G_down1_conv", "gen_G_down2_conv", "gen_G_res1_add",
        "gen_G_res5_add"]


def test_configs_load_and_cut_needs_the_resnet_generator(tmp_path):
    from painter.config import load_config
    from painter.errors import ConfigError

    cut, fast = load_config("cut"), load_config("fastcut")
    assert (cut.lambda_nce, cut.nce_identity, cut.flip_equivariance) == (1.0, True, False)
    assert (fast.lambda_nce, fast.nce_identity, fast.flip_equivariance) == (10.0, False, True)
    proof = load_config("cpu_proof_cut")
    assert (proof.output, proof.residual_scale, proof.tone_curve, proof.color_transfer,
            proof.disc_norm, proof.track_mifid, proof.score_photos) == (
        "residual", 64, 16, "lab", "none", True, 500)
    with pytest.raises(ConfigError, match="generator"):
        load_config("cut", generator="unet")
    with pytest.raises(ConfigError, match="nce_temperature"):
        load_config("cut", nce_temperature=0.0)


# ---- the family through a run ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory, sample_dir):
    """A tiny CUT run of 2 steps on the embedded sample, resumed for 2 more, keeping a
    moving average of gen_G (read-only)."""
    from painter.train.run import train

    out = tmp_path_factory.mktemp("cut") / "run"
    config = tiny_cut(epochs=2, ema_decay=0.5)
    train(config, data=sample_dir, out=out, epochs=1, steps_per_epoch=2, log=None, progress=False)
    resumed = train(config, data=sample_dir, out=out, epochs=2, steps_per_epoch=2, resume=True,
                    log=None, progress=False)
    return out, resumed


@pytest.mark.slow
def test_a_cut_run_resumes_with_its_three_networks_and_optimizers(cut_run):
    from painter.train.checkpoints import find_checkpoint
    from painter.train.history import read_history

    run_dir, result = cut_run
    assert result.resumed_from is not None and result.resumed_from.name == "step_00000002"
    assert result.global_step == 4 and result.epochs_completed == 2
    # The head's optimizer went on from its saved state: 4 steps in all, like the others.
    assert {name: int(o.iterations) for name, o in result.model.optimizers.items()} == {
        "gen_G": 4, "disc_Y": 4, "head": 4}
    last = find_checkpoint(run_dir)
    assert {p.name for p in last.path.glob("*.weights.h5")} >= {
        "gen_G.weights.h5", "gen_G.ema.weights.h5", "disc_Y.weights.h5", "head.weights.h5"}
    history = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(math.isfinite(row["nce_loss"]) and row["nce_loss"] > 0 for row in history)
    assert "nce_identity_loss" in history[-1]


@pytest.mark.slow
def test_a_cut_run_generates_and_reports(cut_run, sample_dir, tmp_path, run_cli):
    from painter import inference
    from painter.submit import generate as gen
    from painter.train.checkpoints import load_generator

    from painter.families import family_of

    run_dir, result = cut_run
    config, generator = load_generator(run_dir, "last")
    assert config.family == "cut"
    photos = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    # The moving average of gen_G, as tracking and the sample grids drew with.
    expected = family_of(config).output_generator(result.model)
    assert expected is not result.model.gen_G
    np.testing.assert_allclose(generator(photos), expected(photos), atol=1e-6)
    out = tmp_path / "images.zip"
    written = gen.write_submission(
        out, gen.photo_inputs(gen.read_photos((str(sample_dir), "photo"))), 40,
        inference.photo_translator(generator, config.image_size), batch=16)
    with zipfile.ZipFile(out) as archive:
        assert written.count == len(archive.namelist()) == 40
    code, stdout, err = run_cli("report", run_dir, "--out", tmp_path / "report.html")
    assert code == 0, err
    page = (tmp_path / "report.html").read_text()
    assert "cut" in page and "nce_loss" in page


def test_kaggle_bundle_of_cut(tmp_path):
    from painter.config import load_config
    from painter.kaggle import bundle as kbundle

    wheel = tmp_path / "painter-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("painter/__init__.py", "")
    result = kbundle.build_bundle(tmp_path / "bundle", config="cut", username="a", wheel=wheel,
                                  log=lambda m: None)
    assert (result.dataset / "configs" / "cut.toml").is_file()
    assert (result.dataset / "configs" / "fastcut.toml").is_file()
    assert 'CONFIG = "cut"\n' in (result.kernel / "painter_kernel.py").read_text()
    # Its generator is CycleGAN's gen_G: the same zip estimate.
    assert kbundle.generator_gflops(load_config("cut")) == pytest.approx(
        kbundle.generator_gflops(load_config("cyclegan")))


def test_a_checkpoint_keeps_the_patch_positions_seed(tmp_path):
    """A resumed run draws the patch positions and flips an uninterrupted one would."""
    from painter.train.checkpoints import find_checkpoint, restore_checkpoint, save_checkpoint
    from painter.train.cut import build_cut, compile_cut

    config = tiny_cut()
    saved, fresh = build_cut(config), build_cut(config)
    for model in (saved, fresh):
        compile_cut(model, config, 10, jit_compile=False)
    keras.random.uniform((3,), seed=saved.patch_seed)  # moves its state on
    save_checkpoint(tmp_path, saved, config, epoch=0, step_in_epoch=1, global_step=1)
    restore_checkpoint(find_checkpoint(tmp_path), fresh, config)
    state = fresh.patch_seed.state.numpy()
    np.testing.assert_array_equal(state, saved.patch_seed.state.numpy())
    assert not np.array_equal(state, build_cut(config).patch_seed.state.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_one_step_under_mixed_precision_keeps_float32_weights_and_finite_losses(policy):
    """What a T4 (float16, loss-scaled: one gradient for gen_G, one for the head) and a TPU
    (bfloat16) run: finite float32 losses, float32 weights that every step moves."""
    from painter.train.run import build_training_model

    config = tiny_cut(mixed_precision=policy, **FASTCUT)
    model = build_training_model(config, 10, tf.distribute.get_strategy(), False)
    assert model.joint_generator_gradient is (policy == "mixed_bfloat16")
    assert model.head.layers[1].compute_dtype == policy.split("_")[1]
    before = {name: net.get_weights() for name, net in model.networks.items()}
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    logs = model.fit(tf.data.Dataset.from_tensors((x, x)).repeat(2), epochs=1, verbose=0).history
    assert all(math.isfinite(v[-1]) for v in logs.values()), logs
    for name, network in model.networks.items():
        assert {w.dtype for w in network.weights if w.dtype.startswith("float")} == {"float32"}
        if policy == "mixed_bfloat16":  # float16's first steps may be skipped by its scale
            moved = max(float(np.abs(a - b).max())
                        for a, b in zip(network.get_weights(), before[name]))
            assert moved > 0, name
