"""From a trained run to a Kaggle `images.zip`, and Kaggle's checks on it.

- `zipwriter`: `ImageZipWriter`, JPEG encoding and zip writing on background threads,
  atomic (`images.zip` appears only when complete)
- `check`: `check_submission(path) -> CheckResult`, what Kaggle enforces
- `generate`: `generate(run_dir, out, ...)`, CycleGAN translations or noise-GAN samples
- `variants`: the documented test-time variants that top a small photo set up to 7,000
- `baselines`: `baseline("photos" | "color-match", out, ...)`
"""

from painter.submit.check import MAX_IMAGES, MIN_IMAGES, CheckResult, check_submission
from painter.submit.zipwriter import ImageZipWriter

__all__ = ["CheckResult", "ImageZipWriter", "MAX_IMAGES", "MIN_IMAGES", "check_submission"]
