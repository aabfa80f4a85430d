"""The training length chosen from held-out labeled pixels (chm.training_length, epochs="auto")."""
import numpy as np
import pytest

import chm
import features
from chm import penalty_search, training_length
from chm.classifiers import make_stage, train_stage


def small(**kw):
    params = dict(n_levels=2, epochs="auto", downscale=1, context_radii=(1, 2), batch_images=2,
                  learning_rate=0.05, random_state=0, context_cv=None, tv_weight=0.0,
                  bank=features.FilterBank([features.GaussianFilter(sigmas=(1, 2))]))
    params.update(kw)
    return chm.CHM(**params)


def test_split_holds_out_one_fold_of_every_images_labels():
    rng = np.random.RandomState(0)
    labels = [np.where(rng.random_sample((9, 11)) < 0.4, rng.randint(0, 2, (9, 11)), -1)
              for _ in range(4)]
    train, held = training_length.split_labels(labels, 4, np.random.RandomState(1))
    for lab, t, h in zip(labels, train, held):
        assert not ((t >= 0) & (h >= 0)).any()                    # disjoint
        np.testing.assert_array_equal((t >= 0) | (h >= 0), lab >= 0)  # every labeled pixel
        np.testing.assert_array_equal(np.where(t >= 0, t, h), lab)    # with its class
        n = int(penalty_search.labeled_regions(lab).max())
        held_regions = np.unique(penalty_search.labeled_regions(np.where(h >= 0, lab, -1)))
        assert abs(len(held_regions[held_regions > 0]) - n / 4) <= 1  # one region in 4


def test_smoothing_is_a_moving_mean_shrinking_at_the_ends():
    curve = [4.0, 0.0, 2.0, 6.0, 8.0]
    np.testing.assert_allclose(training_length.smoothed(curve, 3), [2, 2, 8 / 3, 16 / 3, 7])
    np.testing.assert_allclose(training_length.smoothed(curve, 3, centred=False),
                               [4, 2, 2, 8 / 3, 16 / 3])


def test_choice_is_the_epoch_of_the_lowest_smoothed_held_out_error():
    # a single lucky epoch (0.10 at epoch 2) loses to a low stretch (epochs 5-7)
    errors = [0.30, 0.10, 0.30, 0.20, 0.15, 0.14, 0.15, 0.25, 0.30, 0.30]
    labels = [np.array([[0, 1, -1], [1, 0, 0]])]

    def train(train_labels, held, max_epochs, stop):
        assert max_epochs == 50
        assert sum(int((h >= 0).sum()) for h in held) > 0
        return [{"val_error": e, "val_loss": 2 * e} for e in errors]

    choice = training_length.choose_epochs(labels, train, 3, np.random.RandomState(0),
                                           max_epochs=50, patience=3)
    assert choice.epochs == 6
    assert choice.val_error == tuple(errors) and choice.val_loss == tuple(2 * e for e in errors)
    assert int(np.argmin(errors)) + 1 == 2     # what the raw curve would have chosen


def test_stop_rule_waits_patience_epochs_after_the_trailing_minimum():
    stop = training_length.stop_after(3)
    history = []
    for e in [0.5, 0.4, 0.3, 0.3, 0.35, 0.4, 0.45, 0.5, 0.5, 0.5]:
        history.append({"val_error": e})
        trail = training_length.smoothed([r["val_error"] for r in history], centred=False)
        assert stop(history) == (len(trail) - 1 - int(np.argmin(trail)) >= 3)
    assert not stop(history[:4]) and stop(history)


def test_too_few_labels_are_refused():
    with pytest.raises(ValueError, match="at least 2 labeled"):
        training_length.choose_epochs([np.array([[0, -1]])], None, 3, np.random.RandomState(0))


def _noise_split(n_images):
    """Random 8 x 9 x 3 maps, random labels, and half of each image's labels held out."""
    rng = np.random.RandomState(0)
    maps = [rng.standard_normal((8, 9, 3)).astype(np.float32) for _ in range(n_images)]
    labels = [rng.randint(0, 2, (8, 9)) for _ in maps]
    held = [np.where(rng.random_sample((8, 9)) < 0.5, lab, -1) for lab in labels]
    train = [np.where(h >= 0, -1, lab) for lab, h in zip(labels, held)]
    return maps, train, held


def test_trainer_records_the_held_out_loss_and_error_and_stops_when_told():
    maps, train, held = _noise_split(3)
    clf = make_stage("ldnn", 2, n_groups=4, n_disc=4)
    seen = []

    def stop(history):
        seen.append(len(history))
        return len(history) == 7

    hist = train_stage(clf, maps, train, epochs=200, batch_images=1, learning_rate=0.05,
                       validation=held, stop=stop, rng=np.random.RandomState(0))
    assert len(hist) == 7 and seen == list(range(1, 8))
    # the recorded values are those of the held-out rows under the final weights
    rows = np.concatenate([m.reshape(-1, 3)[h.reshape(-1) >= 0] for m, h in zip(maps, held)])
    y = np.concatenate([h.reshape(-1)[h.reshape(-1) >= 0] for h in held])
    P = clf.predict_proba(rows)
    p = P[np.arange(len(y)), y]
    assert hist[-1]["val_loss"] == pytest.approx(float(-np.log(np.maximum(p, 1e-6)).mean()),
                                                 rel=1e-5)
    assert hist[-1]["val_error"] == pytest.approx(float(np.mean(P.argmax(axis=1) != y)))


def test_the_held_out_labels_are_never_trained_on():
    maps, train, held = _noise_split(2)
    fits = []
    for other in (held, [np.where(h >= 0, 1 - h, -1) for h in held]):  # flipped held-out classes
        clf = make_stage("ldnn", 2, n_groups=2, n_disc=2)
        train_stage(clf, maps, train, epochs=5, batch_images=1, validation=other,
                    rng=np.random.RandomState(0))
        fits.append([p.copy() for p in clf.params_])
    for a, b in zip(*fits):
        np.testing.assert_array_equal(a, b)


def test_auto_chm_records_the_choice_and_trains_every_unit_that_long(data):
    images, _, labels = data
    model = small().fit(images, labels)
    choice = model.epoch_search_
    assert isinstance(choice, training_length.EpochChoice)
    assert model.epochs_ == choice.epochs
    assert choice.epochs == int(np.argmin(training_length.smoothed(choice.val_error))) + 1
    assert len(choice.val_error) == len(choice.val_loss) <= training_length.MAX_EPOCHS


def test_the_auto_model_equals_the_model_of_the_chosen_length(data):
    images, _, labels = data
    auto = small().fit(images, labels)
    fixed = small(epochs=auto.epochs_).fit(images, labels)
    assert fixed.epoch_search_ is None and fixed.epochs_ == auto.epochs_
    for a, b in zip(auto.predict_proba(images), fixed.predict_proba(images)):
        np.testing.assert_array_equal(a, b)


def test_auto_length_with_a_penalty_and_out_of_fold_context(data):
    images, masks, labels = data
    model = small(tv_weight=0.1, context_cv=2).fit(images, labels)
    assert model.epochs_ >= 1
    assert model.score(images, masks) > 0.7


def test_auto_model_round_trips_through_a_file(data, tmp_path):
    images, _, labels = data
    model = small().fit(images, labels)
    model.save(tmp_path / "m.chm")
    back = chm.load(tmp_path / "m.chm")
    assert back.epochs_ == model.epochs_ and back.epoch_search_ == model.epoch_search_


@pytest.mark.parametrize("bad", ["often", -1, 1.5])
def test_bad_epochs_are_named(data, bad):
    images, _, labels = data
    with pytest.raises(ValueError, match="epochs"):
        small(epochs=bad).fit(images, labels)
