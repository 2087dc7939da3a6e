"""Mixed precision (`config.mixed_precision`) on CPU: one real training step of each GAN
family under `mixed_float16` (GPUs) and `mixed_bfloat16` (TPUs), with tiny networks.

What must hold for the accelerator projection in docs/BENCHMARKS.md to mean anything:
the convolutions run in the low-precision dtype during the step, the weights and the
optimizer's state stay float32, every loss is float32, the step stays finite, and the
gradients reach every network's weights (under float16 once its loss scale fits).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_cyclegan
from painter.config import NoiseGANConfig
from painter.train.run import build_training_model

POLICIES = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}

# The image pool and DiffAugment on: they run inside the low-precision step too.
TINY_CYCLEGAN = tiny_cyclegan(disc_layers=3, pool_size=4, diffaugment="color,translation,cutout")
TINY_NOISE = NoiseGANConfig(
    image_size=16, latent_dim=8, gen_filters=8, disc_filters=4, disc_layers=2, batch_size=2,
    jit_compile=False,
)


def _record_outputs(layer, seen: dict):
    """Wraps `layer.call` so each call's output dtype is recorded under the layer's name."""
    call = layer.call

    def recording_call(*args, **kwargs):
        output = call(*args, **kwargs)
        seen.setdefault(layer.name, set()).add(keras.backend.standardize_dtype(output.dtype))
        return output

    layer.call = recording_call


def _record_values(owner, method: str, key: str, seen: dict):
    """Wraps `owner.method(value, …)` so the dtype of its first argument is recorded."""
    original = getattr(owner, method)

    def recording(value, *args, **kwargs):
        seen.setdefault(key, set()).add(keras.backend.standardize_dtype(value.dtype))
        return original(value, *args, **kwargs)

    setattr(owner, method, recording)


def _record_losses(model, seen: dict) -> None:
    """Records the dtype of each loss as its tracker gets it ("loss NAME") and as its
    optimizer scales it for the gradient ("scaled NAME")."""
    for name, tracker in model.trackers.items():
        _record_values(tracker, "update_state", f"loss {name}", seen)
    for name, optimizer in model.optimizers.items():
        _record_values(optimizer, "scale_loss", f"scaled {name}", seen)


def _build(config):
    model = build_training_model(config, 10, tf.distribute.get_strategy(), jit_compile=False)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    return model


def _variables_float32(model) -> None:
    for network in model.networks.values():
        for variable in network.variables:
            assert variable.dtype == "float32", variable.path
    for optimizer in model.optimizers.values():
        for variable in optimizer.variables:
            assert variable.dtype in ("float32", "int64", "int32"), variable.path


def _run_eagerly(model, batch) -> dict:
    model.run_eagerly = True  # concrete tensors, and no trace to pay for
    model.make_train_function()
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    logs = model.train_function(iter(dataset))
    return {name: float(np.asarray(value)) for name, value in logs.items()}


def _snapshot(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for n in model.networks.values() for v in n.trainable_variables]


# float16 steps on until every loss scale has come down to where its gradients fit (about
# five eager steps from 2**15), which takes more than a few seconds.
@pytest.mark.parametrize("policy", [pytest.param("mixed_float16", marks=pytest.mark.slow),
                                    "mixed_bfloat16"])
def test_cyclegan_step_under_mixed_precision(policy):
    compute = POLICIES[policy]
    config = dataclasses.replace(TINY_CYCLEGAN, mixed_precision=policy)
    model = _build(config)
    gen_G, disc_Y = model.gen_G, model.disc_Y
    seen: dict = {}
    watched = {
        "gen_G_res1_conv1": gen_G, "gen_G_res1_norm1": gen_G, "gen_G_up1_conv": gen_G,
        "gen_G_tanh": gen_G, "disc_Y_block2_conv": disc_Y, "disc_Y_head_conv": disc_Y,
    }
    for name, network in watched.items():
        _record_outputs(network.get_layer(name), seen)
    _record_losses(model, seen)
    before = _snapshot(model)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, 2, 32, 32, 3)).astype("float32")
    logs = _run_eagerly(model, (images[0], images[1]))

    # Convolutions and norms compute in the low precision; outputs and logits in float32.
    for name in ("gen_G_res1_conv1", "gen_G_res1_norm1", "gen_G_up1_conv", "disc_Y_block2_conv"):
        assert seen[name] == {compute}, (name, seen.get(name))
    assert seen["gen_G_tanh"] == {"float32"} and seen["disc_Y_head_conv"] == {"float32"}
    # Every loss, per example and as handed to the gradient, is float32.
    for key in [k for k in seen if k.startswith(("loss ", "scaled "))]:
        assert seen[key] == {"float32"}, (key, seen[key])
    # float16 scales each generator's loss with its own optimizer; otherwise one joint
    # generator loss goes through gen_G's.
    generators = ("gen_G",) if model.joint_generator_gradient else ("gen_G", "gen_F")
    assert model.joint_generator_gradient == (policy != "mixed_float16")
    assert {k for k in seen if k.startswith("scaled ")} == {
        f"scaled {n}" for n in (*generators, "disc_X", "disc_Y")
    }
    assert set(logs) >= {"G_loss", "F_loss", "D_X_loss", "D_Y_loss"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    _variables_float32(model)
    # float16 gradients underflow without loss scaling; bfloat16 needs none.
    scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer) for o in model.optimizers.values()]
    assert scaled == [policy == "mixed_float16"] * 4
    after = _snapshot(model)
    assert all(np.isfinite(a).all() for a in after)
    moved = _networks_moved(model, before, after)
    if policy == "mixed_bfloat16":
        assert all(moved.values()), moved
    else:
        # A LossScaleOptimizer starts at 2**15 and skips a step whose gradients overflow:
        # each network either moved or had its scale lowered, never a silent no-op.
        for name, optimizer in model.optimizers.items():
            scale = float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
            assert moved[name] or scale < 2.0**15, (name, scale)
        # The gradients reach the weights: once each optimizer has applied a step, every
        # network has moved, and stayed finite.
        _step_until_every_optimizer_stepped(model, lambda: _run_eagerly(model, tuple(images)))
        after = _snapshot(model)
        assert all(np.isfinite(a).all() for a in after)
        moved = _networks_moved(model, before, after)
        assert all(moved.values()), moved


def _step_until_every_optimizer_stepped(model, step, limit: int = 8) -> None:
    """Calls `step()` until every optimizer has applied a step. A LossScaleOptimizer skips a
    step whose scaled gradients overflow and halves its scale, so a few steps suffice."""
    for _ in range(limit):
        if all(int(o.iterations.numpy()) > 0 for o in model.optimizers.values()):
            return
        step()
    iterations = {name: int(o.iterations.numpy()) for name, o in model.optimizers.items()}
    assert all(iterations.values()), f"an optimizer never stepped in {limit} steps: {iterations}"


def _networks_moved(model, before, after) -> dict[str, bool]:
    moved, start = {}, 0
    for name, network in model.networks.items():
        count = len(network.trainable_variables)
        moved[name] = any(
            not np.array_equal(a, b) for a, b in zip(before[start:start + count], after[start:start + count])
        )
        start += count
    return moved


@pytest.mark.parametrize("policy", list(POLICIES))
def test_noise_gan_step_under_mixed_precision(policy):
    compute = POLICIES[policy]
    config = NoiseGANConfig(**{**TINY_NOISE.__dict__, "mixed_precision": policy})
    model = _build(config)
    generator, discriminator = model.generator, model.discriminator
    seen: dict = {}
    watched = ["noise_generator_up1_conv", "noise_generator_up1_norm", "noise_generator_tanh"]
    for name in watched:
        _record_outputs(generator.get_layer(name), seen)
    for name in ("noise_discriminator_block2_sn", "noise_discriminator_head_sn"):
        _record_outputs(discriminator.get_layer(name), seen)
    _record_losses(model, seen)
    before = _snapshot(model)
    images = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    logs = _run_eagerly(model, images)

    assert seen["noise_generator_up1_conv"] == {compute}
    assert seen["noise_generator_up1_norm"] == {compute}
    assert seen["noise_discriminator_block2_sn"] == {compute}
    assert seen["noise_generator_tanh"] == {"float32"}
    assert seen["noise_discriminator_head_sn"] == {"float32"}
    for key in [k for k in seen if k.startswith(("loss ", "scaled "))]:
        assert seen[key] == {"float32"}, (key, seen[key])
    assert {"scaled generator", "scaled discriminator"} <= set(seen)
    assert all(np.isfinite(v) for v in logs.values()), logs
    _variables_float32(model)
    after = _snapshot(model)
    assert all(np.isfinite(a).all() for a in after)
    moved = _networks_moved(model, before, after)
    if policy == "mixed_bfloat16":
        assert all(moved.values()), moved


# ---- float16 loss scaling across replicas ------------------------------------------------


def _replica_values(variable) -> list[np.ndarray]:
    """The value each replica holds of a (mirrored) variable."""
    inner = getattr(variable, "value", variable)  # a Keras variable's tf.Variable
    parts = getattr(inner, "values", (inner,))  # a MirroredVariable's per-device copies
    return [np.asarray(part.numpy()) for part in parts]


@pytest.mark.slow
def test_float16_overflow_on_one_replica_skips_the_step_on_every_replica():
    """An overflow on one replica must stop the step on all of them.

    Without XLA, Keras' LossScaleOptimizer decides "finite" in a merge call from the
    first replica's gradients, before they are summed across replicas; an inf on another
    replica then reaches the weights through the sum. Here the second replica's half of
    the batch holds 1e5, which overflows float16 (max 65504) in the first convolution:
    its losses and gradients are inf/NaN, the first replica's are finite. (On the first
    replica the overflow would stop the step everywhere even in Keras' own check.)
    """
    from painter.train.strategy import logical_cpus, mirrored_strategy

    config = tiny_cyclegan(image_size=16, disc_layers=1, batch_size=4,
                           mixed_precision="mixed_float16")
    strategy = mirrored_strategy(logical_cpus())
    assert strategy.num_replicas_in_sync == 2
    model = build_training_model(config, 10, strategy, jit_compile=False)
    assert not model.jit_compile
    before = _snapshot(model)
    rng = np.random.default_rng(0)
    photos, monets = (rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32") for _ in range(2))
    photos[2:] = monets[2:] = 1e5  # the second replica's half of the global batch
    dataset = tf.data.Dataset.from_tensors((photos, monets)).repeat()
    distributed = strategy.experimental_distribute_dataset(dataset)
    first = next(iter(distributed))
    halves = [np.asarray(part).max() for part in strategy.experimental_local_results(first[0])]
    assert halves[0] <= 1.0 and halves[1] == 1e5  # one replica only overflows

    model.make_train_function()  # the compiled step `train` runs (no XLA over 2 devices)
    model.train_function(iter(distributed))

    after = _snapshot(model)
    for network in model.networks.values():
        for variable in network.trainable_variables:
            for value in _replica_values(variable):
                assert np.isfinite(value).all(), variable.path
    for name, (a, b) in zip([v.path for n in model.networks.values() for v in n.trainable_variables],
                            zip(before, after)):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} moved: the step was not skipped")
    for name, optimizer in model.optimizers.items():
        scales = _replica_values(optimizer.dynamic_scale)
        assert len(scales) == 2 and all(s == 2.0**14 for s in scales), (name, scales)
        assert int(optimizer.iterations.numpy()) == 0, name  # the inner Adam did not step

    # A clean batch on both replicas is not skipped: the shared verdict can say "finite".
    clean = rng.uniform(-1, 1, (2, 4, 16, 16, 3)).astype("float32")
    clean_batches = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((clean[0], clean[1])).repeat()))
    model.train_function(clean_batches)
    moved = _networks_moved(model, after, _snapshot(model))
    assert any(moved.values()), moved
    for name, optimizer in model.optimizers.items():
        scales = _replica_values(optimizer.dynamic_scale)
        assert scales[0] == scales[1], (name, scales)
        assert moved[name] == (scales[0] == 2.0**14) == (int(optimizer.iterations.numpy()) == 1), name

    # The gradients reach the weights: once each optimizer has applied a clean step, every
    # network has moved from where the skipped step left it, and each weight is finite and
    # the same on both replicas.
    _step_until_every_optimizer_stepped(model, lambda: model.train_function(clean_batches))
    moved = _networks_moved(model, after, _snapshot(model))
    assert all(moved.values()), moved
    for network in model.networks.values():
        for variable in network.trainable_variables:
            first, second = _replica_values(variable)
            assert np.isfinite(first).all(), variable.path
            np.testing.assert_array_equal(first, second, err_msg=variable.path)
