"""Tests of the method registries of the table benchmarks (benchmarks/_methods.py)."""

import pytest

from .helpers import benchmark_module


@pytest.fixture(scope="module")
def methods():
    with benchmark_module("_methods") as module:
        yield module


def test_unknown_method_is_rejected_with_the_known_ones(methods):
    with pytest.raises(ValueError) as err:
        methods.WEIZMANN_METHODS["supervised+crf"]
    message = str(err.value)
    assert "unknown Table 1 method 'supervised+crf'" in message
    assert ("known methods: supervised, supervised+mrf, supervised+l2, tv, tv+mrf, potts, potts-2, "
            "potts+mrf, forest, dense" in message)
    with pytest.raises(ValueError, match="unknown Table 2 method 'svm'; known methods: supervised, "
                                         "supervised\\+mrf, tv, dense, chm-supervised"):
        methods.STANFORD_METHODS["svm"]


def test_registry_order_backends_and_hosts(methods):
    t1, t2 = methods.WEIZMANN_METHODS, methods.STANFORD_METHODS
    assert t1.names() == ("supervised", "supervised+mrf", "supervised+l2", "tv", "tv+mrf", "potts",
                          "potts-2", "potts+mrf", "forest", "dense")
    assert t2.names("convnet") == ("supervised", "supervised+mrf", "tv", "dense")
    assert t2.names("chm") == ("chm-supervised", "chm-supervised+mrf", "chm-tv")
    assert t2.names("forest") == ("forest",)
    assert t1.hosts() == {"supervised+mrf": "supervised", "tv+mrf": "tv"}
    assert t2.hosts() == {"supervised+mrf": "supervised", "chm-supervised+mrf": "chm-supervised"}
    assert t1["dense"].dense and not t1["supervised"].dense
    assert "tv" in t1 and "chm-tv" not in t1 and len(t2) == 8


def test_a_name_is_registered_once(methods):
    registry = methods.MethodRegistry("Table X")
    registry.add("a", "A", methods.forest_model, backend="forest")
    with pytest.raises(ValueError, match="Table X already has a method 'a'"):
        registry.add("a", "A again", methods.forest_model)


def test_factories_build_the_configured_models(methods):
    config = {"chm_params": {"epochs": 3, "tv_weight": 0.5}, "l2": 0.01, "threads": 1,
              "feature_cache": "/tmp/cache"}
    t1 = methods.WEIZMANN_METHODS
    l2 = t1["supervised+l2"].build(config, 7)
    assert (l2.tv_weight, l2.weight_decay, l2.epochs, l2.random_state, l2.n_jobs, l2.memory) == \
        (0.0, 0.01, 3, 7, 1, "/tmp/cache")
    assert t1["tv"].build(config, 7).tv_weight == 0.5  # the shared parameters win over defaults
    assert t1["supervised+mrf"].build(config, 7).tv_weight == 0.0
    assert t1["supervised+l2"].info(l2) == {"tv_weight": 0.0, "weight_decay": 0.01}
    forest = t1["forest"].build(config, 7)
    assert type(forest).__name__ == "ForestSegmenter" and forest.random_state == 7
    assert t1.settings("supervised+l2", config) == {"chm_params": config["chm_params"], "l2": 0.01}
    assert t1.settings("forest", config) == {}


def test_potts_factories_wrap_the_supervised_chm(methods):
    config = {"chm_params": {"epochs": 3}, "threads": 1, "mrf_cv_images": 4}
    t1 = methods.WEIZMANN_METHODS
    potts = t1["potts"].build(config, 7)
    assert type(potts).__name__ == "ProposalSegmenter"
    assert (potts.rounds, potts.smooth, potts.cv_images, potts.random_state) == (1, False, 4, 7)
    assert (potts.estimator.tv_weight, potts.estimator.epochs) == (0.0, 3)
    assert t1["potts-2"].build(config, 7).rounds == 2 and t1["potts+mrf"].build(config, 7).smooth
    potts.weight_, potts.n_proposals_ = 0.0, []  # the plain fit kept: no proposals
    assert t1["potts"].info(potts) == {"potts_lambda": 0.0, "n_proposals": 0}
    potts.weight_, potts.n_proposals_ = 1.5, [100, 98]
    assert t1["potts"].info(potts) == {"potts_lambda": 1.5, "n_proposals": 98}


def test_convnet_factory_records_fit_time(methods):
    pytest.importorskip("torch")
    config = {"convnet_params": {"width": 4, "n_jobs": 2}, "threads": 1}
    net = methods.STANFORD_METHODS["supervised"].build(config, 3)
    assert (net.width, net.n_jobs, net.tv_weight, net.random_state) == (4, 2, 0.0, 3)
    assert type(net).__name__ == "ConvNetSegmenter"
    assert methods.with_fit_time(type(net).__mro__[1]) is type(net)


def test_dense_reference_runs_the_configured_number_of_stages(methods):
    dense = methods.WEIZMANN_METHODS["dense"]
    two = dense.build({"chm_params": {"epochs": 3}, "dense_stages": 2}, 5)
    assert (two.tv_weight, two.n_stages, two.later_stages, two.epochs) == (0.0, 2, "top_down", 3)
    one = dense.build({"chm_params": {}, "dense_stages": 1}, 5)
    assert (one.n_stages, one.later_stages) == (1, "hierarchy")
    assert methods.WEIZMANN_METHODS.settings("dense", {"chm_params": {}, "dense_stages": 2}) == \
        {"chm_params": {}, "dense_stages": 2}
