import numpy as np
import pytest

from features import ContextFilter

from .helpers import at, edge_index, reflect_index


def test_default_stencil_and_names():
    f = ContextFilter()
    assert f.radii == (1, 2, 4, 8, 16)
    assert f.n_features == len(f.names) == 41
    assert f.names[0] == "ctx0_+0_+0" and "ctx0_-16_+16" in f.names
    assert len(set(f.names)) == 41
    assert np.abs(f.offsets).max() == 16


def test_context_on_2d_map_matches_edge_indexing(rng):
    probs = rng.random((7, 9)).astype(np.float32)
    f = ContextFilter(radii=(1, 4, 16))
    out = f(probs)
    assert out.shape == (7, 9, 25) and out.dtype == np.float32
    for i, (dy, dx) in enumerate(f.offsets):
        for y in range(7):
            for x in range(9):
                assert out[y, x, i] == at(probs, y + dy, x + dx, edge_index)
    np.testing.assert_array_equal(out[..., 0], probs)


def test_context_on_multichannel_map_is_channel_major(rng):
    probs = rng.random((6, 8, 3)).astype(np.float32)
    f = ContextFilter(radii=(2,), n_channels=3, mode="reflect", prefix="lvl1_")
    n = len(f.offsets)
    assert n == 9 and f.n_features == 27
    assert f.names[n] == "lvl1_1_+0_+0"
    out = f(probs)
    assert out.shape == (6, 8, 27)
    for c in range(3):
        single = ContextFilter(radii=(2,), mode="reflect")(probs[..., c])
        np.testing.assert_array_equal(out[..., c * n:(c + 1) * n], single)
        for i, (dy, dx) in enumerate(f.offsets):
            assert out[5, 0, c * n + i] == at(probs[..., c], 5 + dy, dx, reflect_index)


@pytest.mark.parametrize("mode, index", [("edge", edge_index), ("reflect", reflect_index)])
def test_context_average_is_box_mean_around_the_sample(rng, mode, index):
    probs = rng.random((7, 9)).astype(np.float32)
    f = ContextFilter(radii=(1, 2, 4, 8), average=True, mode=mode)
    out = f(probs)
    plain = ContextFilter(radii=(1, 2, 4, 8), mode=mode)(probs)
    rings = [0] + [r for r in (1, 2, 4, 8) for _ in range(8)]
    for i, (dy, dx) in enumerate(f.offsets):
        k = rings[i] // 2  # window 2 * (r // 2) + 1
        for y in range(7):
            for x in range(9):
                window = [at(probs, y + dy + u, x + dx + v, index) for u in range(-k, k + 1) for v in range(-k, k + 1)]
                assert out[y, x, i] == pytest.approx(np.mean(window), abs=1e-5)
    # radius 1 and the centre are not averaged
    np.testing.assert_array_equal(out[..., :9], plain[..., :9])
    assert not np.allclose(out[..., 9:], plain[..., 9:])


def test_context_channel_mismatch_and_bad_shapes(rng):
    with pytest.raises(ValueError, match="n_channels=3"):
        ContextFilter()(rng.random((5, 5, 3)))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        ContextFilter()(rng.random(5))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        ContextFilter()(rng.random((2, 5, 5, 1)))
    with pytest.raises(ValueError):
        ContextFilter(n_channels=0)
    with pytest.raises(ValueError, match="mode"):
        ContextFilter(mode="wrap")
