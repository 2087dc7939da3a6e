"""PatchNCE (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation"): a patch of the output should match the input patch at the same place
better than the other patches of the same input.

Pieces, each a `keras.ops` function or a Keras model:

- `projection_head`: one small MLP per encoder layer, Linear(C, 256) → ReLU →
  Linear(256, 256), then L2 normalisation (the authors' `PatchSampleF`, "mlp_sample").
- `sample_positions` / `gather_patches`: `count` random positions per layer, the SAME
  positions for every image of the batch and for the input and the output (so query i
  and key i are the same place), drawn without replacement.
- `patch_nce_loss`: per image, the cross-entropy of each query patch against its own key
  (the positive) among the keys of the other sampled patches of the SAME image (the
  negatives), at temperature τ = 0.07. The negatives never come from other images of the
  batch, and the batch axis is never folded into the patch axis: features stay
  (batch, patches, units) throughout, so under a distribution strategy each replica works
  on its own images whatever its share of the global batch.

Which side carries the gradient, as the authors' `PatchNCELoss`: the keys (features of
the INPUT image x) are detached (`feat_k = feat_k.detach()`); the queries (features of
the OUTPUT G(x), re-encoded by G's own encoder) carry it, to the head and through G(x)
to the generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from painter.models.layers import conv_init

NCE_TEMPERATURE = 0.07  # τ of the authors' `--nce_T`
# The authors fill the (query i, key i) entry of the negatives with −10 before dividing by
# τ: exp(−10/τ) ≈ 1e−62, so that entry counts as no negative at all.
_MASKED_LOGIT = -10.0


def projection_head(widths: Sequence[int], units: int = 256, name: str = "head") -> keras.Model:
    """The authors' projection head: per encoder layer, Linear(C, units) → ReLU →
    Linear(units, units) → L2 normalisation; weights from N(0, 0.02), biases 0.

    Args:
        widths: the channels C of each encoder layer, in order.
        units: the projection's width (the authors' `--netF_nc`). Defaults to 256.
        name: model name and prefix of its layer names. Defaults to "head".

    Returns:
        A `keras.Model` from a list of (batch, patches, C_l) features to a list of
        (batch, patches, units) float32 unit vectors. 560,384 parameters for the
        ResNet generator with ngf 64 (widths 3, 128, 256, 256, 256).
    """
    inputs, outputs = [], []
    for index, width in enumerate(widths):
        x = keras.Input((None, int(width)), name=f"{name}_input{index}")
        inputs.append(x)
        prefix = f"{name}_mlp{index}"
        y = keras.layers.Dense(units, kernel_initializer=conv_init(), name=f"{prefix}_dense1")(x)
        y = keras.layers.ReLU(name=f"{prefix}_relu")(y)
        y = keras.layers.Dense(units, kernel_initializer=conv_init(), name=f"{prefix}_dense2")(y)
        # float32 under a mixed policy: the dot products /τ feed an exponential.
        outputs.append(keras.layers.UnitNormalization(axis=-1, dtype="float32",
                                                      name=f"{prefix}_l2")(y))
    return keras.Model(inputs, outputs, name=name)


def sample_positions(features: Sequence, count: int, seed) -> list:
    """For each (batch, h, w, c) feature map, `min(count, h·w)` distinct random positions
    (flat indices into h·w), one set for the whole batch as the authors do.

    Args:
        features: the feature maps (only their static h, w are read).
        count: positions per layer (the authors' `--num_patches`, 256).
        seed: a `keras.random.SeedGenerator` (or int) for the draw.
    """
    positions = []
    for feature in features:
        places = int(feature.shape[1]) * int(feature.shape[2])
        # The top `count` of uniform noise: a uniformly random subset, in random order.
        noise = keras.random.uniform((places,), seed=seed)
        positions.append(ops.top_k(noise, min(count, places), sorted=False)[1])
    return positions


def gather_patches(features: Sequence, positions: Sequence) -> list:
    """(batch, h, w, c) maps → (batch, patches, c): the features at `positions`."""
    gathered = []
    for feature, where in zip(features, positions):
        batch, h, w, c = ops.shape(feature)
        flat = ops.reshape(feature, (batch, h * w, c))
        gathered.append(ops.take(flat, where, axis=1))
    return gathered


def patch_nce_loss(query, key, temperature: float = NCE_TEMPERATURE):
    """The PatchNCE loss of each image: the mean over its patches of the cross-entropy of
    query i against keys (i, the positive; every other key of the same image, the
    negatives). The keys are not back-propagated into.

    Args:
        query: (batch, patches, units) unit vectors from the output image G(x).
        key: the same shape, from the input x, the same positions in the same order.
        temperature: τ. Defaults to 0.07.

    Returns:
        (batch,) float32 losses; log(patches) when queries and keys carry no information.
    """
    query = ops.cast(query, "float32")
    key = ops.stop_gradient(ops.cast(key, "float32"))
    positive = ops.sum(query * key, axis=-1, keepdims=True)  # (b, n, 1)
    # (b, n, n): query i against every key of its own image (never another image's).
    negatives = ops.einsum("bic,bjc->bij", query, key)
    patches = ops.shape(query)[1]
    diagonal = ops.cast(ops.eye(patches), "bool")[None]
    negatives = ops.where(diagonal, _MASKED_LOGIT, negatives)
    logits = ops.concatenate([positive, negatives], axis=-1) / temperature
    # Cross-entropy with the positive (column 0) as the target.
    per_patch = ops.logsumexp(logits, axis=-1) - logits[..., 0]
    return ops.mean(per_patch, axis=-1)
