"""CHM end to end on a few real Weizmann Horse images (skipped without the data)."""
import numpy as np

from chm import CHM
from chm.datasets import load_weizmann_horse, sample_sparse_labels
from chm.metrics import pixel_error


def test_chm_on_weizmann_subset(weizmann_root):
    images, masks = load_weizmann_horse(root=weizmann_root, n=16)
    sparse = sample_sparse_labels(masks[:12], 40, random_state=0)
    model = CHM(n_levels=2, epochs=4, downscale=4, random_state=0, n_jobs=1).fit(images[:12], sparse)
    probs = model.predict_proba(images[12:])
    for p, im in zip(probs, images[12:]):
        assert p.shape == im.shape + (2,) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)
    pred = model.predict(images[12:])
    err = pixel_error(pred, masks[12:])
    # better than labeling every pixel "horse" and than a coin flip
    all_horse = pixel_error([np.ones_like(m) for m in masks[12:]], masks[12:])
    assert err < min(all_horse, 0.5)
    assert 0.0 <= model.score(images[12:], masks[12:]) <= 1.0
