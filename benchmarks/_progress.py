"""Progress lines of a benchmark: elapsed time and an estimate of the time left."""
import time


def format_seconds(seconds):
    """``1h 02m 03s`` / ``2m 03s`` / ``4.5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


class Progress:
    """Counter of finished items, giving the prefix of their progress lines.

    Parameters
    ----------
    n : int
        Items to finish.
    noun : str
        What the items are, e.g. ``"trials"``.
    clock : callable
        Seconds (``time.perf_counter`` by default); read once at creation.

    Examples
    --------
    >>> ticks = iter([0.0, 10.0, 30.0])
    >>> p = Progress(3, clock=lambda: next(ticks))
    >>> p.step()
    '[1/3 trials, 10.0s, ~20.0s left]'
    >>> p.step()
    '[2/3 trials, 30.0s, ~15.0s left]'
    """

    def __init__(self, n, noun="trials", clock=time.perf_counter):
        self.n = int(n)
        self.noun = noun
        self.clock = clock
        self.k = 0
        self.t0 = clock()

    def step(self):
        """Count one more finished item; return ``[k/n noun, elapsed, ~left]``.

        The time left assumes the items still to go take as long, on
        average, as those finished so far.
        """
        self.k += 1
        elapsed = self.clock() - self.t0
        text = f"[{self.k}/{self.n} {self.noun}, {format_seconds(elapsed)}"
        if self.k < self.n:
            text += f", ~{format_seconds(elapsed / self.k * (self.n - self.k))} left"
        return text + "]"
