"""The result of :func:`~tumordyn.simulate_batch`: many patients' states, labelled and read-only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnknownNameError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model

__all__ = ["BatchTrajectory"]


class BatchTrajectory(np.lib.mixins.NDArrayOperatorsMixin):
    """States of many patients (one per parameter row) at shared output times, by name.

    Behaves as the read-only array ``values`` of shape ``(n_patients, n_times, n_states)`` wherever
    an array is expected (``np.asarray(b)``, ``b[:, -1, 0]``, ``b.shape``, arithmetic and numpy
    functions give plain arrays), so code written for the array :func:`~tumordyn.simulate_batch`
    returned before keeps working; ``b["S"]`` is one state for every patient, shape
    ``(n_patients, n_times)``.

    Attributes
    ----------
    t : numpy.ndarray
        Output times (days), shape ``(n_times,)``.
    values : numpy.ndarray
        States (state units), shape ``(n_patients, n_times, n_states)``, read-only; NaN rows for a
        patient whose solve failed under ``on_error="nan"``. Values at a dose time are after the dose.
    states : tuple of str
        State names, in the order of the last axis of ``values``.
    params : numpy.ndarray
        The parameter rows simulated, shape ``(n_patients, n_params)`` (read-only), columns in
        ``compile_model(model).param_names`` order.
    ok : numpy.ndarray
        Whether each patient's solve succeeded, shape ``(n_patients,)`` (read-only).
    model : Model
        The model simulated.
    schedule : Schedule or Regimen
        What was simulated (shared by every patient).
    """

    def __init__(self, t: np.ndarray, values: np.ndarray, model: Model, params: np.ndarray, ok: np.ndarray,
                 schedule: Any) -> None:
        self.t = _frozen(t)
        self.values = _frozen(values)
        self.params = _frozen(np.array(params, dtype=float))
        self.ok = _frozen(np.asarray(ok, dtype=bool))
        self.model = model
        self.schedule = schedule
        self.states: tuple[str, ...] = tuple(model.states.names)
        if self.values.shape != (self.params.shape[0], self.t.size, len(self.states)):
            raise ValueError(f"values must have shape {(self.params.shape[0], self.t.size, len(self.states))}, "
                             f"got {self.values.shape}")

    # -- the array face ---------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None or np.dtype(dtype) == self.values.dtype:
            return self.values.copy() if copy else self.values
        return self.values.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(x.values if isinstance(x, BatchTrajectory) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(x.values if isinstance(x, BatchTrajectory) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        def plain(x: Any) -> Any:
            if isinstance(x, BatchTrajectory):
                return x.values
            if isinstance(x, (list, tuple)):
                return type(x)(plain(v) for v in x)
            return x

        return func(*plain(args), **{k: plain(v) for k, v in kwargs.items()})

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_patients, n_times, n_states)``."""
        return self.values.shape  # type: ignore[return-value]

    @property
    def ndim(self) -> int:
        """3."""
        return 3

    @property
    def dtype(self) -> np.dtype:
        """``float64``."""
        return self.values.dtype

    @property
    def size(self) -> int:
        """Number of values."""
        return int(self.values.size)

    @property
    def flags(self) -> Any:
        """The flags of ``values`` (not writeable)."""
        return self.values.flags

    @property
    def n_patients(self) -> int:
        """Number of patients (parameter rows)."""
        return int(self.values.shape[0])

    def __len__(self) -> int:
        return self.n_patients

    def __iter__(self) -> Any:
        return iter(self.values)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, str):
            if key not in self.states:
                raise UnknownNameError("state", key, self.states, f"batch trajectory of model {self.model.name!r}")
            return self.values[:, :, self.states.index(key)]
        return self.values[key]

    def __repr__(self) -> str:
        return (f"<BatchTrajectory of {self.model.name!r}: {self.n_patients} patients, {self.t.size} times in "
                f"[{self.t[0]:g}, {self.t[-1]:g}] days, states {', '.join(self.states)}"
                f"{'' if self.ok.all() else f', {int((~self.ok).sum())} failed'}>")

    # -- export -----------------------------------------------------------------------
    def to_dataframe(self, names: Iterable[str] | None = None) -> pd.DataFrame:
        """Long format: one row per patient and output time, one column per state.

        Parameters
        ----------
        names : iterable of str, optional
            States to include; default all.

        Returns
        -------
        pandas.DataFrame
            Index ``(patient, time)`` (patient = parameter row, time in days); columns in state units.
        """
        import pandas as pd

        cols = list(self.states) if names is None else list(names)
        idx = pd.MultiIndex.from_product([np.arange(self.n_patients), np.array(self.t)], names=["patient", "time"])
        return pd.DataFrame({n: np.array(self[n]).ravel() for n in cols}, index=idx)

    def to_xarray(self) -> Any:
        """An ``xarray.DataArray`` with dimensions ``(patient, time, state)`` (needs ``xarray``).

        Raises
        ------
        ImportError
            If xarray is not installed.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("BatchTrajectory.to_xarray needs xarray (pip install xarray); "
                              "to_dataframe() needs nothing more") from None
        return xr.DataArray(np.array(self.values), dims=("patient", "time", "state"),
                            coords={"patient": np.arange(self.n_patients), "time": np.array(self.t),
                                    "state": list(self.states)},
                            name="states", attrs={"model": self.model.name, "time_unit": "days"})

    # -- plotting ---------------------------------------------------------------------
    def plot(self, name: str | None = None, ax: Axes | None = None, *, logy: bool | None = None,
             quantiles: Sequence[float] = (0.05, 0.5, 0.95), show_patients: int = 20) -> Axes:
        """One state over time for every patient: a few patients' lines and the median with a band.

        Parameters
        ----------
        name : str, optional
            State to plot; default the first state whose unit is ``"cells"`` (else the first).
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is made if omitted.
        logy : bool, optional
            Logarithmic y axis; default when every value is positive and they span more than two decades.
        quantiles : (float, float, float)
            Lower, middle and upper quantile across patients (default 5 %, median, 95 %).
        show_patients : int
            How many individual patients to draw as thin lines (the first ones; default 20).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if name is None:
            cells = [s.name for s in self.model.states if s.unit == "cells"]
            name = cells[0] if cells else self.states[0]
        v = self[name]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for row in v[: max(int(show_patients), 0)]:
            ax.plot(self.t, row, color="0.6", lw=0.6, alpha=0.6)
        good = v[self.ok]
        if good.size:
            lo, mid, hi = np.quantile(good, list(quantiles), axis=0)
            ax.fill_between(self.t, lo, hi, color="C0", alpha=0.25,
                            label=f"{quantiles[0]:.0%}–{quantiles[2]:.0%} of {good.shape[0]} patients")
            ax.plot(self.t, mid, color="C0", lw=2, label=f"{quantiles[1]:.0%} quantile")
        finite = v[np.isfinite(v)]
        if logy is None:
            pos = finite[finite > 0]
            logy = bool(pos.size and pos.size == finite.size and pos.max() / pos.min() > 100)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("time (days)")
        ax.set_ylabel(f"{name} ({self.model.states[name].unit})")
        ax.set_title(self.model.name)
        ax.legend(fontsize="small")
        return ax


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a
