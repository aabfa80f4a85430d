"""ForestSegmenter: the scikit-image / ilastik style random-forest pixel classifier."""
import numpy as np
import pytest
from skimage.feature import multiscale_basic_features
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

from chm.baselines import ForestSegmenter
from chm.metrics import pixel_error
from chm.mrf import MRFSegmenter
from chm.synthetic import make_shapes


def _data(n_classes=3, color=True, frac=0.03, seed=0):
    images, truth = make_shapes(n_images=4, shape=(36, 44), n_classes=n_classes, color=color,
                                n_shapes=1, random_state=seed)
    rng = np.random.default_rng(seed)
    sparse = [np.where(rng.random(t.shape) < frac, t, -1) for t in truth]
    return images, truth, sparse


@pytest.mark.parametrize("color", [False, True])
def test_forest_is_the_skimage_pipeline(color):
    images, _, sparse = _data(color=color)
    seg = ForestSegmenter(n_estimators=10, sigma_min=1, sigma_max=4, random_state=0).fit(images, sparse)
    # the same forest trained directly on scikit-image's features of the labeled pixels
    axis = -1 if color else None
    feats = [multiscale_basic_features(im, sigma_min=1, sigma_max=4, channel_axis=axis)
             .astype(np.float32) for im in images]
    X = np.concatenate([f[s >= 0] for f, s in zip(feats, sparse)])
    y = np.concatenate([s[s >= 0] for s in sparse])
    ref = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    assert seg.n_features_ == X.shape[1] == feats[0].shape[-1]
    for prob, f in zip(seg.predict_proba(images), feats):
        expected = ref.predict_proba(f.reshape(-1, f.shape[-1])).reshape(prob.shape)
        np.testing.assert_allclose(prob, expected, rtol=1e-6)


def test_forest_api_and_accuracy():
    images, truth, sparse = _data()
    seg = ForestSegmenter(n_estimators=20, random_state=0)
    assert seg.fit(images, sparse) is seg
    np.testing.assert_array_equal(seg.classes_, [0, 1, 2])
    probs = seg.predict_proba(images)
    assert all(p.shape == t.shape + (3,) and p.dtype == np.float32 for p, t in zip(probs, truth))
    np.testing.assert_allclose(probs[0].sum(axis=-1), 1.0, rtol=1e-6)
    preds = seg.predict(images)
    assert pixel_error(preds, truth) < 0.1  # far better than the 2/3 of chance
    assert seg.score(images, truth) == pytest.approx(1.0 - pixel_error(preds, truth))
    # same seed, same model; clone keeps the parameters and drops the fit
    again = ForestSegmenter(n_estimators=20, random_state=0).fit(images, sparse)
    np.testing.assert_array_equal(again.predict_proba(images)[1], probs[1])
    copy = clone(seg)
    assert copy.get_params() == seg.get_params() and not hasattr(copy, "forest_")


def test_forest_maps_arbitrary_labels_and_works_under_the_mrf():
    images, truth, sparse = _data(n_classes=2, color=False)
    relabel = [np.select([s == 0, s == 1], [4, 9], -1) for s in sparse]
    seg = ForestSegmenter(n_estimators=10, random_state=0).fit(images, relabel)
    np.testing.assert_array_equal(seg.classes_, [4, 9])
    assert set(np.unique(np.concatenate([p.ravel() for p in seg.predict(images)]))) <= {4, 9}
    mrf = MRFSegmenter(ForestSegmenter(n_estimators=10, random_state=0), weights=[0.0, 0.5, 2.0],
                       random_state=0).fit(images, sparse)
    assert [p.shape for p in mrf.predict(images)] == [t.shape for t in truth]


@pytest.mark.parametrize("params, match", [
    ({"n_estimators": 0}, "n_estimators"),
    ({"max_depth": 0}, "max_depth"),
    ({"sigma_min": 0}, "sigma_min"),
    ({"sigma_max": float("nan")}, "sigma_max"),
    ({"sigma_min": 4, "sigma_max": 2}, "sigma_max"),
    ({"edges": "yes"}, "edges"),
    ({"intensity": False, "edges": False, "texture": False}, "at least one"),
    ({"n_jobs": 0}, "n_jobs"),
])
def test_forest_bad_params(params, match):
    images, _, sparse = _data()
    with pytest.raises(ValueError, match=match):
        ForestSegmenter(**params).fit(images, sparse)


def test_forest_bad_inputs():
    images, truth, sparse = _data()
    with pytest.raises(ValueError, match="no labeled pixels"):
        ForestSegmenter().fit(images, [np.full_like(s, -1) for s in sparse])
    with pytest.raises(ValueError, match="only one class"):
        ForestSegmenter().fit(images, [np.where(s > 0, -1, s) for s in sparse])
    with pytest.raises(ValueError, match="NaN"):
        ForestSegmenter().fit([np.full((8, 8), np.nan)] * 2, [np.zeros((8, 8), int)] * 2)
    seg = ForestSegmenter(n_estimators=5, random_state=0).fit(images, sparse)
    with pytest.raises(ValueError, match=r"3-channel images, got 1-channel ones \(RGB vs grey\)"):
        seg.predict([im[..., 0] for im in images])
    with pytest.raises(ValueError, match="beyond the classes"):
        seg.score(images, [t + 3 for t in truth])
