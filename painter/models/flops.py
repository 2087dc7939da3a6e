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
    """Forward-pass FLOPs of one example through `model` (nested models included, at the
    sizes they are called with)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops(_at_call_sizes(layer))
        else:
            total += _layer_flops(layer)
    return total


def _at_call_sizes(model: keras.Model) -> keras.Model:
    """A nested model whose own inputs leave sizes open (a fully convolutional network
    built on (None, None, 3)) has no sizes to count from: a copy of it built on the shapes
    of its first call in the outer model; otherwise the model itself."""
    if all(None not in tuple(t.shape)[1:] for t in model.inputs):
        return model
    # Keras keeps the outer call's tensors only on the layer's (private) inbound nodes.
    nodes = getattr(model, "_inbound_nodes", None) or []
    if not nodes:
        return model
    called = nodes[0].input_tensors
    if len(called) != len(model.inputs) or any(None in tuple(t.shape)[1:] for t in called):
        return model
    inputs = [keras.Input(batch_shape=t.shape, dtype=own.dtype)
              for t, own in zip(called, model.inputs)]
    return keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0])


def training_flops(model: keras.Model) -> int:
    """FLOPs of one example's forward and backward pass: 3× the forward pass."""
    return 3 * model_flops(model)
