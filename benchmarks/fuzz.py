"""Fuzz campaign: every public entry point on many drawn inputs, with a watchdog.

Runs the entries of ``tests/contract/entries.py`` (the strategies and the
contract of the property tests) on a larger budget: ``--cases`` cases in all,
spread over the entries (cheap calls get more than model fits). Each case runs
in a worker process that the campaign kills when it does not answer within
``--timeout`` seconds (a hang) and restarts when it dies (a crash). Numbers
are also drawn huge here (``CHM_FUZZ_WILD``, see ``tests/contract/strategies.py``),
which the property tests leave out for want of a watchdog.

Prints one row per entry: cases, ok, clean refusals (ValueError/TypeError,
or another exception the entry documents, such as a loader's
FileNotFoundError: ``Entry.rejects``), other exceptions (with the first
message), hangs, outputs holding NaN or inf, and outputs breaking the
entry's check (wrong shape, dtype...). The
results, with the failing cases, are rewritten to ``--out`` (JSON) after every
case. The exit status is 1 when any case raised another exception, hung,
crashed, returned NaN/inf or broke its check, else 0.

Usage: ``python benchmarks/fuzz.py [--cases 2000] [--out fuzz.json] [--timeout 60]
[--seed 0] [--entries CHM,mrf.mrf_smooth] [--list]``
"""
import argparse
import importlib
import json
import math
import multiprocessing as mp
import os
import pickle
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Outcome kinds, in table order; the last five fail the campaign.
KINDS = ("ok", "rejected", "error", "crash", "hang", "nonfinite", "invalid")
FAILING = ("error", "crash", "hang", "nonfinite", "invalid")
#: Failing cases kept per entry in the JSON (the distinct messages first).
KEEP_FAILURES = 20


# ---------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------
def _silence():
    """Send the worker's stdout and stderr (progress bars, verbose logs) to /dev/null."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    warnings.simplefilter("ignore")


#: Module holding the entries (``ENTRIES``, ``classify`` and ``warm_up``).
REGISTRY = "tests.contract.entries"


def _serve(conn, quiet, registry):
    """Worker loop: receive ``(entry name, case)``, answer ``(kind, message, seconds)``."""
    if quiet:
        _silence()
    module = importlib.import_module(registry)
    getattr(module, "warm_up", lambda: None)()  # fit shared models before any case is timed
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        name, case = message
        start = time.perf_counter()
        kind, text = module.classify(module.ENTRIES[name], case)
        conn.send((kind, text, time.perf_counter() - start))


class Worker:
    """A worker process answering one case at a time, killed when it hangs.

    Parameters
    ----------
    quiet : bool
        Silence the worker's output.
    registry : str
        Module of the entries the worker runs.
    startup_timeout : float
        Seconds the worker may take to import and warm up.
    """

    def __init__(self, quiet=True, registry=REGISTRY, startup_timeout=600):
        self.quiet = quiet
        self.registry = registry
        self.startup_timeout = startup_timeout
        self._start()

    def _start(self):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, self.quiet, self.registry),
                                   daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(self.startup_timeout) or self.conn.recv() != "ready":
            self.close()
            raise RuntimeError(f"the fuzz worker did not start within {self.startup_timeout}s")

    def run(self, name, case, timeout):
        """``(kind, message, seconds)`` of one case; restarts the worker after a hang or crash."""
        try:
            self.conn.send((name, case))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            return "error", f"case could not be sent to the worker: {exc}", 0.0
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
            outcome = "hang", f"no answer within {timeout:g}s", float(timeout)
        except (EOFError, ConnectionError):
            self.process.join(5)
            outcome = "crash", f"worker died (exit code {self.process.exitcode})", 0.0
        self.close()
        self._start()
        return outcome

    def close(self):
        if self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(2)
            except (OSError, ValueError):
                pass
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


# ---------------------------------------------------------------------------
# bookkeeping
# ---------------------------------------------------------------------------
def _describe(case, limit=400):
    """Short text of a case for the report."""
    with np.printoptions(threshold=20, edgeitems=2, precision=4, linewidth=120):
        text = repr(case)
    return text if len(text) <= limit else text[:limit] + "..."


class Results:
    """Counts and failing cases per entry, written to ``path`` as JSON."""

    def __init__(self, path, meta):
        self.path = Path(path) if path else None
        self.meta = dict(meta, started=datetime.now(timezone.utc).isoformat(), finished=None)
        self.entries = {}

    def start(self, name, planned):
        self.entries[name] = {"planned": planned, "cases": 0, "seconds": 0.0,
                              **{k: 0 for k in KINDS}, "first_message": {}, "failures": []}

    def add(self, name, kind, message, seconds, case):
        row = self.entries[name]
        row["cases"] += 1
        row[kind] += 1
        row["seconds"] += seconds
        if kind != "ok":
            row["first_message"].setdefault(kind, message)
        if kind in FAILING:
            seen = {f["message"] for f in row["failures"]}
            if message not in seen and len(row["failures"]) < KEEP_FAILURES:
                row["failures"].append({"kind": kind, "message": message,
                                        "seconds": round(seconds, 3), "case": _describe(case)})

    def failed(self):
        return sum(row[k] for row in self.entries.values() for k in FAILING)

    def write(self, finished=False):
        if self.path is None:
            return
        if finished:
            self.meta["finished"] = datetime.now(timezone.utc).isoformat()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({**self.meta, "entries": self.entries}, indent=1))
        os.replace(tmp, self.path)

    def table(self):
        head = (f"{'entry':34s} {'cases':>5s} {'ok':>5s} {'Val/Type':>8s} {'other':>5s} "
                f"{'hangs':>5s} {'NaN':>5s} {'bad':>5s}  first other / hang / NaN / bad message")
        lines = [head, "-" * len(head)]
        for name, row in self.entries.items():
            other = row["error"] + row["crash"]
            messages = row["first_message"]
            first = next((messages[k] for k in FAILING if k in messages), "")
            lines.append(f"{name:34s} {row['cases']:5d} {row['ok']:5d} {row['rejected']:8d} "
                         f"{other:5d} {row['hang']:5d} {row['nonfinite']:5d} {row['invalid']:5d}"
                         f"  {first[:90]}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# the campaign
# ---------------------------------------------------------------------------
def plan(entries, total):
    """Cases per entry: ``total`` spread in proportion to ``1 / sqrt(cost)``, at least 1 each."""
    weights = {name: 1 / math.sqrt(e.cost) for name, e in entries.items()}
    scale = total / sum(weights.values())
    return {name: max(1, round(w * scale)) for name, w in weights.items()}


def select(entries, spec):
    """The entries whose name starts with one of the comma-separated ``spec`` prefixes."""
    if not spec:
        return dict(entries)
    prefixes = [p.strip() for p in spec.split(",") if p.strip()]
    chosen = {n: e for n, e in entries.items() if any(n.startswith(p) for p in prefixes)}
    if not chosen:
        raise SystemExit(f"no entry matches {spec!r}; see --list")
    return chosen


def run_entry(entry, n_cases, worker, results, timeout, seed_value):
    """Draw ``n_cases`` cases of ``entry`` with hypothesis and run each in ``worker``."""
    from hypothesis import HealthCheck, Phase, given, seed, settings

    @seed(seed_value)
    @settings(max_examples=n_cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=entry.strategy)
    def campaign(case):
        kind, message, seconds = worker.run(entry.name, case, timeout)
        results.add(entry.name, kind, message, seconds, case)
        results.write()

    results.start(entry.name, n_cases)
    try:
        campaign()
    except Exception as exc:  # noqa: BLE001 - a strategy failing to draw is reported, not fatal
        results.add(entry.name, "error", f"drawing cases failed: {type(exc).__name__}: {exc}",
                    0.0, None)
    results.write()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="cases in all (default 2000)")
    parser.add_argument("--out", default="fuzz_results.json", help="JSON results file")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds a case may take before it counts as a hang")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn cases")
    parser.add_argument("--entries", default="", help="comma-separated entry name prefixes")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")
    parser.add_argument("--verbose-worker", action="store_true",
                        help="let the worker print (progress bars, warnings)")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.timeout <= 0:
        parser.error("--cases must be >= 1 and --timeout > 0")

    warnings.simplefilter("ignore")  # casts overflowing while cases are drawn
    os.environ["CHM_FUZZ_WILD"] = "1"  # huge values too: the watchdog catches what they cause
    from tests.contract.entries import ENTRIES, SKIPPED

    for name, reason in SKIPPED.items():
        print(f"skipped {name}: {reason}")
    entries = select(ENTRIES, args.entries)
    budget = plan(entries, args.cases)
    if args.list:
        for name, n in budget.items():
            print(f"{name:34s} cost {entries[name].cost:2d}  cases {n}")
        return 0

    results = Results(args.out, {"argv": sys.argv[1:] if argv is None else list(argv),
                                 "cases": args.cases, "seed": args.seed,
                                 "timeout_s": args.timeout})
    start = time.perf_counter()
    worker = Worker(quiet=not args.verbose_worker)
    try:
        for name, entry in entries.items():
            t0 = time.perf_counter()
            run_entry(entry, budget[name], worker, results, args.timeout, args.seed)
            row = results.entries[name]
            print(f"{name}: {row['cases']} cases in {time.perf_counter() - t0:.1f}s", flush=True)
    finally:
        worker.close()
        results.write(finished=True)
    print()
    print(results.table())
    failed = results.failed()
    print(f"\n{sum(r['cases'] for r in results.entries.values())} cases in "
          f"{time.perf_counter() - start:.0f}s; {failed} broke the contract"
          + (f"; results in {args.out}" if args.out else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
