"""Variants of the Potts proposals on Weizmann 10 px (one draw): search once, then several
proposal recipes from the same first fit. Appends one JSON line per variant.

A scratch probe, kept for the record (see README.md); run from anywhere with the package
installed: ``python variants_scratch.py SEED OUT.jsonl n300 n1000 r2 lam2x``.
"""
import json
import sys
import time

import numpy as np
from sklearn.base import clone
import chm
from chm.datasets import load_weizmann_horse, sample_sparse_labels
from chm.metrics import pixel_error
from chm.mrf_segmenter import MRFSegmenter
from chm.proposals import potts_proposals

seed, out, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
images, masks = load_weizmann_horse()
tx, ty, vx, vy = images[:164], masks[:164], images[164:], masks[164:]
labels = sample_sparse_labels(ty, 10, random_state=seed)
base = chm.CHM(tv_weight=0.0, random_state=seed, n_jobs=1)
rng = np.random.RandomState(seed)
t0 = time.perf_counter()
search = MRFSegmenter(base, cv=3, scoring="balanced", random_state=rng).fit(tx, labels)
lam = search.weight_
first = search.estimator_
print("lambda", lam, "search+fit", time.perf_counter() - t0, flush=True)
P = first.predict_proba(tx)
classes = np.asarray(first.classes_)

def log(name, model, extra=None):
    err = pixel_error(model.predict(vx), vy)
    rec = {"seed": seed, "variant": name, "lambda": lam, "error": err, **(extra or {})}
    print(rec, flush=True)
    open(out, "a").write(json.dumps(rec) + "\n")

recipes = {
    "n100": dict(n=100, band=2, contrast=False, lam=1.0),
    "n300": dict(n=300, band=2, contrast=False, lam=1.0),
    "n1000": dict(n=1000, band=2, contrast=False, lam=1.0),
    "contrast": dict(n=100, band=2, contrast=True, lam=1.0),
    "lam2x": dict(n=100, band=2, contrast=False, lam=2.0),
    "band4": dict(n=100, band=4, contrast=False, lam=1.0),
}
for name in names:
    if name == "r2":  # two rounds of n100
        r = np.random.RandomState(seed + 1)
        m = first
        for _ in range(2):
            ext, _ = potts_proposals(m.predict_proba(tx), labels, classes, lam, 100, 2, r)
            m = clone(base).fit(tx, ext)
        log(name, m)
        continue
    c = recipes[name]
    r = np.random.RandomState(seed + 1)
    ext, cuts = potts_proposals(P, labels, classes, lam * c["lam"], c["n"], c["band"], r,
                                tx, c["contrast"])
    acc = np.mean([np.mean(cu == t) for cu, t in zip(cuts, ty)])
    t0 = time.perf_counter()
    m = clone(base).fit(tx, ext)
    log(name, m, {"cut_acc": float(acc), "fit_s": time.perf_counter() - t0})
