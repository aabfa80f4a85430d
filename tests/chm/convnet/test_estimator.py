"""ConvNetSegmenter on tiny synthetic images: learning, API contract, persistence."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from chm.convnet import ConvNetSegmenter, load  # noqa: E402
from chm.convnet.estimator import _bilinear_sources, resolve_device  # noqa: E402
from chm.penalties import tv_value  # noqa: E402

pytestmark = pytest.mark.convnet

# small, single-threaded settings: a fit takes a few seconds on one core
FAST = dict(width=8, hidden=32, downscale=1, crop=None, batch_images=2, learning_rate=1e-2,
            n_jobs=1, device="cpu")


def make_disks(n, size=40, seed=0, n_labeled=10):
    """Bright disk (class 1) on a dark background (class 0) plus noise, as RGB floats.

    The disks are large next to the image because the network's receptive
    field (62 px) is: much smaller objects are hard for it to localise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, dense, sparse = [], [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.3 * size, 0.7 * size, 2)
        radius = rng.uniform(0.25 * size, 0.35 * size)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius ** 2).astype(np.int64)
        gray = 0.25 + 0.5 * mask + rng.normal(0, 0.1, (size, size))
        images.append(np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32))
        dense.append(mask)
        labels = np.full_like(mask, -1)
        picked = rng.choice(size * size, n_labeled, replace=False)
        labels.flat[picked] = mask.flat[picked]
        sparse.append(labels)
    return images, dense, sparse


@pytest.fixture(scope="module")
def data():
    train = make_disks(12, seed=0)
    test = make_disks(6, seed=1)
    return train, test


@pytest.fixture(scope="module")
def fitted(data):
    (images, _, sparse), _ = data
    return ConvNetSegmenter(tv_weight=0.0, epochs=25, random_state=0, **FAST).fit(images, sparse)


def test_learns_the_disks(data, fitted):
    _, (images, dense, _) = data
    chance = max(np.mean([d.mean() for d in dense]), 1 - np.mean([d.mean() for d in dense]))
    accuracy = fitted.score(images, dense)
    assert accuracy > chance + 0.1, (accuracy, chance)


def test_score_is_the_accuracy_of_predict_and_checks_labels(data, fitted):
    _, (images, dense, _) = data
    preds = fitted.predict(images)
    hit = sum(int((p == d).sum()) for p, d in zip(preds, dense))
    assert fitted.score(images, dense) == pytest.approx(hit / sum(d.size for d in dense))
    with pytest.raises(ValueError, match="beyond the classes"):
        fitted.score(images, [d + 2 for d in dense])
    with pytest.raises(ValueError, match="no labeled pixels"):
        fitted.score(images, [np.full_like(d, -1) for d in dense])
    with pytest.raises(ValueError, match="not fitted"):
        ConvNetSegmenter().score(images, dense)


def test_fitted_attributes(fitted):
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert fitted.n_classes_ == 2
    assert fitted.n_channels_ == 3
    assert fitted.patch_size_ == 62
    assert fitted.mean_.shape == fitted.std_.shape == (3,)
    assert fitted.device_ == torch.device("cpu")
    assert len(fitted.history_) == fitted.epochs
    assert {"epoch", "ce", "tv", "loss", "seconds"} <= set(fitted.history_[0])
    assert fitted.n_iter_ == 25 * 6
    assert not fitted.module_.training


def test_predict_proba_and_predict(data, fitted):
    _, (images, _, _) = data
    odd = [images[0], images[1][:17, :21]]  # sizes may differ
    proba = fitted.predict_proba(odd)
    assert [p.shape for p in proba] == [(40, 40, 2), (17, 21, 2)]
    for p in proba:
        assert p.dtype == np.float32
        assert p.min() >= 0
        np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-5)
    pred = fitted.predict(odd)
    for p, lab in zip(proba, pred):
        assert lab.shape == p.shape[:2]
        np.testing.assert_array_equal(lab, fitted.classes_[p.argmax(axis=2)])
    # a stacked array works like a list
    stacked = fitted.predict_proba(np.stack(images[:2]))
    np.testing.assert_array_equal(stacked[1], fitted.predict_proba(images[1:2])[0])


def test_labels_are_mapped_back_to_class_values(data):
    (images, _, sparse), _ = data
    shifted = [np.where(s >= 0, 3 + 4 * s, -1) for s in sparse]  # classes 3 and 7
    est = ConvNetSegmenter(epochs=1, random_state=0, **FAST).fit(images[:4], shifted[:4])
    np.testing.assert_array_equal(est.classes_, [3, 7])
    assert set(np.unique(np.concatenate([p.ravel() for p in est.predict(images[:2])]))) <= {3, 7}


def test_same_seed_same_model_and_clone(data):
    (images, _, sparse), _ = data
    est = ConvNetSegmenter(epochs=2, random_state=7, **FAST)
    a = est.fit(images[:6], sparse[:6]).predict_proba(images[:2])
    b = clone(est).fit(images[:6], sparse[:6]).predict_proba(images[:2])
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
    c = clone(est).set_params(random_state=8).fit(images[:6], sparse[:6]).predict_proba(images[:2])
    assert not np.array_equal(a[0], c[0])
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "module_")


def test_fit_leaves_global_torch_state_alone(data):
    (images, _, sparse), _ = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    ConvNetSegmenter(epochs=1, random_state=0, **FAST).fit(images[:2], sparse[:2])
    torch.testing.assert_close(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_save_load_round_trip(tmp_path, data, fitted):
    _, (images, _, _) = data
    path = tmp_path / "model.pt"
    fitted.save(path)
    loaded = load(path)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    for pa, pb in zip(fitted.predict_proba(images), loaded.predict_proba(images)):
        np.testing.assert_array_equal(pa, pb)
    assert loaded.history_ == fitted.history_
    with pytest.raises(ValueError, match="not a file written"):
        torch.save({"something": 1}, tmp_path / "other.pt")
        load(tmp_path / "other.pt")


def test_tv_weight_smooths_the_predicted_maps(data, fitted):
    (images, _, sparse), (test_images, _, _) = data
    smooth = ConvNetSegmenter(tv_weight=0.5, epochs=25, random_state=0, **FAST).fit(images, sparse)
    tv_plain = np.mean([tv_value(p) for p in fitted.predict_proba(test_images)])
    tv_smooth = np.mean([tv_value(p) for p in smooth.predict_proba(test_images)])
    assert tv_smooth < 0.7 * tv_plain, (tv_smooth, tv_plain)
    assert smooth.history_[-1]["tv"] < fitted.history_[-1]["tv"]


def test_downscale_and_crops(data):
    (images, _, sparse), (test_images, _, _) = data
    params = {**FAST, "downscale": 2, "crop": 8}
    est = ConvNetSegmenter(epochs=2, random_state=0, **params).fit(images[:4], sparse[:4])
    proba = est.predict_proba(test_images[:2])
    assert [p.shape for p in proba] == [(40, 40, 2)] * 2
    np.testing.assert_allclose(proba[0].sum(axis=2), 1.0, atol=1e-5)


def test_labeled_pixels_use_the_upsampling_of_predict_proba():
    # the training loss reads a labeled pixel's probability with the same
    # bilinear weights F.interpolate uses to upsample the output grid
    rng = np.random.default_rng(0)
    low = torch.from_numpy(rng.random((1, 1, 7, 9)))
    full = torch.nn.functional.interpolate(low, size=(15, 20), mode="bilinear", align_corners=False)
    rows, cols = np.mgrid[:15, :20]
    y0, y1, fy = _bilinear_sources(rows.ravel().astype(float), 7, 15)
    x0, x1, fx = _bilinear_sources(cols.ravel().astype(float), 9, 20)
    g = low[0, 0].numpy()
    values = ((1 - fy) * (1 - fx) * g[y0, x0] + (1 - fy) * fx * g[y0, x1]
              + fy * (1 - fx) * g[y1, x0] + fy * fx * g[y1, x1])
    np.testing.assert_allclose(values.reshape(15, 20), full[0, 0].numpy(), atol=1e-12)


def test_gray_images(data):
    (images, _, sparse), _ = data
    gray = [im[:, :, 0] for im in images[:4]]
    est = ConvNetSegmenter(epochs=1, random_state=0, **FAST).fit(gray, sparse[:4])
    assert est.n_channels_ == 1
    assert est.predict_proba(gray[:1])[0].shape == (40, 40, 2)
    with pytest.raises(ValueError, match="grey"):
        est.predict(images[:1])


@pytest.mark.parametrize("params, match", [
    ({"tv_weight": -1.0}, "tv_weight"),
    ({"width": 0}, "width"),
    ({"downscale": 0.5}, "downscale"),
    ({"crop": 2}, "crop"),
    ({"batch_images": 0}, "batch_images"),
    ({"epochs": 1.5}, "epochs"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"solver": "lbfgs"}, "solver"),
    ({"lr_schedule": "step"}, "lr_schedule"),
    ({"padding": "edge"}, "padding"),
    ({"device": "tpu"}, "device"),
    ({"device": None}, "device"),
    ({"momentum": "x"}, "momentum"),
    ({"momentum": 1.0}, "momentum"),
    ({"weight_decay": float("nan")}, "weight_decay"),
    ({"solver": "SGD"}, "solver"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"verbose": None}, "verbose"),
    ({"n_epochs": 1.5}, "n_epochs"),
    ({"crop_size": 2}, "crop_size"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_parameters(data, params, match):
    (images, _, sparse), _ = data
    with pytest.raises(ValueError, match=match):
        ConvNetSegmenter(**{**FAST, **params}).fit(images[:2], sparse[:2])


def test_deprecated_names_warn_and_are_used(data):
    (images, _, sparse), _ = data
    old = ConvNetSegmenter(**FAST, n_epochs=2, crop_size=8, batch_size=3, solver="sgd",
                           random_state=0)
    assert clone(old).get_params() == old.get_params()
    with pytest.warns(FutureWarning) as record:
        old.fit(images[:4], sparse[:4])
    messages = " ".join(str(w.message) for w in record)
    for name, new_name in [("n_epochs", "epochs"), ("crop_size", "crop"),
                           ("batch_size", "batch_images"), ('solver="sgd"', 'solver="momentum"')]:
        assert f"{name} is deprecated" in messages and f"use {new_name}" in messages
    params = {**FAST, "crop": 8, "batch_images": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = ConvNetSegmenter(**params, epochs=2, solver="momentum", random_state=0)
        new.fit(images[:4], sparse[:4])
    assert len(old.history_) == len(new.history_) == 2
    assert old.n_iter_ == new.n_iter_ == 2 * 2  # 4 images in batches of 3: 2 steps per epoch
    for a, b in zip(old.predict_proba(images[:2]), new.predict_proba(images[:2])):
        np.testing.assert_array_equal(a, b)
    adam = ConvNetSegmenter(**params, epochs=2, random_state=0).fit(images[:4], sparse[:4])
    assert not np.array_equal(adam.predict_proba(images[:1])[0], new.predict_proba(images[:1])[0])


def test_parameters_are_checked_before_the_data(data, monkeypatch):
    (images, _, sparse), _ = data
    import chm.convnet.estimator as module

    def fail(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(module, "PatchNet", fail)
    with pytest.raises(ValueError, match="solver must be 'adam' or 'momentum', got 'lbfgs'"):
        ConvNetSegmenter(solver="lbfgs", **FAST).fit(images[:2], "not images")


def test_bad_inputs(data, fitted):
    (images, _, sparse), _ = data
    est = ConvNetSegmenter(epochs=1, **FAST)
    with pytest.raises(ValueError, match="no labeled"):
        est.fit(images[:2], [np.full((40, 40), -1)] * 2)
    with pytest.raises(ValueError, match="one class"):
        est.fit(images[:2], [np.where(s >= 0, 0, -1) for s in sparse[:2]])
    with pytest.raises(ValueError, match="label maps for"):
        est.fit(images[:2], sparse[:3])
    with pytest.raises(ValueError, match="shape"):
        est.fit(images[:2], [s[:10] for s in sparse[:2]])
    with pytest.raises(ValueError, match=">= -1"):
        est.fit(images[:2], [np.full((40, 40), -2)] * 2)
    with pytest.raises(ValueError, match="channels"):
        est.fit([np.zeros((40, 40, 4))], sparse[:1])
    with pytest.raises(ValueError, match="empty"):
        fitted.predict_proba([])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConvNetSegmenter().predict(images[:1])


def test_device_auto():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_guided_penalty_sees_its_guide_at_the_output_grid(data):
    """Any Penalty trains the ConvNet; a guided one gets the guide of the same crop."""
    from chm.penalties import Penalty, QuadraticVariation

    (images, _, sparse), _ = data
    calls = []

    class Probe(QuadraticVariation):
        guided = True

        def guide(self, image):
            return np.asarray(image, np.float32)[..., :1]

        def value_and_gradient(self, prob, guide=None):
            calls.append((np.shape(prob), None if guide is None else guide.shape))
            return super().value_and_gradient(prob)

    settings = dict(FAST, epochs=1, crop=6, batch_images=4)
    model = ConvNetSegmenter(tv_weight=0.5, penalty=Probe(), random_state=0, **settings)
    model.fit(images, sparse)
    assert isinstance(model.penalty_, Penalty)
    assert len(calls) == len(images)  # one map per image of the epoch
    assert all(shape == (6, 6) and guide == (6, 6, 1) for shape, guide in calls)
    quad = ConvNetSegmenter(tv_weight=0.5, penalty="quadratic", random_state=0, **settings)
    tv = ConvNetSegmenter(tv_weight=0.5, random_state=0, **settings)
    p_quad = quad.fit(images, sparse).predict_proba(images[:2])
    p_tv = tv.fit(images, sparse).predict_proba(images[:2])
    assert not np.allclose(p_quad[0], p_tv[0])  # the penalty changes training
