"""One training step of a family's model from given weights and batch, on whichever Keras
backend this process runs: the same code on TensorFlow (in the suite's process) and on JAX
(in a subprocess), so tests/test_jax_step.py can compare the two.

Randomness that the backends draw differently (`keras.random` streams are the backend's
own) is taken out by the configs the test picks (no DiffAugment, a pool that is still
filling, every PatchNCE position) and, for the noise GAN, by fixed latents.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np


class _OneDevice:
    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def build(config, distribution=None):
    """The family's compiled training model (with the generator's average where the config
    keeps one), under a JAX `keras.distribution` when given."""
    from painter.train.run import build_training_model

    import keras

    from painter.train.ema import generator_ema

    scope = distribution.scope() if distribution is not None else contextlib.nullcontext()
    with scope:
        # Compiled on JAX, as training is there (and faster to compile whole than op by
        # op); eager on TensorFlow, the cheapest there.
        model = build_training_model(config, 4, _OneDevice(),
                                     jit_compile=keras.backend.backend() == "jax")
    ema = generator_ema(model)
    if ema is not None:
        ema.reset()
    return model


def state_of(model) -> dict[str, np.ndarray]:
    """Every variable a step changes, by a stable name: the networks' weights, the
    optimizers' variables, the average's weights and the metrics' totals."""
    from painter.train.ema import generator_ema

    state = {}
    for name, network in model.networks.items():
        for i, weight in enumerate(network.weights):
            state[f"{name}/{i}/{weight.path}"] = np.asarray(weight.numpy())
    for name, optimizer in model.optimizers.items():
        for i, variable in enumerate(optimizer.variables):
            state[f"opt_{name}/{i}/{variable.path}"] = np.asarray(variable.numpy())
    ema = generator_ema(model)
    if ema is not None:
        for i, weight in enumerate(ema.network.weights):
            state[f"ema/{i}"] = np.asarray(weight.numpy())
    for name, tracker in model.trackers.items():
        state[f"metric/{name}"] = np.asarray(tracker.result())
    return state


def save_weights(model, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, network in model.networks.items():
        network.save_weights(folder / f"{name}.weights.h5")


def load_weights(model, folder: Path) -> None:
    from painter.train.ema import generator_ema

    for name, network in model.networks.items():
        network.load_weights(folder / f"{name}.weights.h5")
    ema = generator_ema(model)
    if ema is not None:
        ema.reset()


def fix_latents(model, latents: np.ndarray) -> None:
    """A noise GAN draws these latents in every step instead of random ones."""
    from keras import ops

    model.draw_latents = lambda batch: ops.convert_to_tensor(latents)


def fit_one_step(model, batch) -> dict[str, float]:
    """One step through `model.fit`, the path training takes; returns its logs."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        data = tf.data.Dataset.from_tensors(batch).repeat()
    else:
        # Keras takes tuples from Python generators: (monets,) for the noise GAN.
        item = batch if isinstance(batch, tuple) else (batch,)

        def generate():
            while True:
                yield item

        data = generate()
    history = model.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    return {k: float(v[-1]) for k, v in history.history.items()}


def compare(ours: dict, theirs: dict, tolerance: float, masks: dict | None = None,
            scales: dict | None = None) -> list[str]:
    """The names whose arrays differ by more than `tolerance` relative to the larger
    array's largest magnitude (at least 1e-3, so near-zero tensors compare absolutely) or
    to `scales[name]`; only where `masks` ({name: boolean array}) is True."""
    bad = []
    masks, scales = masks or {}, scales or {}
    for name in sorted(set(ours) | set(theirs)):
        if name not in ours or name not in theirs:
            bad.append(f"{name}: missing on one side")
            continue
        a, b = np.asarray(ours[name], "float64"), np.asarray(theirs[name], "float64")
        if a.shape != b.shape:
            bad.append(f"{name}: shapes {a.shape} vs {b.shape}")
            continue
        scale = scales.get(name) or max(float(np.abs(a).max(initial=0)),
                                        float(np.abs(b).max(initial=0)), 1e-3)
        difference = np.abs(a - b)
        if name in masks:
            difference = difference[masks[name]]
        error = float(difference.max(initial=0)) / scale
        if error > tolerance:
            bad.append(f"{name}: relative difference {error:.2e}")
    return bad


def gradient_masks(state: dict, noise: float = 1e-3) -> dict[str, np.ndarray]:
    """{weight name: where its gradient is above float noise} from the Adam moments in
    `state`, and the same mask for the weight's moving average.

    Adam's first update is lr·g/(|g| + ε): for a weight whose true gradient is 0 (a conv
    bias before a normalisation, which cancels it) it is lr times the sign of rounding
    noise, which two backends round differently. Those weights are left out of the
    comparison of weights; their moments (the gradient, compared at the optimizer's
    scale) are not.
    """
    moments = {}
    for name, value in state.items():
        if name.startswith("opt_") and name.endswith("_momentum"):
            network = name[len("opt_"):].split("/", 1)[0]
            moments.setdefault(network, {})[name.rsplit("/", 1)[-1][: -len("_momentum")]] = value
    masks = {}
    for name in state:
        network, _, rest = name.partition("/")
        if network not in moments:
            continue
        key = rest.split("/", 1)[-1].replace("/", "_")
        moment = moments[network].get(key)
        if moment is None:
            continue
        largest = max(float(np.abs(m).max(initial=0)) for m in moments[network].values())
        masks[name] = np.abs(moment) > noise * largest
    return masks


def optimizer_scales(state: dict) -> dict[str, float]:
    """{optimizer variable name: the largest magnitude among its optimizer's variables of
    the same kind (first moments, second moments; the latter doubled)}: a gradient that
    is rounding noise (see `gradient_masks`) is compared at its network's gradient scale,
    not its own."""
    def kind(name):
        return next((k for k in ("_momentum", "_velocity") if name.endswith(k)), None)

    largest = {}
    for name, value in state.items():
        if name.startswith("opt_") and kind(name):
            key = (name.split("/", 1)[0], kind(name))
            largest[key] = max(largest.get(key, 0.0), float(np.abs(value).max(initial=0)))
    # A second moment is the gradient squared: its relative error is twice the gradient's,
    # so it is held to the gradient's bound.
    factor = {"_momentum": 1.0, "_velocity": 2.0}
    return {name: largest[(name.split("/", 1)[0], kind(name))] * factor[kind(name)]
            for name in state if name.startswith("opt_") and kind(name)}
