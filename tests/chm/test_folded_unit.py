import numpy as np
import pytest

import chm
from chm.classifiers import make_stage
from chm.datasets import sample_sparse_labels
from chm.folded_unit import FoldedUnit
from chm.plan import Unit, build_plan
from chm.synthetic import make_shapes
from features import FeatureNormalizer


def _unit(kind, n_classes, n_folds, rng, n_feat=7, n_ctx=5):
    X = (rng.standard_normal((400, n_feat + n_ctx)) * rng.uniform(0.1, 3, n_feat + n_ctx)
         + rng.uniform(-2, 2, n_feat + n_ctx)).astype(np.float32)
    X[:, n_feat:] = rng.random((400, n_ctx))  # context columns are probabilities
    y = rng.integers(0, n_classes, 400)
    norm = FeatureNormalizer().fit(X)
    legacy = np.random.RandomState(0)

    def stage():
        clf = make_stage(kind, n_classes, n_groups=3, n_disc=2).init_params(norm.transform(X), y, legacy)
        clf.params_ = [p + rng.standard_normal(p.shape).astype(np.float32) * 0.5 for p in clf.params_]
        return clf

    spec = build_plan(1, 1, set()).units[0]
    return Unit(spec, norm, stage(), [stage() for _ in range(n_folds)]), X


@pytest.mark.parametrize("kind", ["ldnn", "logistic"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("average", [False, True])
def test_folded_unit_matches_the_unit_on_normalised_rows(kind, n_classes, average):
    rng = np.random.default_rng(0)
    unit, X = _unit(kind, n_classes, n_folds=3, rng=rng)
    folded = FoldedUnit(unit, average, n_features=7)
    assert folded.applies(float(np.abs(X[:, :7]).max()))
    expected = unit.predict_proba(unit.normalizer.transform(X), average_folds=average)
    got = folded.predict_proba(np.ascontiguousarray(X[:, :7]), np.ascontiguousarray(X[:, 7:]))
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert len(folded.classifiers) == (4 if average else 1)


def test_folded_unit_without_context_columns():
    rng = np.random.default_rng(1)
    unit, X = _unit("ldnn", 2, n_folds=0, rng=rng, n_feat=6, n_ctx=0)
    folded = FoldedUnit(unit, True, n_features=6)
    np.testing.assert_allclose(folded.predict_proba(X, X[:, 6:]),
                               unit.predict_proba(unit.normalizer.transform(X)), atol=2e-6)


def test_folded_unit_declines_overflow_and_poorly_centred_inputs():
    rng = np.random.default_rng(2)
    unit, X = _unit("ldnn", 2, n_folds=0, rng=rng)
    folded = FoldedUnit(unit, False, n_features=7)
    assert folded.applies(10.0)
    assert not folded.applies(3e38)   # beyond float32 once centred
    assert not folded.applies(1e20)   # normalised values beyond STANDARD_MAX
    unit.normalizer.mean_[2] = 1e4 * unit.normalizer.scale_[2]  # mean 1e4 scales from 0
    assert not FoldedUnit(unit, False, n_features=7).applies(10.0)


def test_chm_prediction_folded_equals_normalised_rows(monkeypatch):
    """The CHM's prediction through folded units equals the unfolded one, to rounding."""
    X, y = make_shapes(n_images=4, shape=(48, 48), n_classes=3, random_state=0)
    labels = sample_sparse_labels(y, 30, random_state=0)
    model = chm.CHM(n_levels=2, epochs=2, context_cv=2, average_folds=True,
                    learned_filters=0, random_state=0).fit(X, labels)
    folded = model.predict_proba(X)
    calls = []
    original = FoldedUnit.applies
    monkeypatch.setattr(FoldedUnit, "applies",
                        lambda self, peak: calls.append(original(self, peak)) or False)
    plain = model.predict_proba(X)
    assert calls and all(calls)  # the folded path was the one taken before
    np.testing.assert_allclose(np.stack(folded), np.stack(plain), atol=1e-5)

