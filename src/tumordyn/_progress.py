"""Progress bars and iteration callbacks of the long-running functions (one place for all of them).

Every long run (a cohort, :func:`~tumordyn.compare`, :func:`~tumordyn.fit`,
:func:`~tumordyn.profile_likelihood`, :func:`~tumordyn.fitting.select_models`,
:func:`~tumordyn.comparison.search_schedule`, the outcome map) takes ``progress``:

* ``None`` (default): a bar when someone is watching, that is when standard error is a
  terminal or the code runs in a Jupyter kernel (there ``sys.stderr`` is not a terminal, which is why
  a check on ``isatty`` alone kept the bars off in notebooks);
* ``True`` / ``False``: always / never.

Bars come from ``tqdm.auto``: a notebook widget in Jupyter (with ``ipywidgets`` installed; else tqdm's
text bar), a text bar elsewhere. The functions that iterate also take ``callback``, called after
each step with one mapping of what was just done (its keys are listed by each function).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["show_progress", "progress_bar", "check_callback", "notify", "lmfit_iter_cb", "DoneCounter", "polled"]


def _in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter (IPython) kernel; IPython is not imported if it is not loaded."""
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_progress(progress: bool | None) -> bool:
    """Resolve a ``progress`` argument: ``None`` means "if stderr is a terminal or in a Jupyter kernel".

    Raises
    ------
    TypeError
        If ``progress`` is not True, False or None.
    """
    if progress is None:
        err = sys.stderr
        tty = err is not None and hasattr(err, "isatty") and err.isatty()
        return bool(tty) or _in_jupyter_kernel()
    import numpy as np

    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be True, False or None, got {progress!r}")
    return bool(progress)


def _bar_class() -> Any:
    """The bar class (``tqdm.auto.tqdm``); looked up per call so a test can substitute a recording class."""
    mod = sys.modules.get("tqdm.auto")  # (imported once: a lookup is cheaper than the import statement per fit)
    if mod is None:
        from tqdm.auto import tqdm

        return tqdm
    return mod.tqdm


def progress_bar(progress: bool | None, *, total: int | None, desc: str, unit: str = "it", **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar, disabled (prints nothing, updates cost nothing) unless :func:`show_progress`.

    Parameters
    ----------
    progress : bool or None
        As described in the module notes.
    total : int or None
        Number of steps (``None``: unknown, the bar counts).
    desc, unit : str
        Label and unit of the bar.
    **kwargs
        Other ``tqdm`` arguments.

    Returns
    -------
    tqdm.tqdm
        Use as a context manager or close it.
    """
    show = show_progress(progress)
    cls = _bar_class()
    if not show and cls.__module__.startswith("tqdm"):
        # tqdm's own disabled bar still takes its multiprocessing lock: measured 0.3-1 ms of CPU per bar on a
        # loaded machine, more than a whole closed-form fit's optimisation
        return _OffBar(total, desc, unit)
    import warnings

    with warnings.catch_warnings():  # tqdm.auto in a kernel without ipywidgets: a text bar, no warning
        warnings.simplefilter("ignore")
        return cls(total=total, desc=desc, unit=unit, disable=not show, dynamic_ncols=True, **kwargs)


class _OffBar:
    """A bar nobody sees (what a disabled ``tqdm`` does, without its lock): counts, prints nothing."""

    disable = True
    #: nothing is shown and nobody reads the count: a loop may skip its updates (tqdm's bars have no such flag)
    silent = True

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass

    def __enter__(self) -> _OffBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def check_callback(callback: Callable[[Mapping[str, Any]], Any] | None, where: str) -> None:
    """Refuse a ``callback`` that is neither ``None`` nor callable (before any computation).

    Raises
    ------
    TypeError
        Naming ``where``.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"{where}: `callback` must be a function taking one mapping, got {type(callback).__name__}")


def notify(callback: Callable[[Mapping[str, Any]], Any] | None, **info: Any) -> None:
    """Call ``callback(info)`` if there is one (its return value is ignored)."""
    if callback is not None:
        callback(dict(info))


def lmfit_iter_cb(bar: Any, callback: Callable[[Mapping[str, Any]], Any] | None,
                  user_iter_cb: Callable[..., Any] | None) -> Callable[..., Any]:
    """An lmfit ``iter_cb`` that moves ``bar``, calls ``callback`` with ``{"iteration", "chisqr", "params"}``
    and then the user's own ``iter_cb`` (whose return value, True to abort, is kept)."""
    import numpy as np

    def iter_cb(params: Any, iteration: int, resid: Any, *args: Any, **kws: Any) -> Any:
        bar.update(1)
        if callback is not None:
            r = np.asarray(resid, dtype=float)
            callback({"iteration": int(iteration), "chisqr": float(np.dot(r, r)),
                      "params": {k: float(p.value) for k, p in params.items()}})
        return None if user_iter_cb is None else user_iter_cb(params, iteration, resid, *args, **kws)

    return iter_cb


class DoneCounter:
    """Counts work items (patients) finished inside solver kernels, for a bar polled from another thread.

    A solve asks :meth:`flags` for an int64 array with one entry per patient; the compiled kernel (which
    runs without the GIL) sets entry ``j`` to 1 when patient ``j`` is finished, the other engines and the
    patient-by-patient paths set them as they go. :meth:`count` sums every array handed out: reading while
    a kernel writes is safe (aligned 8-byte stores; a reading may lag by the patients being written).
    """

    def __init__(self) -> None:
        self._arrays: list[Any] = []
        self._retired = 0
        self._lock = threading.Lock()

    def flags(self, n: int) -> Any:
        """A fresh zeroed int64 array of ``n`` done-flags, counted from now on."""
        import numpy as np

        a = np.zeros(int(n), dtype=np.int64)
        with self._lock:
            self._arrays.append(a)
        return a

    def retire(self, flags: Any) -> None:
        """Stop watching ``flags`` (its solve is over): its count is kept, its memory released."""
        with self._lock:
            for i, a in enumerate(self._arrays):
                if a is flags:
                    self._retired += int(a.sum())
                    del self._arrays[i]
                    break

    def count(self) -> int:
        """Items finished so far."""
        with self._lock:
            return self._retired + sum(int(a.sum()) for a in self._arrays)


@contextmanager
def polled(bar: Any, counter: DoneCounter, interval: float = 0.1) -> Iterator[None]:
    """Move ``bar`` to ``counter.count()`` every ``interval`` seconds from a helper thread while the block runs.

    The thread only reads the counter and updates the bar; it stops (and the bar gets a last update) when
    the block ends, also on an exception. A disabled bar starts no thread.
    """
    if getattr(bar, "disable", False):
        yield
        return
    stop = threading.Event()
    shown = [0]
    lock = threading.Lock()

    def sync() -> None:
        with lock:
            now = counter.count()
            if now > shown[0]:
                bar.update(now - shown[0])
                shown[0] = now

    def run() -> None:
        while not stop.wait(interval):
            sync()

    thread = threading.Thread(target=run, name="tumordyn-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sync()
