"""The methods of the table benchmarks: method name -> how its model is built.

Each table has a :class:`MethodRegistry` (:data:`WEIZMANN_METHODS` for
Table 1, :data:`STANFORD_METHODS` for Table 2); its trial function looks a
method up there instead of branching on the name.  A method's
``build(config, seed)`` makes the unfitted estimator from the table's shared
configuration (the ``_config`` of its trials: ``chm_params``,
``convnet_params``, ``threads``, ``l2``, ``feature_cache``, ...) and the draw
seed, which is the model's ``random_state``.
"""
import time

_TIMED_CLASSES = {}


def with_fit_time(cls):
    """Subclass of estimator class ``cls`` whose ``fit`` records ``fit_time_``.

    ``fit_time_`` is the wall time of the last call to ``fit`` in seconds.
    The subclass takes the same parameters, so it clones like ``cls``
    (e.g. inside :class:`chm.mrf.MRFSegmenter`), and a fit of it gives the
    same model as a fit of ``cls``.  Classes that already record
    ``fit_time_`` can be used as they are; this is for those that do not.
    """
    if cls not in _TIMED_CLASSES:
        def fit(self, *args, **kwargs):
            t0 = time.perf_counter()
            result = cls.fit(self, *args, **kwargs)
            self.fit_time_ = time.perf_counter() - t0
            return result

        _TIMED_CLASSES[cls] = type(cls.__name__, (cls,), {"fit": fit, "__doc__": cls.__doc__})
    return _TIMED_CLASSES[cls]


class Method:
    """One method of a table benchmark.

    Parameters
    ----------
    name : str
        Method name (command line, runs, CSV files).
    title : str
        Display name in the reports.
    build : callable
        ``build(config, seed) -> estimator``, unfitted.
    backend : str
        ``"chm"``, ``"convnet"`` or ``"forest"``: the model family.
    mrf_of : str or None
        For an MRF method, the plain method whose model the Potts MRF
        (:class:`chm.mrf.MRFSegmenter`) smooths; ``build`` builds that plain
        model, and the MRF's final fit also reports the plain method's run
        (:func:`_mrf.mrf_trial`).
    dense : bool
        Trained on dense labels, once per draw (and fold), not per size.
    uses : tuple of str
        Keys of the shared configuration the method's results depend on.
    info : callable or None
        ``info(model) -> dict``: extra result keys of a fitted model.
    """

    def __init__(self, name, title, build, *, backend="chm", mrf_of=None, dense=False, uses=(),
                 info=None):
        self.name = name
        self.title = title
        self.build = build
        self.backend = backend
        self.mrf_of = mrf_of
        self.dense = dense
        self.uses = tuple(uses)
        self.info = info

    def __repr__(self):
        return f"Method({self.name!r})"


class MethodRegistry:
    """The methods of one table, in registration (display) order.

    Parameters
    ----------
    table : str
        Name of the table, for error messages.
    """

    def __init__(self, table):
        self.table = table
        self._methods = {}

    def add(self, name, title, build, **options):
        """Register ``build`` under ``name`` (options: see :class:`Method`); return ``build``."""
        if name in self._methods:
            raise ValueError(f"{self.table} already has a method {name!r}")
        self._methods[name] = Method(name, title, build, **options)
        return build

    def __getitem__(self, name):
        try:
            return self._methods[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.table} method {name!r}; known methods: "
                             f"{', '.join(self._methods)}") from None

    def __contains__(self, name):
        return name in self._methods

    def __iter__(self):
        return iter(self._methods)

    def __len__(self):
        return len(self._methods)

    def names(self, backend=None):
        """Method names in order, all or those of one ``backend``."""
        return tuple(n for n, m in self._methods.items() if backend in (None, m.backend))

    def titles(self):
        """Dict method name -> display name."""
        return {n: m.title for n, m in self._methods.items()}

    def hosts(self):
        """Dict MRF method -> the plain method it also reports."""
        return {n: m.mrf_of for n, m in self._methods.items() if m.mrf_of}

    def settings(self, name, config):
        """The entries of ``config`` that method ``name``'s results depend on."""
        return {key: config.get(key) for key in self[name].uses}


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
def chm_model(config, seed, **override):
    """:class:`chm.CHM` with ``config["chm_params"]`` and ``override``."""
    from chm.estimator import CHM

    params = {**config["chm_params"], **override, "random_state": seed,
              "n_jobs": config.get("threads", 1), "verbose": 0,
              "memory": config.get("feature_cache")}
    return CHM(**params)


def convnet_model(config, seed, **override):
    """:class:`chm.convnet.ConvNetSegmenter` (recording ``fit_time_``) with
    ``config["convnet_params"]`` and ``override``."""
    from chm.convnet import ConvNetSegmenter

    params = {"n_jobs": config["threads"], **config["convnet_params"], **override,
              "random_state": seed, "verbose": 0}
    return with_fit_time(ConvNetSegmenter)(**params)


def forest_model(config, seed):
    """:class:`chm.baselines.ForestSegmenter` with its defaults."""
    from chm.baselines import ForestSegmenter

    return ForestSegmenter(random_state=seed, n_jobs=config.get("threads", 1))


def _chm_supervised(config, seed):
    return chm_model(config, seed, tv_weight=0.0)


def _chm_dense(config, seed):
    """The dense-label reference: supervised CHM, with ``config["dense_stages"]`` stages
    (the original CHM's schedule for 2: a level-0 top-down stage reading every map of the
    first, ``later_stages="top_down"``)."""
    stages = int(config["dense_stages"])
    schedule = {"n_stages": stages, "later_stages": "top_down"} if stages > 1 else {}
    return chm_model(config, seed, tv_weight=0.0, **schedule)


def _chm_tv(config, seed):
    return chm_model(config, seed)


def _chm_l2(config, seed):
    return chm_model(config, seed, tv_weight=0.0, weight_decay=float(config["l2"]))


def _convnet_supervised(config, seed):
    return convnet_model(config, seed, tv_weight=0.0)


def _convnet_tv(config, seed):
    return convnet_model(config, seed)


def _chm_potts(config, seed, smooth=False, rounds=1):
    """The CHM trained with the Potts penalty by graph-cut proposals
    (:class:`chm.proposals.ProposalSegmenter` on the supervised CHM)."""
    from chm.proposals import ProposalSegmenter

    return ProposalSegmenter(_chm_supervised(config, seed), rounds=rounds, cv=3,
                             cv_images=config.get("mrf_cv_images"), smooth=smooth,
                             random_state=seed)


def _chm_potts_2(config, seed):
    return _chm_potts(config, seed, rounds=2)


def _chm_potts_mrf(config, seed):
    return _chm_potts(config, seed, smooth=True)


def _potts_info(model):
    # no proposals when the held-out labels chose the weight 0 (the plain fit is kept)
    n_proposals = model.n_proposals_[-1] if model.n_proposals_ else 0
    return {"potts_lambda": float(model.weight_), "n_proposals": int(n_proposals)}


def _tv_info(model):
    info = {"tv_weight": float(model.tv_weight)}
    if getattr(model, "epochs_", None) is not None:
        info["epochs"] = int(model.epochs_)  # the chosen length with epochs="auto"
    return info


def _l2_info(model):
    return {**_tv_info(model), "weight_decay": float(model.weight_decay)}


# ---------------------------------------------------------------------------
# Table 1, Weizmann Horse: CHM methods (one core each) and the forest
# ---------------------------------------------------------------------------
WEIZMANN_METHODS = MethodRegistry("Table 1")
_CHM = ("chm_params",)
WEIZMANN_METHODS.add("supervised", "supervised", _chm_supervised, uses=_CHM, info=_tv_info)
_CHM_MRF = _CHM + ("mrf_cv_images", "mrf_cv_fits")
WEIZMANN_METHODS.add("supervised+mrf", "supervised + MRF", _chm_supervised, mrf_of="supervised",
                     uses=_CHM_MRF)
WEIZMANN_METHODS.add("supervised+l2", "supervised + L2", _chm_l2, uses=_CHM + ("l2",),
                     info=_l2_info)
WEIZMANN_METHODS.add("tv", "TV", _chm_tv, uses=_CHM, info=_tv_info)
WEIZMANN_METHODS.add("tv+mrf", "TV + MRF", _chm_tv, mrf_of="tv", uses=_CHM_MRF)
_CHM_POTTS = _CHM + ("mrf_cv_images",)
WEIZMANN_METHODS.add("potts", "Potts proposals", _chm_potts, uses=_CHM_POTTS, info=_potts_info)
WEIZMANN_METHODS.add("potts-2", "Potts proposals, 2 rounds", _chm_potts_2, uses=_CHM_POTTS,
                     info=_potts_info)
WEIZMANN_METHODS.add("potts+mrf", "Potts proposals + MRF", _chm_potts_mrf, uses=_CHM_POTTS,
                     info=_potts_info)
WEIZMANN_METHODS.add("forest", "RF (scikit-image features)", forest_model, backend="forest")
WEIZMANN_METHODS.add("dense", "dense labels", _chm_dense, dense=True, uses=_CHM + ("dense_stages",),
                     info=_tv_info)

# ---------------------------------------------------------------------------
# Table 2, Stanford Background: ConvNet methods, CHM methods and the forest
# ---------------------------------------------------------------------------
STANFORD_METHODS = MethodRegistry("Table 2")
_NET = ("convnet_params", "threads")
STANFORD_METHODS.add("supervised", "supervised", _convnet_supervised, backend="convnet", uses=_NET)
STANFORD_METHODS.add("supervised+mrf", "supervised + MRF", _convnet_supervised, backend="convnet",
                     mrf_of="supervised", uses=_NET + ("mrf_cv_images",))
STANFORD_METHODS.add("tv", "TV", _convnet_tv, backend="convnet", uses=_NET)
STANFORD_METHODS.add("dense", "dense labels", _convnet_supervised, backend="convnet", dense=True,
                     uses=_NET)
STANFORD_METHODS.add("chm-supervised", "CHM supervised", _chm_supervised, uses=_CHM)
STANFORD_METHODS.add("chm-supervised+mrf", "CHM supervised + MRF", _chm_supervised,
                     mrf_of="chm-supervised", uses=_CHM_MRF)
STANFORD_METHODS.add("chm-tv", "CHM + TV", _chm_tv, uses=_CHM)
STANFORD_METHODS.add("forest", "RF (scikit-image features)", forest_model, backend="forest")
