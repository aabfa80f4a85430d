"""Simulated brush strokes and suggested labels (chm.labeling)."""
import doctest

import numpy as np
import pytest
from scipy import ndimage as ndi

import chm.labeling
from chm.baselines import ForestSegmenter
from chm.datasets import sample_sparse_labels
from chm.labeling import (Suggestions, simulate_strokes, suggest_from_proba, suggest_labels,
                          suggestion_layer, uncertainty)
from chm.synthetic import make_shapes, make_thin_structures

EIGHT = np.ones((3, 3), bool)


def test_doctests():
    assert doctest.testmod(chm.labeling).failed == 0


def _halves(h=60, w=120):
    mask = np.zeros((h, w), np.int64)
    mask[:, w // 2:] = 1
    return mask


def _n_components(region):
    return ndi.label(region, structure=EIGHT)[1]


# ------------------------------------------------------------------ strokes
@pytest.mark.parametrize("width, margin", [(1, 0), (3, 2), (4, 1), (5, 3)])
def test_stroke_pixels_inside_their_class_beyond_the_margin(width, margin):
    _, masks = make_shapes(n_images=3, shape=(64, 80), random_state=1)
    masks.append(_halves())
    labels, strokes = simulate_strokes(masks, n_strokes=2, length=20, width=width,
                                       margin=margin, return_strokes=True, random_state=0)
    assert strokes
    for s in strokes:
        mask = masks[s.image]
        rows, cols = s.pixels.T
        assert np.all(mask[rows, cols] == s.label)
        assert np.all(labels[s.image][rows, cols] == s.label)
        if not s.fallback:
            depth = ndi.distance_transform_edt(mask == s.label)
            assert depth[rows, cols].min() > margin
    for mask, lab in zip(masks, labels):
        painted = lab >= 0
        np.testing.assert_array_equal(lab[painted], mask[painted])
    # every painted pixel belongs to a recorded stroke, and only those
    for index, lab in enumerate(labels):
        union = np.zeros(lab.shape, bool)
        for s in strokes:
            if s.image == index:
                union[s.pixels[:, 0], s.pixels[:, 1]] = True
        np.testing.assert_array_equal(union, lab >= 0)


def test_requested_number_of_strokes_per_class():
    _, masks = make_shapes(n_images=2, shape=(80, 96), random_state=2)
    masks.append(_halves())
    labels, strokes = simulate_strokes(masks, n_strokes=3, length=15, width=3, margin=1,
                                       return_strokes=True, random_state=0)
    for index, (mask, lab) in enumerate(zip(masks, labels)):
        for value in np.unique(mask):
            # strokes of a class never touch: one 8-connected component each
            assert _n_components(lab == value) == 3
            assert sum(s.image == index and s.label == value for s in strokes) == 3


def test_stroke_lengths_and_smooth_centre_lines():
    masks = [_halves(80, 160)] * 2
    _, strokes = simulate_strokes(masks, n_strokes=2, length=40, width=3, margin=2,
                                  return_strokes=True, random_state=0)
    assert len(strokes) == 8
    for s in strokes:
        assert not s.fallback
        assert s.length == pytest.approx(40, abs=1)
        steps = np.linalg.norm(np.diff(s.path, axis=0), axis=1)
        np.testing.assert_allclose(steps, 1.0)  # unit steps along the centre line
        assert steps.sum() == pytest.approx(s.length)
        # a 3-pixel brush along 40 px paints about 3 x 40 pixels: fewer where it bends, up to
        # sqrt(2) times more on a diagonal (the brush is a 3 x 3 square)
        assert 0.6 * 40 * 3 <= len(s.pixels) <= (40 + 3) * 3 * np.sqrt(2)
        # smooth: it does not fold back onto itself in a wide region
        extent = np.linalg.norm(s.path[-1] - s.path[0])
        assert extent > 10


def test_same_seed_same_strokes():
    _, masks = make_shapes(n_images=2, shape=(48, 64), random_state=0)
    a = simulate_strokes(masks, n_strokes=2, length=20, random_state=7)
    b = simulate_strokes(masks, n_strokes=2, length=20, random_state=7)
    c = simulate_strokes(masks, n_strokes=2, length=20, random_state=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))


def test_classes_absent_from_an_image_get_no_stroke():
    first = np.zeros((40, 90), np.int64)
    first[:, 30:60] = 1
    first[:, 60:] = 2
    second = np.zeros((40, 90), np.int64)
    second[:, 45:] = 2
    labels, strokes = simulate_strokes([first, second], n_strokes=1, length=10,
                                       return_strokes=True, random_state=0)
    assert set(np.unique(labels[0]).tolist()) == {-1, 0, 1, 2}
    assert set(np.unique(labels[1]).tolist()) == {-1, 0, 2}
    assert sorted((s.image, s.label) for s in strokes) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)]


def test_thin_region_falls_back_to_its_medial_axis():
    mask = np.zeros((40, 80), np.int64)
    mask[19:21, 5:75] = 1  # 2 pixels wide: no room for a 3-pixel brush 2 pixels in
    labels, strokes = simulate_strokes([mask], n_strokes=1, length=30, width=3, margin=2,
                                       return_strokes=True, random_state=0)
    (line,) = [s for s in strokes if s.label == 1]
    (background,) = [s for s in strokes if s.label == 0]
    assert line.fallback and not background.fallback
    rows, cols = line.pixels.T
    assert np.all(mask[rows, cols] == 1)
    assert len(np.unique(cols)) == len(cols)  # one pixel across
    assert 30 <= line.length < 30 + np.sqrt(2)
    assert _n_components(labels[0] == 1) == 1


def test_unknown_pixels_count_as_boundary_and_stay_unlabeled():
    mask = _halves(60, 120)
    mask[25:35, 10:50] = -1
    labels = simulate_strokes([mask] * 3, n_strokes=2, length=30, width=3, margin=3,
                              random_state=0)
    near_unknown = ndi.distance_transform_edt(mask != -1) <= 3
    for lab in labels:
        assert not np.any(lab[mask == -1] >= 0)
        assert not np.any(lab[near_unknown] >= 0)


def test_per_component_paints_every_component():
    mask = np.zeros((40, 120), np.int64)
    for c0 in (5, 45, 85):
        mask[8:32, c0:c0 + 30] = 1
    labels, strokes = simulate_strokes([mask], n_strokes=1, length=12, width=3, margin=1,
                                       per_component=True, return_strokes=True, random_state=0)
    components, _ = ndi.label(mask == 1, structure=EIGHT)
    hit = sorted({int(components[tuple(s.pixels[0])]) for s in strokes if s.label == 1})
    assert hit == [1, 2, 3]
    assert _n_components(labels[0] == 1) == 3
    whole = simulate_strokes([mask], n_strokes=1, length=12, width=3, margin=1, random_state=0)
    assert _n_components(whole[0] == 1) == 1


def test_strokes_on_thin_structures():
    _, masks = make_thin_structures(3, (96, 96), random_state=0)
    labels, strokes = simulate_strokes(masks, n_strokes=2, length=30, width=3, margin=2,
                                       return_strokes=True, random_state=0)
    for mask, lab in zip(masks, labels):
        for value in (0, 1):
            assert _n_components(lab == value) == 2
        np.testing.assert_array_equal(lab[lab >= 0], mask[lab >= 0])
    walls = [s for s in strokes if s.label == 1]
    cells = [s for s in strokes if s.label == 0]
    assert len(walls) == len(cells) == 6
    assert all(s.fallback for s in walls) and not any(s.fallback for s in cells)
    assert all(s.length >= 15 for s in walls)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_strokes": 0}, "n_strokes"), ({"length": -1}, "length"), ({"width": 0}, "width"),
    ({"width": 2.5}, "width"), ({"margin": -1}, "margin"), ({"per_component": 1}, "per_component"),
])
def test_strokes_reject_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        simulate_strokes([_halves()], **kwargs)


def test_strokes_reject_bad_masks():
    with pytest.raises(ValueError, match="-1"):
        simulate_strokes([np.full((8, 8), -2)])


# -------------------------------------------------------------- suggestions
def test_uncertainty_measures():
    proba = np.array([[[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1]]])
    np.testing.assert_allclose(uncertainty(proba), [[0.0, 1.0, 0.7]], atol=1e-6)
    entropy = -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1)) / np.log(3)
    np.testing.assert_allclose(uncertainty(proba, "entropy"), [[0.0, 1.0, entropy]], atol=1e-6)
    np.testing.assert_allclose(uncertainty(proba, "least_confident"), [[0.0, 1.0, 0.6]],
                               atol=1e-6)
    assert uncertainty(proba).dtype == np.float32
    with pytest.raises(ValueError, match="measure"):
        uncertainty(proba, "variance")


def _random_proba(rng, n=2, shape=(40, 50), classes=3):
    p = rng.rand(n, *shape, classes).astype(np.float32)
    return p / p.sum(axis=-1, keepdims=True)


def test_suggestions_valid_never_labeled_and_spread():
    rng = np.random.RandomState(0)
    proba = _random_proba(rng)
    labels = np.where(rng.rand(2, 40, 50) < 0.3, rng.randint(0, 3, (2, 40, 50)), -1)
    found = suggest_from_proba(proba, 12, labels=labels, min_distance=6, label_distance=0,
                               random_state=0)
    assert len(found) == 2
    for s, lab, p in zip(found, labels, proba):
        assert isinstance(s, Suggestions)
        assert s.rows.dtype == s.cols.dtype == np.int64 and s.uncertainty.dtype == np.float32
        assert len(s.rows) == 12
        assert s.rows.min() >= 0 and s.rows.max() < 40 and s.cols.min() >= 0 and s.cols.max() < 50
        assert np.all(lab[s.rows, s.cols] == -1)
        points = s.points.astype(float)
        gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
        assert gaps[np.triu_indices(len(points), 1)].min() >= 6
        np.testing.assert_array_equal(s.uncertainty, uncertainty(p)[s.rows, s.cols])
        assert np.all(np.diff(s.uncertainty) <= 0)  # most uncertain first


def test_suggestions_keep_label_distance_from_labeled_pixels():
    proba = np.full((1, 40, 40, 2), 0.5, np.float32)  # equally unsure everywhere
    labels = np.full((1, 40, 40), -1)
    labels[0, 20, 20] = 1
    labels[0, 5, 30] = 0
    labeled = np.argwhere(labels[0] >= 0)
    for distance, expected in [(None, 8), (12, 12), (0, 1)]:
        (s,) = suggest_from_proba(proba, 10, labels=labels, min_distance=8,
                                  label_distance=distance, random_state=0)
        assert len(s.rows) == 10
        gaps = np.linalg.norm(s.points[:, None].astype(float) - labeled[None], axis=-1)
        assert gaps.min() >= expected
    with pytest.raises(ValueError, match="label_distance"):
        suggest_from_proba(proba, 3, labels=labels, label_distance=-1)


def test_no_room_far_from_labels_falls_back_to_unlabeled_pixels():
    proba = np.full((1, 40, 40, 2), 0.5, np.float32)
    proba[0, :, :20, 0] = 0.9  # the left half is sure
    proba[..., 1] = 1 - proba[..., 0]
    labels = np.full((1, 40, 40), -1)
    labels[0, ::6, ::6] = 1  # a grid over the image: no pixel 8 px from a label
    (s,) = suggest_from_proba(proba, 6, labels=labels, min_distance=5, random_state=0)
    assert len(s.rows) == 6 and np.all(labels[0][s.rows, s.cols] == -1)
    assert np.all(s.cols >= 20)  # still the unsure pixels first
    gaps = np.linalg.norm(s.points[:, None].astype(float) - s.points[None], axis=-1)
    assert gaps[np.triu_indices(6, 1)].min() >= 5
    labels[0, :, :20] = -1  # the sure half now has room far from the labels: used first
    (s,) = suggest_from_proba(proba, 6, labels=labels, min_distance=5, random_state=0)
    labeled = np.argwhere(labels[0] >= 0)
    assert np.linalg.norm(s.points[:, None].astype(float) - labeled[None], axis=-1).min() >= 5


def test_smoothing_prefers_broad_uncertain_regions_to_thin_boundaries():
    proba = np.zeros((1, 48, 48, 2), np.float32)
    proba[..., 0] = 1.0
    proba[0, :, 6, 0] = 0.5  # a crisp predicted boundary: one column at full uncertainty
    proba[0, 20:36, 24:40, 0] = 0.65  # a broad region the model dithers over
    proba[..., 1] = 1 - proba[..., 0]
    (raw,) = suggest_from_proba(proba, 3, min_distance=4, random_state=0)
    assert np.all(raw.cols == 6)
    (smoothed,) = suggest_from_proba(proba, 3, min_distance=4, smooth=3, random_state=0)
    assert np.all((smoothed.rows >= 20) & (smoothed.rows < 36))
    assert np.all((smoothed.cols >= 24) & (smoothed.cols < 40))
    np.testing.assert_allclose(
        smoothed.uncertainty,
        ndi.gaussian_filter(uncertainty(proba[0]), 3, mode="nearest")[smoothed.rows,
                                                                       smoothed.cols],
        rtol=1e-6)
    assert np.all(np.diff(smoothed.uncertainty) <= 0)
    with pytest.raises(ValueError, match="smooth"):
        suggest_from_proba(proba, 3, smooth=-1)


def test_greedy_picks_the_most_uncertain_available_pixel():
    rng = np.random.RandomState(1)
    (p,) = _random_proba(rng, n=1)
    (s,) = suggest_from_proba([p], 5, min_distance=0, random_state=0)
    u = uncertainty(p).ravel()
    np.testing.assert_array_equal(np.sort(s.rows * 50 + s.cols), np.sort(np.argsort(-u)[:5]))


def test_same_seed_same_suggestions_and_seed_breaks_ties():
    flat = np.full((1, 30, 30, 2), 0.5, np.float32)  # every pixel equally uncertain
    a = suggest_from_proba(flat, 10, min_distance=5, random_state=3)[0]
    b = suggest_from_proba(flat, 10, min_distance=5, random_state=3)[0]
    c = suggest_from_proba(flat, 10, min_distance=5, random_state=4)[0]
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)


def test_suggestions_spread_along_one_uncertain_boundary():
    proba = np.zeros((1, 64, 64, 2), np.float32)
    proba[..., 0] = 0.99
    proba[:, :, 30:33, 0] = 0.5  # the model is unsure on one vertical boundary only
    proba[..., 1] = 1 - proba[..., 0]
    (s,) = suggest_from_proba(proba, 4, min_distance=10, random_state=0)
    assert np.all((s.cols >= 30) & (s.cols < 33))
    assert np.diff(np.sort(s.rows)).min() >= 10 - 2  # spread along it, not piled up
    (more,) = suggest_from_proba(proba, 12, min_distance=10, random_state=0)
    off = (more.cols < 30) | (more.cols >= 33)  # the boundary holds at most 7 picks 10 apart
    assert 5 <= np.sum(~off) <= 7 and np.all(more.uncertainty[off] < 0.05)
    (dense,) = suggest_from_proba(proba, 6, min_distance=0, random_state=0)
    assert np.all((dense.cols >= 30) & (dense.cols < 33))


class _HalfSure:
    """A model sure of the right half of every image and unsure of the left."""

    def predict_proba(self, images):
        out = []
        for k, image in enumerate(images):
            h, w = image.shape[:2]
            rng = np.random.RandomState(k)
            first = np.where(np.arange(w) < w // 2, rng.uniform(0.4, 0.6, (h, w)), 0.98)
            out.append(np.stack([first, 1 - first], axis=-1).astype(np.float32))
        return out


def test_suggestions_fall_where_the_model_is_unsure():
    images = [np.zeros((32, 40), np.float32)] * 2
    for s in suggest_labels(_HalfSure(), images, 8, min_distance=4, random_state=0):
        assert len(s.rows) == 8 and np.all(s.cols < 20)


def test_forest_suggestions_lie_on_class_boundaries():
    images, masks = make_shapes(n_images=2, shape=(48, 48), random_state=0)
    labels = sample_sparse_labels(masks, 40, random_state=0)
    model = ForestSegmenter(n_estimators=10, random_state=0).fit(images, labels)
    found = suggest_labels(model, images, 10, labels=labels, min_distance=4, random_state=0)
    for s, mask, lab in zip(found, masks, labels):
        edge = np.zeros(mask.shape, bool)
        edge[:-1] |= mask[:-1] != mask[1:]
        edge[1:] |= mask[:-1] != mask[1:]
        edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
        edge[:, 1:] |= mask[:, :-1] != mask[:, 1:]
        to_edge = ndi.distance_transform_edt(~edge)
        assert to_edge[s.rows, s.cols].mean() < 1.5 < 4 < to_edge[lab == -1].mean()
        assert np.all(lab[s.rows, s.cols] == -1)


def test_fewer_suggestions_when_the_image_runs_out():
    proba = np.full((1, 10, 10, 2), 0.5, np.float32)
    assert len(suggest_from_proba(proba, 5, min_distance=20, random_state=0)[0].rows) == 1
    everything = np.zeros((1, 10, 10), np.int64)
    assert len(suggest_from_proba(proba, 5, labels=everything, random_state=0)[0].rows) == 0


def test_suggestions_reject_bad_input():
    proba = np.full((1, 10, 10, 2), 0.5, np.float32)
    with pytest.raises(ValueError, match="list"):
        suggest_from_proba(proba[0], 3)
    with pytest.raises(ValueError, match="shape"):
        suggest_from_proba(proba, 3, labels=[np.zeros((9, 10), int)])
    with pytest.raises(ValueError, match="n_per_image"):
        suggest_from_proba(proba, 0)
    with pytest.raises(ValueError, match="min_distance"):
        suggest_from_proba(proba, 3, min_distance=-1)
    with pytest.raises(ValueError, match="model"):
        suggest_labels(object(), [np.zeros((10, 10))], 3)


def test_suggestion_layer():
    s = Suggestions(np.array([0, 5]), np.array([1, 6]), np.array([1.0, 0.5], np.float32))
    layer = suggestion_layer(s, (8, 9))
    assert layer.dtype == np.uint8 and layer.shape == (8, 9)
    np.testing.assert_array_equal(np.argwhere(layer == 1), [[0, 1], [5, 6]])
    assert layer.sum() == 2
    dots = suggestion_layer(s, (8, 9), radius=2)
    assert dots[5, 6] == dots[4, 6] == dots[5, 7] == 1 and dots[3, 6] == 0  # distance < 2
    assert dots[0, 0] == dots[1, 1] == 1 and dots.max() == 1
    with pytest.raises(ValueError, match="outside"):
        suggestion_layer(s, (5, 9))
