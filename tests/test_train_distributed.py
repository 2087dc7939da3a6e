"""Distributed training: one step on 2 replicas equals one step on 1 replica with the same
global batch, and a 2-worker MultiWorkerMirroredStrategy run over loopback ends with the
same weights on both workers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import one_train_step, tiny_cyclegan
from painter.train.replica import apply_clipped
from painter.train.step import global_mean
from painter.train.strategy import logical_cpus, mirrored_strategy, pick_strategy

# Randomness that legitimately differs between 1 and 2 replicas (per-replica seed streams
# of DiffAugment and the pool) is off; everything else is the real model.
TINY_CYCLEGAN = tiny_cyclegan(image_size=16, disc_layers=1, batch_size=4)


def _sgd_cyclegan(strategy, weights=None):
    """The real CycleGAN, compiled eagerly with SGD: Adam's first step is invariant to the
    gradients' scale (≈ lr·sign(g)), so it would hide a loss reduced over the wrong batch;
    SGD's step is proportional to it."""
    from painter.train.cyclegan import build_cyclegan

    with strategy.scope():
        model = build_cyclegan(TINY_CYCLEGAN)
        if weights is not None:
            for name, network in model.networks.items():
                network.set_weights(weights[name])
        optimizers = [keras.optimizers.SGD(0.5) for _ in range(4)]
        model.compile(*optimizers, loss="lsgan", run_eagerly=True)
    return model


def test_cyclegan_step_on_two_replicas_equals_one_replica():
    rng = np.random.default_rng(0)
    batch = tuple(rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32") for _ in range(2))
    single = pick_strategy("cpu")
    mirrored = mirrored_strategy(logical_cpus())  # conftest's two logical CPUs
    assert mirrored.num_replicas_in_sync == 2

    one = _sgd_cyclegan(single)
    initial = {name: net.get_weights() for name, net in one.networks.items()}
    two = _sgd_cyclegan(mirrored, weights=initial)
    logs_one = one_train_step(one, single, batch)
    logs_two = one_train_step(two, mirrored, batch)

    assert logs_one.keys() == logs_two.keys()
    for name in logs_one:
        assert logs_two[name] == pytest.approx(logs_one[name], abs=1e-5), name
    moved = 0.0
    for name in one.networks:
        for before, a, b in zip(initial[name], one.networks[name].get_weights(),
                                two.networks[name].get_weights()):
            np.testing.assert_allclose(b, a, atol=1e-5, err_msg=name)
            moved = max(moved, float(np.abs(a - before).max()))
    assert moved > 1e-3  # the step did change the weights


def test_joint_generator_gradient_equals_one_gradient_per_generator():
    """Both generators' gradients from one tape.gradient of Zhu et al.'s joint loss move the
    weights exactly as one gradient of total_G and one of total_F do."""
    rng = np.random.default_rng(1)
    batch = tuple(rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32") for _ in range(2))
    strategy = pick_strategy("cpu")
    joint = _sgd_cyclegan(strategy)
    assert joint.joint_generator_gradient
    initial = {name: net.get_weights() for name, net in joint.networks.items()}
    separate = _sgd_cyclegan(strategy, weights=initial)
    separate.joint_generator_gradient = False
    logs_joint = one_train_step(joint, strategy, batch)
    logs_separate = one_train_step(separate, strategy, batch)

    assert logs_joint == pytest.approx(logs_separate, abs=1e-6)
    for name in ("gen_G", "gen_F"):
        moved = 0.0
        for before, a, b in zip(initial[name], joint.networks[name].get_weights(),
                                separate.networks[name].get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=name)
            moved = max(moved, float(np.abs(a - before).max()))
        assert moved > 1e-3, name


def test_float16_loss_scaling_takes_one_gradient_per_generator():
    from painter.train.cyclegan import build_cyclegan

    model = build_cyclegan(TINY_CYCLEGAN)
    optimizers = [keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)) for _ in range(4)]
    model.compile(*optimizers, loss="lsgan")
    assert not model.joint_generator_gradient


class _ClippedRegression(keras.Model):
    """A linear model trained with the NoiseGAN's reduction and clipping."""

    def __init__(self, clipnorm):
        super().__init__()
        self.dense = keras.layers.Dense(1, kernel_initializer="ones")
        self.dense.build((None, 3))
        self.clipnorm = clipnorm
        self.sgd = keras.optimizers.SGD(1.0)
        self.sgd.build(self.dense.trainable_variables)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = global_mean(tf.reduce_sum(tf.square(self.dense(x) - y), axis=1))
        gradients = tape.gradient(loss, self.dense.trainable_variables)
        apply_clipped(self.sgd, gradients, self.dense.trainable_variables, self.clipnorm)
        return {"loss": loss}


def test_gradient_clipping_sees_the_global_gradient():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3)).astype("float32")
    y = (x @ np.array([[3.0], [-2.0], [1.0]]) + 5.0).astype("float32")
    kernels = []
    for strategy in (pick_strategy("cpu"), mirrored_strategy(logical_cpus())):
        with strategy.scope():
            model = _ClippedRegression(clipnorm=0.5)
            model.compile(run_eagerly=False)
        one_train_step(model, strategy, (x, y))
        kernels.append((model.dense.kernel.numpy(), model.dense.bias.numpy()))
    (k1, b1), (k2, b2) = kernels
    np.testing.assert_allclose(k2, k1, atol=1e-6)
    np.testing.assert_allclose(b2, b1, atol=1e-6)
    # Clipped to norm 0.5 with lr 1: the kernel moved by exactly 0.5.
    assert np.linalg.norm(k1 - 1.0) == pytest.approx(0.5, rel=1e-5)


# ---- two workers over loopback ---------------------------------------------------------------


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _h5_arrays(path):
    arrays = {}

    def collect(name, obj):
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(collect)
    return arrays


@pytest.mark.slow
def test_two_worker_run_ends_with_identical_weights(tmp_path, sample_dir):
    config = tmp_path / "tiny_noise.toml"
    config.write_text(
        "family = 'noise_gan'\nimage_size = 16\nlatent_dim = 4\ngen_filters = 8\n"
        "disc_filters = 4\ndisc_layers = 1\nbatch_size = 4\nsample_images = 2\n"
        "learning_rate_d = 1e-3\n"
    )
    data = tmp_path / "data" / "monet_jpg"
    data.mkdir(parents=True)
    for image in sorted((sample_dir / "monet_jpg").iterdir())[:8]:
        shutil.copy(image, data)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run = tmp_path / "run"
    workers = []
    for index in range(2):
        task = {"type": "worker", "index": index}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": task}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "painter", "train", str(config),
             "--data", str(tmp_path / "data"), "--out", str(run), "--strategy", "multiworker",
             "--epochs", "2", "--steps-per-epoch", "3"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=400)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert "with 2 replica(s)" in outputs[0], outputs[0][-2000:]

    last = [Path(d) / "checkpoints" / "step_00000006" for d in (run, tmp_path / "run.worker1")]
    for checkpoint in last:
        assert (checkpoint / "manifest.json").is_file(), list(checkpoint.parent.iterdir())
    for file in ("generator.weights.h5", "discriminator.weights.h5"):
        chief, other = (_h5_arrays(c / file) for c in last)
        assert chief.keys() == other.keys() and len(chief) > 10
        for name in chief:  # every variable: kernels, biases, BN moving statistics, SN's u
            np.testing.assert_array_equal(chief[name], other[name], err_msg=f"{file}:{name}")
    with np.load(last[0] / "optimizers.npz") as a, np.load(last[1] / "optimizers.npz") as b:
        for key in a.files:
            if key.startswith("optimizer/"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
