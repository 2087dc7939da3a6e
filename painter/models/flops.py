"""Model FLOPs counted from the layers, for MFU and accelerator projections.

Method: only the multiply-adds of convolutions and dense layers are counted (2 FLOPs per
multiply-add), read from each layer's kernel shape and output size. Normalisation, activations,
padding, resizing and adds are left out: they are memory-bound and a few percent of the
arithmetic. A training step costs 3× the forward pass (forward, gradient w.r.t. activations,
gradient w.r.t. weights), the usual convention (Kaplan et al. 2020, PaLM's MFU).
"""

from __future__ import annotations

import math

import keras


def _layer_flops(layer: keras.layers.Layer) -> int:
    inner = getattr(layer, "layer", None)  # SpectralNormalization and other wrappers
    if inner is not None and isinstance(inner, keras.layers.Layer):
        return _inner_flops(inner, layer.output.shape, getattr(layer, "input", None))
    return _inner_flops(layer, layer.output.shape, getattr(layer, "input", None))


def _inner_flops(layer, output_shape, layer_input) -> int:
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw, cout, cin = layer.kernel.shape
        h, w = layer_input.shape[1:3]
        return 2 * kh * kw * cin * cout * h * w
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        kernel = layer.kernel.shape
        positions = math.prod(output_shape[1:-1])
        return 2 * math.prod(kernel) * positions
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(output_shape[1:-1]) if len(output_shape) > 2 else 1
        return 2 * math.prod(layer.kernel.shape) * positions
    return 0


def model_flops(model: keras.Model) -> int:
    """Forward-pass FLOPs of one example through `model` (nested models included)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops(layer)
        else:
            total += _layer_flops(layer)
    return total


def training_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward and backward pass: 3× the forward pass."""
    return 3 * model_flops(model)
