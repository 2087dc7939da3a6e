"""Local MiFID that computes what Kaggle's metric does (clean-fid style layers).

- maths (`maths`): `frechet_distance`, `memorization_distance`, `distance_threshold`,
  `mifid`, `activation_statistics` — numpy/scipy, as Kaggle's code
- network (`inception`): `fid_inception(weights="fid", preprocessing=True)`, the
  2015-12-05 FID Inception in Keras 3 with Kaggle's TF1 bilinear resize to 299
- features (`features`): `inception_features(images, batch)`, `decoded_images(source)`
- front door (`score`): `compute_mifid(images_source, real_source, batch=32) -> MiFIDResult`
- weights (`weights`): `fetch_fid_weights`, `import_fid_weights`, `fid_weights_path`,
  `cache_dir`; the conversion from the TorchScript, read without torch
  (`inception_convert`, `torchscript`)
- cache (`cache`): real features keyed by content hash; `list_entries`, `clear_entries`
"""

from painter.metrics.features import decoded_images, inception_features
from painter.metrics.inception import LegacyBilinearResize, fid_inception
from painter.metrics.maths import (
    activation_statistics,
    distance_threshold,
    frechet_distance,
    memorization_distance,
    mifid,
)
from painter.metrics.score import MiFIDResult, compute_mifid
from painter.metrics.weights import (
    cache_dir,
    fetch_fid_weights,
    fid_weights_path,
    import_fid_weights,
)

__all__ = [
    "LegacyBilinearResize",
    "MiFIDResult",
    "activation_statistics",
    "cache_dir",
    "compute_mifid",
    "decoded_images",
    "distance_threshold",
    "fetch_fid_weights",
    "fid_inception",
    "fid_weights_path",
    "frechet_distance",
    "import_fid_weights",
    "inception_features",
    "memorization_distance",
    "mifid",
]
