"""The result of a simulation: labelled, read-only time series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnknownNameError
from ..numerics import compile_model

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..spec import Model
    from ..dosing import Schedule
    from ..solve import SolverStats

__all__ = ["Trajectory"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a


class Trajectory:
    """States and observables of one simulation, by name.

    Arrays are read-only. ``traj["S"]`` returns a state, an observable, a drug's
    infusion input (``"u_<drug>"``, amount/day) or the level of a direct-input
    drug (its name) at the output times ``traj.t`` (days). Values at a dose time
    are after the dose.

    Attributes
    ----------
    t : numpy.ndarray
        Output times (days), shape ``(n_times,)``.
    y : numpy.ndarray
        States, shape ``(n_times, n_states)``, columns in ``state_names`` order.
    u : numpy.ndarray
        Infusion rates in force (amount/day), shape ``(n_times, n_drugs)``.
    params : mapping
        Parameter values used (read-only), by name.
    model : Model
        The model simulated.
    schedule : Schedule
        The schedule simulated.
    stats : SolverStats
        Solver counters and wall time.
    events : tuple
        Switches of state-dependent dosing rules (:class:`~tumordyn.dosing.RuleEvent`), in time order;
        empty without rules.
    regimen : Regimen or None
        The regimen with rules that was simulated (``schedule`` is then the realised schedule:
        the doses actually given); ``None`` for a plain schedule.
    """

    def __init__(
        self,
        t: np.ndarray,
        y: np.ndarray,
        u: np.ndarray,
        params: np.ndarray,
        model: Model,
        schedule: Schedule,
        stats: SolverStats,
        events: tuple[Any, ...] = (),
        regimen: Any = None,
    ) -> None:
        self._init(_readonly(t), _readonly(y), _readonly(u), _readonly(params), model, schedule, stats, events,
                   regimen)

    def _init(self, t: np.ndarray, y: np.ndarray, u: np.ndarray, params: np.ndarray, model: Model,
              schedule: Schedule, stats: SolverStats, events: tuple[Any, ...], regimen: Any) -> None:
        self.t = t
        self.y = y
        self.u = u
        self._p = params
        self.model = model
        self.schedule = schedule
        self.stats = stats
        self.events = tuple(events)
        self.regimen = regimen
        if self.y.shape != (self.t.size, len(model.states)):
            raise ValueError(f"y must have shape {(self.t.size, len(model.states))}, got {self.y.shape}")

    @classmethod
    def _owning(cls, t: np.ndarray, y: np.ndarray, u: np.ndarray, params: np.ndarray, model: Model,
                schedule: Schedule, stats: SolverStats, events: tuple[Any, ...] = (),
                regimen: Any = None) -> Trajectory:
        """A trajectory that takes the float arrays it is given (made read-only) instead of copying them.

        For :func:`~tumordyn.simulate` only: every array must be new, of dtype float, and referenced by
        nothing else the caller returns or keeps.
        """
        self = cls.__new__(cls)
        for a in (t, y, u, params):
            a.setflags(write=False)
        self._init(t, y, u, params, model, schedule, stats, events, regimen)
        return self

    @cached_property
    def params(self) -> Mapping[str, float]:
        """Parameter values used (read-only), by name."""
        return MappingProxyType({n: float(v) for n, v in zip(self.model.parameters.names, self._p)})

    # -- names ------------------------------------------------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the states (columns of ``y``)."""
        return self.model.states.names

    @property
    def observable_names(self) -> tuple[str, ...]:
        """Names of the model's observables."""
        return self.model.observables.names

    @property
    def names(self) -> tuple[str, ...]:
        """Every name accepted by ``traj[name]``."""
        direct = tuple(d.name for d in self.model.drugs if d.compartment is None)
        inputs = tuple(f"u_{d}" for d in self.model.drugs.names)
        return self.state_names + self.observable_names + direct + inputs

    @cached_property
    def _observed(self) -> np.ndarray:
        c = compile_model(self.model)
        if not c.observable_names:
            return np.empty((0, self.t.size))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(c.observe(self.t, self.y.T, self._p, self.u.T), dtype=float)
        out = np.broadcast_to(out, (len(c.observable_names), self.t.size)).copy()
        out.flags.writeable = False
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        if not isinstance(name, str):
            raise TypeError(f"index a Trajectory by name (str), got {type(name).__name__}")
        states = self.state_names
        if name in states:
            return self.y[:, states.index(name)]
        obs = self.observable_names
        if name in obs:
            return self._observed[obs.index(name)]
        drugs = self.model.drugs.names
        if name.startswith("u_") and name[2:] in drugs:
            return self.u[:, drugs.index(name[2:])]
        if name in drugs and self.model.drugs[name].compartment is None:
            return self.u[:, drugs.index(name)]
        raise UnknownNameError("state or observable", name, self.names, f"trajectory of model {self.model.name!r}")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def final(self) -> dict[str, float]:
        """States at the last output time, by name (after a dose due then)."""
        return {n: float(v) for n, v in zip(self.state_names, self.y[-1])}

    def value_at(self, name: str, time: float) -> float:
        """Value of ``name`` at an output time; the time must be one of ``t``.

        Parameters
        ----------
        name : str
            A state, observable or input name (see :attr:`names`).
        time : float
            An output time (days); at a dose time the value is after the dose.

        Returns
        -------
        float
            The value, in the unit of the state or observable.

        Raises
        ------
        UnknownNameError
            For an unknown name.
        ValueError
            If ``time`` is not an output time (values between outputs are not interpolated,
            since a dose may lie between them).
        """
        idx = np.nonzero(self.t == float(time))[0]
        if idx.size == 0:
            raise ValueError(
                f"time {time} is not an output time of this trajectory (range [{self.t[0]}, {self.t[-1]}] days); "
                "pass it in `t_eval`"
            )
        return float(self[name][idx[-1]])

    # -- export -----------------------------------------------------------------------
    def to_dataframe(self, names: Iterable[str] | None = None) -> pd.DataFrame:
        """Export to a pandas DataFrame indexed by time (days).

        Parameters
        ----------
        names : iterable of str, optional
            Columns to include; default all states and observables.

        Returns
        -------
        pandas.DataFrame
            One row per output time, one column per name.
        """
        import pandas as pd

        cols = list(self.state_names + self.observable_names) if names is None else list(names)
        data = {n: np.array(self[n]) for n in cols}
        return pd.DataFrame(data, index=pd.Index(np.array(self.t), name="time"))

    def __repr__(self) -> str:
        return (
            f"<Trajectory of {self.model.name!r}: {self.t.size} times in [{self.t[0]:g}, {self.t[-1]:g}] days, "
            f"{len(self.state_names)} states, {len(self.observable_names)} observables, "
            f"{len(self.schedule)} schedule items, {self.stats.method} nfev={self.stats.nfev}>"
        )

    # -- plotting ---------------------------------------------------------------------
    def plot(
        self,
        names: Sequence[str] | str | None = None,
        ax: Axes | None = None,
        logy: bool | None = None,
        show_doses: bool = True,
    ) -> Axes:
        """Plot time courses on one axes, with the dose times marked.

        The y axis is labelled with the units of the model's states and observables.

        Parameters
        ----------
        names : str or sequence of str, optional
            What to plot; default: the states whose unit is ``"cells"``
            (or all states if none are).
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is made if omitted.
        logy : bool, optional
            Logarithmic y axis; default ``True`` when every plotted series is positive
            and they span more than two decades. Its lower limit stops 8 decades below the largest
            value (and at 0.1 cell for cell counts), so a population dying out does not squash the plot.
        show_doses : bool, optional
            Draw a tick at each dose time along the bottom of the axes, one lane per drug (doses of
            several drugs on the same day stay visible).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        from .._plotting import dose_lanes, log_limits, unit_of, y_label

        if names is None:
            cells = [s.name for s in self.model.states if s.unit == "cells"]
            names = cells or list(self.state_names)
        elif isinstance(names, str):
            names = [names]
        names = list(names)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        series = {n: np.asarray(self[n]) for n in names}
        units = [unit_of(self.model, n) for n in names]
        mixed = len(set(units)) > 1
        for (n, v), u in zip(series.items(), units):
            ax.plot(self.t, v, label=f"{n} ({u})" if mixed else n)
        vals = np.concatenate([v for v in series.values()]) if series else np.array([1.0])
        if logy is None:
            pos = vals[vals > 0]
            logy = bool(pos.size and np.all(vals > 0) and pos.max() / pos.min() > 100)
        if logy:
            ax.set_yscale("log")
            lim = log_limits(vals, units)
            if lim is not None:
                ax.set_ylim(*lim)
        if show_doses and self.schedule.doses:
            drugs = sorted(self.schedule.drugs)
            colors = {d: f"C{(i + len(names)) % 10}" for i, d in enumerate(drugs)}
            dose_lanes(ax, self.schedule.doses, drugs, colors)
        ax.set_xlabel("time (days)")
        ax.set_ylabel(y_label(self.model, names))
        ax.set_title(self.model.name)
        ax.legend(fontsize="small")
        return ax

