"""Progress reporting: tqdm bars and log lines on stderr, both controlled by ``verbose``."""
import sys

from tqdm.auto import tqdm

__all__ = ["bar", "log"]


def bar(iterable=None, verbose=1, desc=None, total=None, unit="it"):
    """``iterable`` wrapped in a tqdm bar on stderr when ``verbose`` is true, else as it is.

    With ``iterable=None`` a bar to ``update()`` by hand (or a no-op object).
    """
    if not verbose:
        return _Silent() if iterable is None else iterable
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, file=sys.stderr,
                dynamic_ncols=True)


def log(message):
    """Write ``message`` on stderr without breaking the bars drawn there."""
    tqdm.write(message, file=sys.stderr)
    sys.stderr.flush()


class _Silent:
    """A bar that shows nothing."""

    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
