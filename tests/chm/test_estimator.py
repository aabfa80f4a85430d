"""The CHM estimator on tiny synthetic problems (and the synthetic generator itself).

Every model here is small (two levels, a two-filter bank, a few epochs on
32x40 images) so that each fit takes a fraction of a second.
"""
import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone

import features
from chm import estimator as chm_estimator
from chm.datasets import sample_sparse_labels
from chm.estimator import CHM, working_image
from chm.metrics import pixel_error
from chm.penalties import TotalVariation, tv_value
from chm.plan import UnitSpec
from chm.synthetic import class_colors, class_levels, make_shapes

SHAPE = (32, 40)


def small_bank():
    return features.FilterBank([features.GaussianFilter(sigmas=(1, 2))])


def small(**kw):
    """A CHM that fits in a fraction of a second on a few 32x40 images."""
    params = dict(n_levels=2, epochs=3, downscale=1, bank=small_bank(), context_radii=(1, 2),
                  batch_images=2, learning_rate=0.05, random_state=0)
    params.update(kw)
    return CHM(**params)


def sparse(masks, n=40, seed=0):
    return sample_sparse_labels(masks, n, random_state=seed)


def accuracy(preds, masks):
    return 1.0 - pixel_error(preds, masks)


def majority_rate(masks):
    counts = np.bincount(np.concatenate([m.ravel() for m in masks]))
    return counts.max() / counts.sum()


def check_probabilities(probs, images, n_classes):
    assert isinstance(probs, list) and len(probs) == len(images)
    for p, im in zip(probs, images):
        assert p.dtype == np.float32
        assert p.shape == im.shape[:2] + (n_classes,)
        assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def binary_data():
    images, masks = make_shapes(4, SHAPE, random_state=0)
    return images, masks, sparse(masks)


@pytest.fixture(scope="module")
def binary_model(binary_data):
    images, _, labels = binary_data
    return small().fit(images, labels)


# ==================================================================== synthetic
def test_make_shapes_shapes_dtypes_and_ranges():
    images, masks = make_shapes(n_images=3, shape=(20, 24), n_classes=3, random_state=0)
    assert len(images) == len(masks) == 3
    for im, m in zip(images, masks):
        assert im.shape == (20, 24) and im.dtype == np.float32
        assert m.shape == (20, 24) and m.dtype == np.int64
        assert im.min() >= 0 and im.max() <= 1
        # every class present in every image, and nothing else
        np.testing.assert_array_equal(np.unique(m), [0, 1, 2])


def test_make_shapes_is_seeded():
    a_im, a_m = make_shapes(2, random_state=3)
    b_im, b_m = make_shapes(2, random_state=3)
    c_im, _ = make_shapes(2, random_state=4)
    for x, y in zip(a_im + a_m, b_im + b_m):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a_im[0], c_im[0])


def test_make_shapes_class_brightness_and_noise():
    images, masks = make_shapes(4, n_classes=3, noise=0.0, texture=0.0, random_state=0)
    levels = class_levels(3)
    for im, m in zip(images, masks):
        np.testing.assert_allclose(im, levels[m], atol=1e-6)
    noisy, nmasks = make_shapes(4, n_classes=3, noise=0.3, texture=0.0, random_state=0)
    resid = np.concatenate([(im - levels[m]).ravel() for im, m in zip(noisy, nmasks)])
    # noise std = 0.3 * class step (0.35), a little less after clipping
    assert 0.08 < resid.std() < 0.11


def test_make_shapes_color_and_varying_sizes():
    images, masks = make_shapes(5, shape=(30, 40), color=True, vary_size=True, noise=0.0,
                                texture=0.0, random_state=1)
    sizes = {im.shape[:2] for im in images}
    assert len(sizes) > 1
    colors = class_colors(2)
    for im, m in zip(images, masks):
        assert im.ndim == 3 and im.shape[2] == 3 and im.shape[:2] == m.shape
        assert 22 <= im.shape[0] <= 38 and 30 <= im.shape[1] <= 50
        np.testing.assert_allclose(im, colors[m], atol=1e-6)
    assert not np.allclose(colors[0], colors[1])


@pytest.mark.parametrize("kw", [dict(n_images=0), dict(n_classes=1), dict(shape=(4, 40)),
                                dict(noise=-1.0), dict(shape=5)])
def test_make_shapes_rejects_bad_arguments(kw):
    with pytest.raises(ValueError):
        make_shapes(**kw)


# ==================================================================== fit / predict
def test_fit_returns_self_and_sets_attributes(binary_data):
    images, _, labels = binary_data
    model = small()
    assert model.fit(images, labels) is model
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert model.n_classes_ == 2 and model.n_channels_ == 1
    assert model.n_features_in_ == 2
    assert [spec.name for spec in model.plan_] == ["stage 1 level 0", "stage 1 level 1",
                                                   "stage 1 top-down"]
    assert [unit.spec for unit in model.units_] == list(model.plan_)
    # fitted state only: parameters, and learned attributes ending in "_"
    state = set(vars(model)) - set(model.get_params())
    assert all(name.endswith("_") and not name.startswith("_") for name in state), state


def test_predict_proba_predict_and_score(binary_model, binary_data):
    images, masks, labels = binary_data
    probs = binary_model.predict_proba(images)
    check_probabilities(probs, images, 2)
    preds = binary_model.predict(images)
    for p, pr in zip(preds, probs):
        assert p.shape == pr.shape[:2]
        assert set(np.unique(p)) <= {0, 1}
        np.testing.assert_array_equal(p, pr.argmax(axis=-1))
    # score = accuracy on the labeled pixels only, by hand
    hit = sum(int((p[l >= 0] == l[l >= 0]).sum()) for p, l in zip(preds, labels))
    n = sum(int((l >= 0).sum()) for l in labels)
    assert binary_model.score(images, labels) == pytest.approx(hit / n)
    dense = binary_model.score(images, masks)
    assert 0.0 <= dense <= 1.0
    assert dense == pytest.approx(accuracy(preds, masks))


@pytest.mark.parametrize("downscale", [1, 2])
def test_output_has_input_size_with_odd_and_varying_sizes(downscale):
    images, masks = make_shapes(3, (33, 41), vary_size=True, random_state=2)
    assert len({im.shape for im in images}) > 1
    model = small(downscale=downscale).fit(images, sparse(masks))
    test = images + [make_shapes(1, (27, 35), random_state=5)[0][0]]
    check_probabilities(model.predict_proba(test), test, 2)
    assert [p.shape for p in model.predict(test)] == [im.shape for im in test]


def test_multiclass():
    images, masks = make_shapes(4, SHAPE, n_classes=3, random_state=0)
    model = small().fit(images, sparse(masks))
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    check_probabilities(model.predict_proba(images), images, 3)
    for p in model.predict(images):
        assert set(np.unique(p)) <= {0, 1, 2}


def test_arbitrary_class_values(binary_data, binary_model):
    images, _, labels = binary_data
    relabeled = [np.where(l < 0, -1, np.where(l == 0, 3, 7)) for l in labels]
    model = small().fit(images, relabeled)
    np.testing.assert_array_equal(model.classes_, [3, 7])
    preds = model.predict(images)
    values = set(np.concatenate([p.ravel() for p in preds]).tolist())
    assert values == {3, 7}
    # the class values are names only: same model as with classes 0 / 1
    for a, b in zip(model.predict_proba(images), binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)
    assert model.score(images, relabeled) == pytest.approx(binary_model.score(images, labels))


def test_stacked_array_equals_list(binary_data, binary_model):
    images, _, labels = binary_data
    model = small().fit(np.stack(images), np.stack(labels))
    stacked = model.predict_proba(np.stack(images))
    for a, b in zip(stacked, binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


def test_rgb_with_default_bank():
    images, masks = make_shapes(3, SHAPE, color=True, random_state=0)
    model = CHM(n_levels=2, epochs=2, downscale=1, random_state=0).fit(images, sparse(masks))
    assert model.n_channels_ == 3
    assert model.n_features_in_ == features.default_bank(color=True).n_features + CHM().learned_filters
    assert isinstance(model.bank_.filters[-1], features.LearnedFilters)
    check_probabilities(model.predict_proba(images), images, 2)
    gray = [im.mean(axis=-1) for im in images]
    with pytest.raises(ValueError, match="3-channel"):
        model.predict(gray)


@pytest.mark.parametrize("classifier", ["logistic", "ldnn"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_learns_an_easy_problem(classifier, n_classes):
    images, masks = make_shapes(4, SHAPE, n_classes=n_classes, random_state=0)
    test_images, test_masks = make_shapes(2, SHAPE, n_classes=n_classes, random_state=1)
    model = small(classifier=classifier, epochs=10, batch_images=1, tv_weight=0.1)
    model.fit(images, sparse(masks, 60))
    acc = accuracy(model.predict(test_images), test_masks)
    chance = majority_rate(test_masks)
    # removes at least half of the errors of the majority-class guess
    assert acc > chance + 0.5 * (1 - chance), (acc, chance)


# ==================================================================== sklearn contract
def test_get_set_params_and_clone(binary_model):
    params = binary_model.get_params()
    for name in ["n_levels", "n_stages", "classifier", "tv_weight", "penalty", "tv_levels",
                 "downscale", "bank", "epochs", "random_state", "n_jobs", "verbose"]:
        assert name in params
    assert params["n_levels"] == 2 and params["epochs"] == 3
    copy = clone(binary_model)
    assert not hasattr(copy, "units_") and not hasattr(copy, "classes_")
    cp = copy.get_params()
    assert cp.keys() == params.keys()
    for k, v in params.items():
        if k == "bank":
            assert repr(cp[k]) == repr(v)
        else:
            assert cp[k] == v, k
    with pytest.raises(ValueError, match="not fitted"):
        copy.predict_proba([np.zeros(SHAPE)])
    assert copy.set_params(tv_weight=0.0, n_stages=2) is copy
    assert copy.tv_weight == 0.0 and copy.n_stages == 2
    # set_params on the clone leaves the original alone; TV is on by default
    assert binary_model.tv_weight == CHM().tv_weight == 0.1


def test_same_seed_same_model_other_seed_other_model(binary_data, binary_model):
    images, _, labels = binary_data
    again = small().fit(images, labels)
    other = small(random_state=1).fit(images, labels)
    ref = binary_model.predict_proba(images)
    for a, b, c in zip(again.predict_proba(images), ref, other.predict_proba(images)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(c, b) for c, b in zip(other.predict_proba(images), ref))


def test_n_jobs_does_not_change_results(binary_data, binary_model):
    images, _, labels = binary_data
    model = small(n_jobs=2).fit(images, labels)
    for a, b in zip(model.predict_proba(images), binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


def test_save_load_round_trip(tmp_path, binary_data, binary_model):
    images = binary_data[0]
    path = tmp_path / "model.pkl"
    binary_model.save(path)
    loaded = chm_estimator.load(path)
    assert isinstance(loaded, CHM)
    for a, b in zip(loaded.predict_proba(images), binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


def test_load_rejects_other_pickles(tmp_path):
    path = tmp_path / "other.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"weights": [1, 2]}, fh)
    with pytest.raises(ValueError, match="not a chm model file"):
        chm_estimator.load(path)


def test_save_before_fit_raises(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        small().save(tmp_path / "x.pkl")
    assert not (tmp_path / "x.pkl").exists()


# ==================================================================== verbosity
def test_verbose_levels(capsys, binary_data):
    images, _, labels = binary_data
    small(verbose=0).fit(images, labels)
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""

    small(verbose=1).fit(images, labels)
    err = capsys.readouterr().err
    for unit in ["stage 1 level 0", "stage 1 level 1", "stage 1 top-down", "fit done"]:
        assert unit in err
    assert "epoch" not in err

    assert re.search(r"features: .*\d/4 ", err)  # the bars (drawn, then cleared)
    assert re.search(r"classifiers: .*\d/3 ", err)

    small(verbose=2).fit(images, labels)
    err = capsys.readouterr().err
    assert re.search(r"stage 1 top-down epochs: .*\d/3 ", err)
    assert not re.search(r"stage 1 top-down epoch 3/3", err)

    small(verbose=3).fit(images, labels)
    assert re.search(r"stage 1 top-down epoch 3/3", capsys.readouterr().err)

    model = small(n_levels=1).fit(images, labels)
    model.set_params(verbose=1).predict([images[0]], tile_size=16)
    assert re.search(r"tiles: .*\d/\d+ ", capsys.readouterr().err)


# ==================================================================== options
def test_two_stages(binary_data):
    images, _, labels = binary_data
    model = small(n_stages=2).fit(images, labels)
    assert model.plan_.n_stages == 2 and len(model.units_) == 6
    assert [spec.stage for spec in model.plan_] == [0, 0, 0, 1, 1, 1]
    # every stage-2 unit reads stage 1's top-down output (unit 2) after its own levels'
    assert [spec.context for spec in model.plan_] == [(), (0,), (0, 1), (2,), (3, 2), (3, 4, 2)]
    check_probabilities(model.predict_proba(images), images, 2)


def _penalised_units(**kw):
    """Names (without the stage) of the units the fitted plan trains with the penalty."""
    images, masks = make_shapes(2, (24, 24), random_state=0)
    model = small(epochs=1, **kw).fit(images, sparse(masks, 20))
    assert len(model.plan_) == 3
    return {spec.name[len("stage 1 "):] for spec in model.plan_ if spec.penalised}


@pytest.mark.parametrize("tv_levels,expected", [
    ("full_resolution", {"level 0", "top-down"}),
    ("all", {"level 0", "level 1", "top-down"}),
    ([0], {"level 0"}),
    ([1], {"level 1"}),
    (["top_down"], {"top-down"}),
    ((), set()),
])
def test_tv_levels_select_the_penalised_classifiers(tv_levels, expected):
    assert _penalised_units(tv_levels=tv_levels) == expected


def test_unpenalised_units_train_as_without_the_penalty(binary_data):
    images, _, labels = binary_data
    plain = small(tv_weight=0.0).fit(images, labels)
    level0 = small(tv_weight=0.5, tv_levels=[1]).fit(images, labels)  # level 0 reads no context
    for a, b in zip(plain.units_[0].classifier.params_, level0.units_[0].classifier.params_):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(plain.units_[1].classifier.params_,
                                                        level0.units_[1].classifier.params_))


def test_tv_weight_zero_disables_the_penalty_everywhere(binary_data):
    images, _, labels = binary_data
    none = small(tv_weight=0.0, tv_levels=()).fit(images, labels)
    zero = small(tv_weight=0.0, tv_levels="all").fit(images, labels)
    for a, b in zip(none.units_, zero.units_):
        for pa, pb in zip(a.classifier.params_, b.classifier.params_):
            np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("bad", [[2], [-1], ["bottom_up"], [0, "top-down"]])
def test_tv_levels_bad_entry(binary_data, bad):
    images, _, labels = binary_data
    with pytest.raises(ValueError, match="tv_levels"):
        small(tv_levels=bad).fit(images, labels)


@pytest.mark.parametrize("option", [
    dict(tv_weight=0.0),
    dict(classifier="logistic"),
    dict(penalty="quadratic"),
    dict(loss="squared"),
    dict(weight_decay=0.1),
    dict(dropout=0.3),
    dict(crop=16),
    dict(solver="momentum"),
    dict(context_average=True),
])
def test_options_run_and_change_the_model(binary_data, binary_model, option):
    images, _, labels = binary_data
    model = small(**option).fit(images, labels)
    probs = model.predict_proba(images)
    check_probabilities(probs, images, 2)
    ref = binary_model.predict_proba(images)
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(probs, ref)), option


def test_penalty_instance_equals_its_name(binary_data, binary_model):
    images, _, labels = binary_data
    model = small(penalty=TotalVariation()).fit(images, labels)
    for a, b in zip(model.predict_proba(images), binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("classifier", ["logistic", "ldnn"])
def test_tv_penalty_smooths_the_maps(classifier):
    images, masks = make_shapes(4, SHAPE, noise=1.0, random_state=0)
    labels = sparse(masks, 30)

    def total_variation(tv_weight):
        model = small(classifier=classifier, epochs=10, tv_weight=tv_weight).fit(images, labels)
        return sum(tv_value(p[..., 1]) for p in model.predict_proba(images))

    plain, smooth = total_variation(0.0), total_variation(5.0)
    assert smooth < 0.7 * plain, (smooth, plain)


# ==================================================================== bad input
def _gray(n=2, shape=SHAPE):
    images, masks = make_shapes(n, shape, random_state=0)
    return images, sparse(masks, 20)


@pytest.mark.parametrize("make,match", [
    (lambda im, lab: (im, lab[:1]), "1 label maps for 2 images"),
    (lambda im, lab: (im, [lab[0], lab[1][:, :-1]]), r"label map 1 has shape \(32, 39\)"),
    (lambda im, lab: ([im[0], np.where(lab[1] >= 0, np.nan, im[1])], lab), "NaN or inf"),
    (lambda im, lab: ([im[0], np.where(lab[1] >= 0, np.inf, im[1])], lab), "NaN or inf"),
    (lambda im, lab: (im, [np.full(SHAPE, -1)] * 2), "no labeled pixels"),
    (lambda im, lab: (im, [np.where(l == 1, 0, l) for l in lab]), "only one class"),
    (lambda im, lab: (im, [np.where(l == 1, -2, l) for l in lab]), ">= -1"),
    (lambda im, lab: ([im[0][:1]] + im[1:], [lab[0][:1]] + lab[1:]), "at least 2 rows"),
    (lambda im, lab: ([np.zeros(10)] + im[1:], lab), "must have shape"),
    (lambda im, lab: ([np.zeros(SHAPE + (3, 2))] + im[1:], lab), "must have shape"),
    (lambda im, lab: ([np.zeros(SHAPE + (4,))] + im[1:], lab), "4 channels"),
    (lambda im, lab: (im, [l + 0.5 for l in lab]), "non-integer"),
])
def test_fit_rejects_bad_data(make, match):
    images, labels = make(*_gray())
    with pytest.raises(ValueError, match=match):
        small().fit(images, labels)


def test_fit_rejects_non_arrays():
    with pytest.raises(TypeError, match="images"):
        small().fit("image.png", [np.zeros(SHAPE)])
    with pytest.raises(TypeError, match="numeric"):
        small().fit([np.full(SHAPE, "a")], [np.zeros(SHAPE)])


def test_score_rejects_unknown_classes(binary_model, binary_data):
    images, _, labels = binary_data
    beyond = [np.where(l == 1, 5, l) for l in labels]
    with pytest.raises(ValueError, match="label 5 is beyond the classes"):
        binary_model.score(images, beyond)
    with pytest.raises(ValueError, match="no labeled pixels"):
        binary_model.score(images, [np.full(SHAPE, -1)] * len(images))


def test_predict_before_fit():
    for method in ("predict", "predict_proba"):
        with pytest.raises(ValueError, match="not fitted"):
            getattr(small(), method)([np.zeros(SHAPE)])
    with pytest.raises(ValueError, match="not fitted"):
        small().score([np.zeros(SHAPE)], [np.zeros(SHAPE, int)])


def test_predict_rgb_after_gray(binary_model):
    with pytest.raises(ValueError, match="1-channel images, got 3"):
        binary_model.predict([np.zeros(SHAPE + (3,), np.float32)])


def test_predict_rejects_bad_images(binary_model):
    with pytest.raises(ValueError, match="NaN or inf"):
        binary_model.predict([np.full(SHAPE, np.nan)])
    with pytest.raises(ValueError, match="at least 2 rows"):
        binary_model.predict([np.zeros((1, 40))])


@pytest.mark.parametrize("param,match", [
    (dict(classifier="svm"), "classifier"),
    (dict(tv_weight=-1), "tv_weight"),
    (dict(tv_weight=np.nan), "tv_weight"),
    (dict(downscale=0.5), "downscale"),
    (dict(n_levels=0), "n_levels"),
    (dict(n_stages=0), "n_stages"),
    (dict(loss="hinge"), "loss"),
    (dict(solver="sgd"), "solver"),
    (dict(penalty="l1"), "penalty"),
    (dict(average_folds="no"), "average_folds must be True, False or 'coarse', got 'no'"),
    (dict(average_flip=1), "average_flip must be True or False"),
    (dict(context_average=None), "context_average must be True or False"),
])
def test_bad_params(binary_data, param, match):
    images, _, labels = binary_data
    with pytest.raises(ValueError, match=match):
        small(**param).fit(images, labels)


# ==================================================================== known bugs
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_ldnn_survives_a_class_that_vanishes_at_a_coarse_level():
    rng = np.random.default_rng(0)
    images = [rng.random((16, 16)).astype(np.float32) for _ in range(2)]
    labels = []
    for _ in images:
        lab = np.full((16, 16), -1)
        lab[4:12, 4:12] = 0
        lab[5, 5] = 1        # its 2x2 cell holds three background labels
        labels.append(lab)
    model = small(classifier="ldnn").fit(images, labels)
    check_probabilities(model.predict_proba(images), images, 2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("param,match", [
    (dict(batch_images=0), "batch_images"),
    (dict(crop=0), "crop"),
    (dict(dropout=1.0), "dropout"),
    (dict(downscale=np.inf), "downscale"),
])
def test_bad_training_params_named(binary_data, param, match):
    images, _, labels = binary_data
    with pytest.raises(ValueError, match=match):
        small(**param).fit(images, labels)


def test_tv_levels_single_keyword_string():
    assert _penalised_units(tv_levels="top_down") == {"top-down"}


def test_memory_caches_features_without_changing_results(tmp_path, monkeypatch, binary_data,
                                                         binary_model):
    images, _, labels = binary_data
    calls = []
    pyramid = chm_estimator.pyramid
    monkeypatch.setattr(chm_estimator, "pyramid", lambda *a: calls.append(1) or pyramid(*a))
    cached = small(memory=str(tmp_path)).fit(images, labels)
    assert len(calls) == len(images)
    probs = cached.predict_proba(images)
    refit = clone(cached).fit(images, sparse(binary_data[1], seed=1))
    refit_probs = refit.predict_proba(images)
    assert len(calls) == len(images)  # predictions and the new draw reuse the features
    uncached = small(random_state=0).fit(images, sparse(binary_data[1], seed=1))
    assert len(calls) == 2 * len(images)  # memory=None computes them again
    for a, b in zip(probs, binary_model.predict_proba(images)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(refit_probs, uncached.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [0, 1, 2.5, True, "3"])
def test_context_cv_rejects_bad_values(binary_data, bad):
    images, _, labels = binary_data
    with pytest.raises(ValueError, match="context_cv"):
        small(context_cv=bad).fit(images, labels)


def test_context_cv_passes_out_of_fold_maps(binary_data):
    images, _, labels = binary_data
    model = small(context_cv=2).fit(images, labels)
    rng = np.random.RandomState(0)
    X = [rng.standard_normal((8, 9, 3)).astype(np.float32) for _ in range(4)]
    ys = [np.where(rng.random_sample((8, 9)) < 0.3, rng.randint(0, 2, (8, 9)), -1) for _ in X]
    feeds, last = (UnitSpec(0, 0, False, False, feeds_context=flag) for flag in (True, False))
    unit, maps = model._fit_unit(feeds, [x.copy() for x in X], ys, None, np.random.RandomState(0))
    own = [_unit_map(unit, x) for x in X]
    for m, o in zip(maps, own):  # every training image's map comes from a fold's classifier
        assert m.shape == o.shape and not np.allclose(m, o)
    unit, maps = model._fit_unit(last, [x.copy() for x in X], ys, None, np.random.RandomState(0))
    for m, x in zip(maps, X):
        np.testing.assert_array_equal(m, _unit_map(unit, x))


def _unit_map(unit, x, average=False):
    """A unit's probability map of raw (un-normalised) inputs ``x``."""
    z = unit.normalizer.transform(x)
    return unit.predict_proba(z.reshape(-1, z.shape[-1]), average).reshape(z.shape[:2] + (-1,))


def test_context_cv_folds_only_where_output_is_context(binary_data):
    images, _, labels = binary_data
    model = small(context_cv=2, n_stages=2).fit(images, labels)
    # the final output is nobody's context; every other unit's is
    assert [spec.feeds_context for spec in model.plan_] == [True] * 5 + [False]
    assert [len(unit.fold_classifiers) for unit in model.units_] == [2] * 5 + [0]
    fold_params = [c.params_[0] for c in model.units_[0].fold_classifiers]
    assert not np.array_equal(fold_params[0], fold_params[1])
    assert not np.array_equal(fold_params[0], model.units_[0].classifier.params_[0])
    none = small(context_cv=None, n_stages=2).fit(images, labels)
    assert all(unit.fold_classifiers == [] for unit in none.units_)


def test_average_folds_predicts_the_mean_of_the_unit_and_its_fold_copies(binary_data):
    images, _, labels = binary_data
    rng = np.random.RandomState(0)
    X = [rng.standard_normal((8, 9, 3)).astype(np.float32) for _ in range(4)]
    ys = [np.where(rng.random_sample((8, 9)) < 0.3, rng.randint(0, 2, (8, 9)), -1) for _ in X]
    model = small(context_cv=2, average_folds=True).fit(images, labels)
    feeds, last = (UnitSpec(0, 0, False, False, feeds_context=flag) for flag in (True, False))
    unit, _ = model._fit_unit(feeds, [x.copy() for x in X], ys, None, np.random.RandomState(0))
    folds = unit.fold_classifiers
    assert len(folds) == 2
    for x in X:
        z = unit.normalizer.transform(x)
        rows = z.reshape(-1, 3)
        expected = np.mean([c.predict_proba(rows) for c in [unit.classifier] + folds], axis=0)
        np.testing.assert_allclose(_unit_map(unit, x, average=True), expected.reshape(8, 9, 2),
                                   rtol=1e-5, atol=1e-6)
    # the final output is nobody's context: no fold copies to average there
    unit, _ = model._fit_unit(last, [x.copy() for x in X], ys, None, np.random.RandomState(0))
    assert unit.fold_classifiers == []


def test_average_folds_changes_predictions_not_training(binary_data):
    images, _, labels = binary_data
    plain = small(context_cv=2, average_folds=False).fit(images, labels)
    averaged = small(context_cv=2, average_folds=True).fit(images, labels)
    for up, ua in zip(plain.units_, averaged.units_):  # same classifiers were trained
        for a, b in zip(up.classifier.params_, ua.classifier.params_):
            np.testing.assert_array_equal(a, b)
    pp, pa = plain.predict_proba(images), averaged.predict_proba(images)
    check_probabilities(pa, images, 2)
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(pp, pa))
    # the option is read at prediction time: switching it reproduces the other model
    for a, b in zip(plain.set_params(average_folds=True).predict_proba(images), pa):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(averaged.set_params(average_folds=False).predict_proba(images), pp):
        np.testing.assert_array_equal(a, b)


def test_average_flip_averages_the_image_and_its_mirror(binary_data):
    images, _, labels = binary_data
    # class_prior="labels": no adjustment after the average (Bayes' rule is not linear)
    model = small(average_flip=False, class_prior="labels").fit(images, labels)
    plain = model.predict_proba(images)
    mirrored = model.predict_proba([im[:, ::-1] for im in images])
    model.set_params(average_flip=True)
    both = model.predict_proba(images)
    check_probabilities(both, images, 2)
    for b, p, m in zip(both, plain, mirrored):
        np.testing.assert_allclose(b, 0.5 * (p + m[:, ::-1]), atol=1e-6)
    assert not all(np.allclose(b, p, atol=1e-6) for b, p in zip(both, plain))


def test_prediction_options_are_checked_at_prediction(binary_model, binary_data):
    images = binary_data[0]
    model = pickle.loads(pickle.dumps(binary_model)).set_params(average_flip="yes")
    with pytest.raises(ValueError, match="average_flip must be True or False"):
        model.predict_proba(images)


@pytest.mark.parametrize("param,value", [("n_levels", 3), ("n_stages", 2), ("downscale", 2.0)])
def test_structure_changed_after_fit_asks_for_a_refit(binary_model, binary_data, param, value):
    model = pickle.loads(pickle.dumps(binary_model)).set_params(**{param: value})
    with pytest.raises(ValueError, match=f"{param} was .* call fit again"):
        model.predict_proba(binary_data[0])
    fitted = getattr(binary_model.plan_, param)
    model.set_params(**{param: fitted})  # set back: predicts as before
    for a, b in zip(model.predict_proba(binary_data[0]), binary_model.predict_proba(binary_data[0])):
        np.testing.assert_array_equal(a, b)


# ================================================== capacity per level, later stages
def test_per_level_ldnn_sizes_reach_their_classifiers(binary_data):
    images, _, labels = binary_data
    model = small(n_groups=(3, 5), n_disc=(2, 4), context_cv=2).fit(images, labels)
    sizes = {u.spec.name: (u.classifier.n_groups, u.classifier.n_disc) for u in model.units_}
    assert sizes == {"stage 1 level 0": (3, 2), "stage 1 level 1": (5, 4),
                     "stage 1 top-down": (3, 2)}
    for u in model.units_:
        assert all((c.n_groups, c.n_disc) == sizes[u.spec.name] for c in u.fold_classifiers)


def test_per_level_sizes_must_match_the_levels(binary_data):
    images, _, labels = binary_data
    with pytest.raises(ValueError, match="n_groups .*one size per level"):
        small(n_groups=(3, 5, 7)).fit(images, labels)


def test_later_stages_as_top_down_units(binary_data):
    images, masks, labels = binary_data
    model = small(n_stages=2, later_stages="top_down", context_cv=2).fit(images, labels)
    assert [u.spec.name for u in model.units_][-1] == "stage 2 top-down"
    assert len(model.units_) == 4 and model.units_[-1].spec.context == (0, 1, 2)
    # it reads the features plus three context maps
    n_ctx = model.context_filter_.n_features
    assert model.units_[-1].normalizer.mean_.shape[0] == model.n_features_in_ + 3 * n_ctx
    assert accuracy(model.predict(images), masks) > 0.8


class _MeanCentred(features.Filter):
    """Learns the mean of the training images' pixels; outputs the image minus it."""

    needs_fit = True

    def __init__(self):
        self.mean_ = None
        self.shapes_ = None

    @property
    def names(self):
        return ["centred"]

    def fit(self, images):
        images = [features.check_image(im) for im in images]
        self.mean_ = float(np.mean([im.mean() for im in images]))
        self.shapes_ = [im.shape for im in images]
        return self

    def _planes(self, image, memo):
        if self.mean_ is None:
            raise RuntimeError("not fitted")
        return (image - np.float32(self.mean_))[None].astype(np.float32)


def test_a_bank_that_learns_is_fitted_as_a_copy_on_the_working_images(binary_data):
    images, masks, labels = binary_data
    bank = features.FilterBank([small_bank(), _MeanCentred()])
    assert bank.needs_fit and not small_bank().needs_fit
    model = small(bank=bank, downscale=2, context_cv=None).fit(images, labels)
    assert bank.filters[1].mean_ is None                     # the given bank is untouched
    learned = model.bank_.filters[1]
    assert learned.shapes_ == [(16, 20)] * len(images)       # level 0 of the working images
    expected = np.mean([working_image(im, 2.0, 2).mean() for im in images])
    assert learned.mean_ == pytest.approx(expected, rel=1e-6)
    assert accuracy(model.predict(images), masks) > 0.7


def test_float16_features_hold_half_the_memory_and_predict_alike(binary_data):
    images, masks, labels = binary_data
    m32 = small(context_cv=None).fit(images, labels)
    m16 = small(context_cv=None, feature_dtype="float16").fit(images, labels)
    f16 = m16._image_features(images[:1], m16.plan_)[0]
    f32 = m32._image_features(images[:1], m32.plan_)[0]
    assert all(a.dtype == np.float16 and b.dtype == np.float32 for a, b in zip(f16, f32))
    np.testing.assert_allclose(f16[0].astype(np.float32), f32[0], rtol=1e-3, atol=1e-4)
    p32, p16 = np.stack(m32.predict_proba(images)), np.stack(m16.predict_proba(images))
    assert p16.dtype == np.float32
    assert np.abs(p32 - p16).max() < 0.05
    assert abs(accuracy(m16.predict(images), masks) - accuracy(m32.predict(images), masks)) < 0.02


def test_float16_storage_keeps_float32_where_values_exceed_its_range():
    from chm.estimator import _stored

    big = np.array([[[7e4]]], np.float32)
    assert _stored(big, "float16").dtype == np.float32
    assert _stored(big / 10, "float16").dtype == np.float16
    assert _stored(big, "float32") is big


def test_learned_filters_join_the_default_bank_fitted_with_a_seed_of_random_state(binary_data):
    images, masks, labels = binary_data
    kw = dict(bank=None, learned_filters=4, context_cv=None, n_levels=1)
    a = small(**kw).fit(images, labels)
    b = small(**kw).fit(images, labels)
    other = small(**dict(kw, random_state=1)).fit(images, labels)
    learned = a.bank_.filters[-1]
    assert isinstance(learned, features.LearnedFilters) and learned.n_filters == 4
    assert a.n_features_in_ == features.default_bank().n_features + 4
    np.testing.assert_array_equal(learned.filters_, b.bank_.filters[-1].filters_)
    assert not np.array_equal(learned.filters_, other.bank_.filters[-1].filters_)
    for pa, pb in zip(a.predict_proba(images), b.predict_proba(images)):
        np.testing.assert_array_equal(pa, pb)
    plain = small(bank=None, learned_filters=0, context_cv=None, n_levels=1).fit(images, labels)
    assert plain.n_features_in_ == features.default_bank().n_features
    assert not plain.bank_.needs_fit


def test_average_folds_coarse_averages_levels_2_and_above_only(binary_data):
    import copy
    images, _, labels = binary_data
    model = small(context_cv=2, n_levels=3, average_folds="coarse").fit(images, labels)
    assert [u.spec.level for u in model.units_] == [0, 1, 2, 0]
    assert [bool(u.fold_classifiers) for u in model.units_] == [True, True, True, False]
    coarse = model.predict_proba(images)
    by_hand = copy.deepcopy(model).set_params(average_folds=True)
    for unit in by_hand.units_[:2]:  # levels 0 and 1: their own classifier alone
        unit.fold_classifiers = []
    for a, b in zip(by_hand.predict_proba(images), coarse):
        np.testing.assert_array_equal(a, b)
    for other in (True, False):
        maps = copy.deepcopy(model).set_params(average_folds=other).predict_proba(images)
        assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(maps, coarse))
    assert CHM().average_folds == "coarse"
