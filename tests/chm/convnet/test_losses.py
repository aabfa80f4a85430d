"""tv_loss_torch against the numpy/numba total variation of chm.penalties."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chm.convnet.losses import SOBEL_X, SOBEL_Y, interpolated_nll, tv_loss_torch  # noqa: E402
from chm.penalties import SOBEL_X as NP_SOBEL_X  # noqa: E402
from chm.penalties import SOBEL_Y as NP_SOBEL_Y  # noqa: E402
from chm.penalties import tv_subgradient, tv_value  # noqa: E402

pytestmark = pytest.mark.convnet


def test_sobel_kernels_match_penalties():
    np.testing.assert_array_equal(np.array(SOBEL_X), NP_SOBEL_X)
    np.testing.assert_array_equal(np.array(SOBEL_Y), NP_SOBEL_Y)


@pytest.mark.parametrize("shape", [(13, 17), (11, 9, 1), (12, 15, 4)])
def test_value_and_gradient_match_penalties(shape):
    rng = np.random.default_rng(sum(shape))
    prob = rng.random(shape).astype(np.float32)
    # penalties works on (H, W) or (H, W, C); torch on (H, W) or (C, H, W)
    t = torch.tensor(prob if prob.ndim == 2 else prob.transpose(2, 0, 1), requires_grad=True)
    value = tv_loss_torch(t, reduction="sum")
    value.backward()
    grad = t.grad.numpy()
    if prob.ndim == 3:
        grad = grad.transpose(1, 2, 0)
    assert value.item() == pytest.approx(tv_value(prob), rel=1e-5)
    # the subgradient is an integer combination of Sobel weights: exact
    np.testing.assert_array_equal(grad, tv_subgradient(prob))


def test_batched_and_reductions():
    rng = np.random.default_rng(1)
    prob = rng.random((3, 2, 10, 12)).astype(np.float32)
    t = torch.from_numpy(prob)
    per_image = tv_loss_torch(t, reduction="none")
    expected = [tv_value(p.transpose(1, 2, 0)) for p in prob]
    np.testing.assert_allclose(per_image.numpy(), expected, rtol=1e-5)
    assert tv_loss_torch(t).item() == pytest.approx(sum(expected), rel=1e-5)
    mean = tv_loss_torch(t, reduction="mean").item()
    assert mean == pytest.approx(sum(expected) / (3 * 8 * 10), rel=1e-5)


def test_constant_and_small_maps_have_zero_tv():
    const = torch.full((2, 6, 7), 0.5, requires_grad=True)
    value = tv_loss_torch(const)
    value.backward()
    assert value.item() == 0.0
    assert torch.count_nonzero(const.grad) == 0
    assert tv_loss_torch(torch.rand(2, 5)).item() == 0.0
    assert tv_loss_torch(torch.rand(1, 3, 2, 5), reduction="mean").item() == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="reduction"):
        tv_loss_torch(torch.rand(4, 4), reduction="max")
    with pytest.raises(ValueError, match="shape"):
        tv_loss_torch(torch.rand(4))
    with pytest.raises(TypeError):
        tv_loss_torch(np.ones((4, 4)))


def test_interpolated_nll_is_cross_entropy_with_unit_weights():
    logits = torch.randn(6, 3)
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    log_prob = torch.log_softmax(logits, dim=1)
    corners = log_prob.gather(1, target[:, None]).repeat(1, 4)
    weights = torch.zeros(6, 4)
    weights[:, 0] = 1.0
    expected = torch.nn.functional.cross_entropy(logits, target)
    assert interpolated_nll(corners, weights).item() == pytest.approx(expected.item(), rel=1e-6)
    # mixing corners interpolates probabilities, not log-probabilities
    w = torch.full((6, 4), 0.25)
    mixed = torch.stack([log_prob[:, k] for k in (0, 1, 2, 0)], dim=1)
    p = (w * mixed.exp()).sum(dim=1)
    assert interpolated_nll(mixed, w).item() == pytest.approx(-p.log().mean().item(), rel=1e-6)


@pytest.mark.parametrize("channels", [2, 3])
def test_penalty_loss_torch_carries_any_penalty(channels):
    """The bridge gives the penalty's own value, and its gradient on the map it penalises."""
    from chm.classifiers.sgd import penalty_map
    from chm.convnet.losses import penalty_loss_torch
    from chm.penalties import QuadraticVariation

    rng = np.random.default_rng(channels)
    prob = rng.random((channels, 9, 11)).astype(np.float32)
    t = torch.tensor(prob, requires_grad=True)
    value = penalty_loss_torch(t, QuadraticVariation())
    value.backward()
    hwc = prob.transpose(1, 2, 0)
    fmap = penalty_map(hwc.reshape(-1, channels), (9, 11))
    ref_value, ref_grad = QuadraticVariation().value_and_gradient(fmap)
    assert value.item() == pytest.approx(ref_value, rel=1e-6)
    grad = t.grad.numpy()
    if channels == 2:  # the positive-class map only
        np.testing.assert_array_equal(grad[0], 0)
        np.testing.assert_allclose(grad[1], ref_grad, rtol=1e-6)
    else:
        np.testing.assert_allclose(grad.transpose(1, 2, 0), ref_grad, rtol=1e-6)
