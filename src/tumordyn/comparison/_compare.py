"""Compare treatment regimens on one model: a table of readouts and a figure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import warnings

import numpy as np

from .. import readouts as ro
from ..dosing import AdaptiveRule, Regimen, as_regimen
from ..dosing import Dose, Infusion, Schedule
from .._progress import progress_bar
from ..errors import ReadoutWarning, SpecificationError, UnknownNameError
from ..solve import Solver

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..spec import Model
    from ..trajectory import Trajectory

__all__ = ["compare", "Comparison", "readout_row", "KEY_COLUMNS", "COLUMN_HELP", "TABLE_HEADERS"]

#: Columns shown by :meth:`Comparison.table` by default.
KEY_COLUMNS = (
    "recist_bor",
    "best_change_diameter_pct",
    "nadir_day",
    "ttp_scans_days",
    "ttp_continuous_days",
    "progression_free",
    "durable_response",
    "pseudoprogression",
    "resistant_fraction_end",
    "r_overtakes_s_day",
    "ex_ratio_end",
)

#: Column descriptions (name: meaning and unit), also used by the docs and the CLI.
COLUMN_HELP: Mapping[str, str] = MappingProxyType({
    "best_change_burden_pct": "best % change of tumor burden from baseline on the output grid: the nadir's (%, <= 0)",
    "nadir_day": "time of the tumor-burden nadir (days)",
    "best_change_diameter_pct": "best % change of the measured lesion diameter from baseline over the follow-up "
                                "scans, RECIST 1.1 (%; positive if it only grew)",
    "recist_bor": "RECIST 1.1 best overall response at the scans (CR/PR/SD/PD)",
    "irecist_bor": "iRECIST best overall response at the scans (iCR/iPR/iSD/iUPD/iCPD)",
    "pseudoprogression": "iUPD followed by iPR/iCR (bool)",
    "ttp_scans_days": "time to progression on the scan plan, RECIST 1.1 (days; inf = none)",
    "ttp_continuous_days": "time to progression on the continuous diameter (days; inf = none)",
    "progression_free": "no RECIST progression at the scans up to the horizon (bool)",
    "duration_of_response_days": "first PR/CR scan to first PD scan or horizon (days)",
    "durable_response": "response lasting >= durable_months months (bool)",
    "resistant_fraction_end": "R / (S + R) at the horizon",
    "r_overtakes_s_day": "first time R >= S (days; inf = never)",
    "ex_ratio_end": "E / (X + 1) at the horizon",
    "mean_suppression": "time-averaged TME suppression P",
    "n_switches": "adaptive-rule switches (pauses + resumes)",
})


def _has_lesions(names: Any, diameter: Any) -> bool:
    """Whether the RECIST readouts find the lesion(s) ``diameter`` names (:func:`tumordyn.readouts.resolve_lesions`)."""
    if isinstance(diameter, str) and diameter not in names and not (
            diameter == "lesion_diameter" and any(n.endswith("_lesion_diameter") for n in names)):
        return False
    ro.resolve_lesions(tuple(names), diameter, "compare(diameter=...)")  # a Lesion naming a missing series: error
    return True

#: Headers of :meth:`Comparison.table` by column name (the column names of :meth:`Comparison.to_dataframe`
#: stay as they are); ``doses_<drug>`` reads "doses <drug>", ``auc_<drug>`` "AUC <drug>".
TABLE_HEADERS: Mapping[str, str] = MappingProxyType({
    "recist_bor": "RECIST BOR",
    "irecist_bor": "iRECIST BOR",
    "best_change_diameter_pct": "best Δ diam. %",
    "best_change_burden_pct": "best Δ burden %",
    "nadir_day": "nadir day",
    "ttp_scans_days": "TTP scans (d)",
    "ttp_continuous_days": "TTP cont. (d)",
    "progression_free": "progr.-free",
    "duration_of_response_days": "DoR (d)",
    "durable_response": "durable resp.",
    "pseudoprogression": "pseudo-PD",
    "resistant_fraction_end": "R/(S+R) end",
    "r_overtakes_s_day": "R > S day",
    "ex_ratio_end": "E/X end",
    "mean_suppression": "mean TME supp.",
    "n_switches": "rule switches",
})


def table_header(column: str) -> str:
    """The readable header of a comparison column (:data:`TABLE_HEADERS`; per-drug columns by pattern)."""
    if column in TABLE_HEADERS:
        return TABLE_HEADERS[column]
    if column.startswith("doses_"):
        return f"doses {column[6:]}"
    if column.startswith("auc_"):
        return f"AUC {column[4:]}"
    return column


def readout_row(
    traj: Trajectory,
    scans: ro.ScanPlan,
    *,
    durable_months: float = 6.0,
    diameter: str | ro.Lesion | Sequence[ro.Lesion] = "lesion_diameter",
    burden: str = "tumor_burden",
    min_measurable: float = 10.0,
) -> dict[str, Any]:
    """All comparison readouts of one trajectory (those its model supports), by column name.

    Columns needing a quantity the model lacks are left out (e.g. no RECIST without
    a diameter observable). See :data:`COLUMN_HELP` for the definitions; per drug
    ``auc_<drug>`` (concentration × day) and ``doses_<drug>`` (count) are added.

    Parameters
    ----------
    traj : Trajectory
        A simulation.
    scans : ScanPlan
        The scan plan for RECIST/iRECIST.
    durable_months : float
        Months a response must last to be durable (1 month = 30.4375 days).
    diameter : str, Lesion or sequence of Lesion
        The measured lesion(s) (mm), as the ``observable`` of :func:`tumordyn.readouts.recist`.
    burden : str
        The tumor burden (cells).
    min_measurable : float
        Smallest measurable baseline lesion for RECIST/iRECIST (mm, default 10).

    Returns
    -------
    dict
    """
    names = set(traj.names)
    row: dict[str, Any] = {}
    if burden in names:
        row["best_change_burden_pct"] = ro.best_percent_change(traj, burden)
        row["nadir_day"] = ro.nadir(traj, burden).time
    if _has_lesions(traj.names, diameter):
        row["best_change_diameter_pct"] = ro.best_percent_change(traj, diameter, scans=scans)
        rec = ro.recist(traj, scans, diameter, min_measurable=min_measurable)
        irec = ro.irecist(traj, scans, diameter, min_measurable=min_measurable)
        row["recist_bor"] = rec.best_overall_response
        row["irecist_bor"] = irec.best_overall_response
        row["pseudoprogression"] = irec.pseudoprogression
        row["ttp_scans_days"] = rec.time_to_progression
        row["ttp_continuous_days"] = ro.time_to_progression(traj, None, diameter)
        row["progression_free"] = math.isinf(rec.time_to_progression)
        dor = ro.duration_of_response(traj, scans, diameter, min_measurable=min_measurable)
        row["duration_of_response_days"] = dor
        row["durable_response"] = bool(dor > 0 and dor >= durable_months * ro.MONTH)
    if {"S", "R"} <= names:
        row["resistant_fraction_end"] = float(ro.resistant_fraction(traj)[-1])
        row["r_overtakes_s_day"] = ro.resistant_takeover_time(traj)
    if {"E", "X"} <= names:
        row["ex_ratio_end"] = float(ro.effector_exhausted_ratio(traj)[-1])
    if "P" in traj.state_names:
        row["mean_suppression"] = ro.mean_suppression(traj)
    counts = ro.dose_counts(traj)
    for drug in traj.model.drugs.names:
        row[f"auc_{drug}"] = ro.auc(traj, drug)
        row[f"doses_{drug}"] = counts[drug]
    row["n_switches"] = len(getattr(traj, "events", ()))
    return row


def output_times(regimen: Regimen, t_end: float, scan_t: np.ndarray) -> np.ndarray:
    """Output grid for a comparison: the default grid plus the scan times and every (possible) dose time.

    Scans then read exact values, and :func:`tumordyn.readouts.auc` sees every dose jump.
    """
    from ..trajectory import default_times

    doses = [d.time for d in regimen.schedule.doses]
    for r in regimen.rules:
        doses += [d.time for d in r.template(0.0, t_end).doses]
    extra = np.asarray([t for t in doses if 0.0 <= t <= t_end], dtype=float)
    return np.union1d(np.union1d(default_times(0.0, t_end), scan_t), extra)


def _check_regimens(model: Model, regimens: object, t_end: float,
                    covariates: Mapping[str, float] | None = None) -> dict[str, Regimen]:
    if not isinstance(regimens, Mapping):
        raise TypeError(f"compare: regimens must be a mapping of name -> schedule, got {type(regimens).__name__}")
    if len(regimens) == 0:
        raise SpecificationError("compare: the regimen set is empty; give at least one name -> schedule")
    out: dict[str, Regimen] = {}
    for name, reg in regimens.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"compare: regimen names must be non-empty strings, got {name!r}")
        if reg is not None and not isinstance(reg, (Schedule, Regimen, AdaptiveRule, Dose, Infusion)):
            raise TypeError(f"compare: regimen {name!r} must be a Schedule, Regimen, AdaptiveRule or None, "
                            f"got {type(reg).__name__}")
        r = as_regimen(reg, f"regimens[{name!r}]")
        for drug in sorted(r.drugs):
            if drug not in model.drugs.names:
                raise UnknownNameError("drug", drug, model.drugs.names, f"regimen {name!r} (model {model.name!r})")
        r = r.resolved(model, covariates)  # doses per kg or per m² -> the patient's amounts
        r.validate(model, t_end=t_end, where=f"regimen {name!r}")
        out[name] = r
    return out


def compare(
    model: Model,
    regimens: Mapping[str, Schedule | Regimen | AdaptiveRule | None],
    t_end: float = 365.0,
    scans: ro.ScanPlan | None = None,
    *,
    params: Mapping[str, float] | None = None,
    initial: Mapping[str, float] | None = None,
    durable_months: float = 6.0,
    diameter: str | ro.Lesion | Sequence[ro.Lesion] = "lesion_diameter",
    min_measurable: float = 10.0,
    solver: Solver | None = None,
    method: str | None = None,
    rtol: float | None = None,
    progress: bool | None = None,
    covariates: Mapping[str, float] | None = None,
) -> Comparison:
    """Simulate one model under several regimens and tabulate the clinical readouts.

    Parameters
    ----------
    model : Model
        The model (e.g. ``tumordyn.models.tumor_immune_tme()``).
    regimens : mapping of str to Schedule, Regimen, AdaptiveRule or None
        Regimens by name (``None`` = untreated); see :mod:`tumordyn.regimens`.
    t_end : float
        Horizon (days), default 365.
    scans : ScanPlan, optional
        When the tumor is scanned; default every 56 days (8 weeks) from day 0. Every
        scan must lie within ``[0, t_end]``.
    params : mapping, optional
        Parameter overrides, the same for every regimen.
    initial : mapping, optional
        Initial-state overrides.
    durable_months : float
        Months a response must last to count as durable (default 6).
    diameter : str, Lesion or sequence of Lesion
        Measured lesion(s) for RECIST/iRECIST (mm; default ``"lesion_diameter"``, or every
        ``<prefix>_lesion_diameter`` of a multi-lesion model; see :func:`tumordyn.readouts.recist`). A model
        without it gets no RECIST, iRECIST, time-to-progression or response columns: a
        :class:`~tumordyn.errors.ReadoutWarning` says so; naming an observable the model lacks is an
        error.
    min_measurable : float
        Smallest measurable baseline lesion for RECIST/iRECIST (mm, default 10, RECIST 1.1).
    solver : Solver, optional
        How to integrate every regimen (as for :func:`tumordyn.simulate`); default ``td.Solver()``.
    method, rtol : optional
        Shorthand for the same settings of :class:`~tumordyn.Solver` (give these or ``solver``).
    progress : bool, optional
        Show a progress bar over the regimens (``tqdm.auto``); default: when stderr is a terminal or in
        a Jupyter kernel. ``False`` prints nothing.
    covariates : mapping, optional
        The patient's body weight ``weight_kg`` (kg) and/or body-surface area ``bsa_m2`` (m²), for
        regimens dosed per kg (``unit="mg/kg"``) or per m² (``"mg/m^2"``), as in
        :func:`tumordyn.simulate`; :attr:`Comparison.regimens` hold the converted amounts.

    Returns
    -------
    Comparison
        ``to_dataframe()`` has one row per regimen (indexed by name), ``plot()``
        draws the figure, ``str()`` is a readable table.

    Raises
    ------
    SpecificationError
        For an empty regimen set, a scan plan outside the horizon, a dose after it, or both
        ``solver`` and ``method``/``rtol``.
    UnknownNameError
        For a regimen naming a drug the model lacks (the regimen is named).

    Examples
    --------
    >>> import tumordyn as td
    >>> m = td.models.tumor_immune_tme()
    >>> cmp = td.compare(m, {"none": None, "anti-PD-1": td.regimens.monotherapy("anti_pd1", t_end=112)},
    ...                  t_end=112)
    >>> list(cmp.to_dataframe().index)
    ['none', 'anti-PD-1']
    """
    from ..spec import Model
    from ..trajectory import make_solver, simulate

    slv = make_solver(solver, method=method, rtol=rtol)
    if not isinstance(model, Model):
        raise TypeError(f"compare: model must be a tumordyn Model, got {type(model).__name__}")
    if isinstance(t_end, bool) or not isinstance(t_end, (int, float)) or not (math.isfinite(t_end) and t_end > 0):
        raise SpecificationError(f"compare: t_end must be a finite number of days > 0, got {t_end!r}")
    t_end = float(t_end)
    plan = ro.ScanPlan() if scans is None else scans
    if not isinstance(plan, ro.ScanPlan):
        raise TypeError(f"compare: scans must be a ScanPlan, got {type(plan).__name__}")
    scan_t = plan.times_for(0.0, t_end)
    if covariates is not None and not isinstance(covariates, Mapping):
        raise TypeError(f"compare: covariates must be a mapping such as {{'weight_kg': 70}}, got {covariates!r}")
    regs = _check_regimens(model, regimens, t_end, covariates)
    measured = model.states.names + model.observables.names
    if not _has_lesions(measured, diameter):
        if diameter != "lesion_diameter":
            raise UnknownNameError("state or observable", diameter, measured, "compare(diameter=...)")
        warnings.warn(
            f"compare: model {model.name!r} has no 'lesion_diameter' observable, so the RECIST, iRECIST, "
            "time-to-progression and response columns are left out; pass diameter= naming an observable "
            "in mm to get them",
            ReadoutWarning,
            stacklevel=2,
        )
    items = list(regs.items())
    trajs: dict[str, Trajectory] = {}
    rows = []
    with progress_bar(progress, total=len(items), desc="regimens", unit="regimen") as bar:
        for name, reg in items:
            tr = simulate(model, reg, t_end=t_end, t_eval=output_times(reg, t_end, scan_t), params=params,
                          initial=initial, solver=slv)
            trajs[name] = tr
            rows.append(readout_row(tr, plan, durable_months=durable_months, diameter=diameter,
                                    min_measurable=min_measurable))
            bar.update(1)
    import pandas as pd

    df = pd.DataFrame(rows, index=pd.Index([n for n, _ in items], name="regimen"))
    return Comparison(model, MappingProxyType(dict(regs)), MappingProxyType(trajs), df, plan, t_end,
                      durable_months)


class Comparison:
    """The result of :func:`compare`: trajectories and readouts of several regimens.

    Attributes
    ----------
    model : Model
        The model simulated.
    regimens : mapping of str to Regimen
        The regimens as given (read-only mapping).
    trajectories : mapping of str to Trajectory
        One trajectory per regimen (read-only mapping); ``traj.schedule`` is the
        realised schedule.
    scans : ScanPlan
        The scan plan used.
    t_end : float
        Horizon (days).
    durable_months : float
        Months a response had to last to be durable.
    """

    def __init__(self, model: Model, regimens: Mapping[str, Regimen], trajectories: Mapping[str, Trajectory],
                 table: pd.DataFrame, scans: ro.ScanPlan, t_end: float, durable_months: float) -> None:
        self.model = model
        self.regimens = regimens
        self.trajectories = trajectories
        self._df = table
        self.scans = scans
        self.t_end = t_end
        self.durable_months = durable_months

    def __len__(self) -> int:
        return len(self.trajectories)

    def __getitem__(self, name: str) -> Trajectory:
        """The trajectory of a regimen, by name."""
        if name not in self.trajectories:
            raise UnknownNameError("regimen", name, tuple(self.trajectories), "comparison")
        return self.trajectories[name]

    def to_dataframe(self) -> pd.DataFrame:
        """The readouts, one row per regimen (indexed by name), one column per readout.

        Columns and units: see :data:`tumordyn.comparison.COLUMN_HELP` and the *Compare*
        docs page; ``auc_<drug>`` (drug concentration × day) and ``doses_<drug>``.
        Times not reached within the horizon are ``inf``.

        Returns
        -------
        pandas.DataFrame
            A copy (changing it does not change the comparison).
        """
        return self._df.copy()

    def table(self, columns: list[str] | tuple[str, ...] | None = None, *, full: bool = False,
              headers: str = "short") -> str:
        """A readable text table of the readouts.

        Parameters
        ----------
        columns : sequence of str, optional
            Columns to show; default :data:`KEY_COLUMNS` plus the dose counts (all
            columns with ``full=True``).
        full : bool
            Show every column.
        headers : {"short", "names"}
            Readable headers (:data:`TABLE_HEADERS`, e.g. ``"TTP scans (d)"``; the default) or the
            :meth:`to_dataframe` column names (``"ttp_scans_days"``). The *Compare* docs page has a
            glossary of both.

        Returns
        -------
        str
            The table, followed by the horizon and the scan plan.
        """
        df = self._df
        if full:
            cols = list(df.columns)
        elif columns is None:
            cols = [c for c in KEY_COLUMNS if c in df.columns] + [c for c in df.columns if c.startswith("doses_")]
        else:
            cols = list(columns)
            for c in cols:
                if c not in df.columns:
                    raise UnknownNameError("readout column", c, tuple(df.columns), "comparison table")
        horizon = f">{self.t_end:g}"

        def fmt(col: str, v: Any) -> str:
            if isinstance(v, (bool, np.bool_)):
                return "yes" if v else "no"
            if isinstance(v, (int, np.integer)):
                return str(int(v))
            if isinstance(v, (float, np.floating)):
                if math.isinf(v):
                    return horizon
                if math.isnan(v):
                    return "-"
                if col.endswith("_pct"):
                    return f"{v:+.0f}%"
                if col.endswith(("_day", "_days")):
                    return f"{v:.0f}"
                return f"{v:.3g}"
            return str(v)

        if headers not in ("short", "names"):
            raise SpecificationError(f"`headers` must be 'short' or 'names', got {headers!r}")
        header = ["regimen"] + [c if headers == "names" else table_header(c) for c in cols]
        body = [[str(name)] + [fmt(c, df.loc[name, c]) for c in cols] for name in df.index]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
        lines.append("  ".join("-" * w for w in widths))
        for r in body:
            lines.append("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))))
        plan = self.scans
        scan_txt = (f"scans every {plan.interval:g} days from day {plan.start or 0.0:g}" if plan.times is None
                    else f"scans at days {', '.join(f'{t:g}' for t in plan.times)}")
        lines.append(f"horizon {self.t_end:g} days; {scan_txt}; '{horizon}' = not reached; "
                     f"durable = response >= {self.durable_months:g} months")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<Comparison of {len(self)} regimens on model {self.model.name!r} over {self.t_end:g} days: "
                f"{', '.join(self.trajectories)}>")

    def plot(self, ax: Any = None, *, burden: str = "tumor_burden") -> Any:
        """The comparison figure.

        Panels: tumor burden (log axis, cells) with the scan times marked and the
        dose timeline of the realised schedules under it; resistant fraction R/(S+R);
        effector (solid) and exhausted (dashed) T cells; and bars of the key readouts
        (time to progression, continuous; best % change of the measured diameter).
        Panels whose quantities the model lacks are left empty with a note.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or sequence of 6 Axes, optional
            One Axes: only the tumor-burden panel is drawn on it. Six axes (e.g. from
            ``plt.subplots(3, 2)``): the panels in the order burden, dose timeline, resistant
            fraction, T cells, time to progression, best % change. Default: a new figure.
        burden : str
            The tumor-burden observable.

        Returns
        -------
        matplotlib.figure.Figure or matplotlib.axes.Axes or list of Axes
            The new figure without ``ax``; else the axes given.
        """
        import matplotlib.pyplot as plt
        from matplotlib.axes import Axes

        from .._plotting import panels
        from .plots import dose_timeline

        names = list(self.trajectories)
        colors = {n: f"C{i % 10}" for i, n in enumerate(names)}
        if isinstance(ax, Axes):
            self._plot_burden(ax, burden, colors)
            return ax
        given: Any = None
        if ax is None:
            fig = plt.figure(figsize=(14, 10), layout="constrained")
            gs = fig.add_gridspec(3, 2, height_ratios=[2.2, 0.35 * len(names) + 0.6, 1.6])
            ax_b = fig.add_subplot(gs[0, 0])
            ax_d = fig.add_subplot(gs[1, 0], sharex=ax_b)
            ax_r = fig.add_subplot(gs[0, 1])
            ax_t = fig.add_subplot(gs[1, 1], sharex=ax_r)
            ax_ttp = fig.add_subplot(gs[2, 0])
            ax_bp = fig.add_subplot(gs[2, 1])
        else:
            fig, given = panels(ax, 6, 2, panel_size=(7, 3), where="Comparison.plot")
            ax_b, ax_d, ax_r, ax_t, ax_ttp, ax_bp = given
        ax_given = ax
        self._plot_burden(ax_b, burden, colors)
        for n, tr in self.trajectories.items():
            if {"S", "R"} <= set(tr.names):
                ax_r.plot(tr.t, ro.resistant_fraction(tr), color=colors[n], label=n)
            if {"E", "X"} <= set(tr.names):
                ax_t.plot(tr.t, np.maximum(tr["E"], 1e-1), color=colors[n], lw=1.2)
                ax_t.plot(tr.t, np.maximum(tr["X"], 1e-1), color=colors[n], lw=1.0, ls="--")
        if given is None:  # the dose timeline under it carries the time axis
            ax_b.tick_params(labelbottom=False)
            ax_b.set_xlabel("")
        dose_timeline({n: tr.schedule for n, tr in self.trajectories.items()}, ax=ax_d, t_end=self.t_end,
                      events={n: getattr(tr, "events", ()) for n, tr in self.trajectories.items()})
        ax_d.set_title("doses given", fontsize="small")
        ax_r.set_ylim(-0.02, 1.02)
        ax_r.set_ylabel("resistant fraction R/(S+R)")
        ax_r.set_title("resistant fraction")
        ax_r.tick_params(labelbottom=False)
        ax_t.set_yscale("log")
        ax_t.set_ylabel("T cells (cells)")
        ax_t.set_title("T cells: effector (solid), exhausted (dashed)", fontsize="small")
        ax_t.set_xlabel("time (days)")
        df = self._df
        ypos = np.arange(len(names))[::-1]
        if "ttp_continuous_days" in df.columns:
            ttp = df["ttp_continuous_days"].to_numpy(dtype=float)
            shown = np.where(np.isinf(ttp), self.t_end, ttp)
            bars = ax_ttp.barh(ypos, shown, color=[colors[n] for n in names])
            for b, v in zip(bars, ttp):
                if np.isinf(v):
                    b.set_hatch("//")
                    b.set_alpha(0.6)
            ax_ttp.set_xlim(0, self.t_end * 1.02)
            ax_ttp.set_title("time to progression, continuous (hatched: none by the horizon)", fontsize="small")
            ax_ttp.set_xlabel("days")
        else:
            ax_ttp.text(0.5, 0.5, "no diameter observable", ha="center", transform=ax_ttp.transAxes)
        if "best_change_diameter_pct" in df.columns:
            bp = df["best_change_diameter_pct"].to_numpy(dtype=float)
            ax_bp.barh(ypos, bp, color=[colors[n] for n in names])
            ax_bp.axvline(-30, color="k", ls=":", lw=0.8)
            ax_bp.axvline(0, color="k", lw=0.6)
            if "recist_bor" in df.columns:
                for y, v, lab in zip(ypos, bp, df["recist_bor"]):
                    ax_bp.text(v, y, f" {lab} ", va="center", ha="right" if v < 0 else "left", fontsize="x-small")
            ax_bp.set_title("best % change of lesion diameter (dotted: PR at -30%), RECIST BOR", fontsize="small")
            ax_bp.set_xlabel("%")
        for ax in (ax_ttp, ax_bp):
            ax.set_yticks(ypos)
            ax.set_yticklabels(names, fontsize="x-small")
        if given is not None:
            return ax_given
        fig.suptitle(f"{self.model.name}: {len(names)} regimens over {self.t_end:g} days")
        return fig

    def _plot_burden(self, ax: Any, burden: str, colors: Mapping[str, str]) -> None:
        """The tumor-burden panel: one line per regimen on a log axis (unit from the model), scans in grey."""
        from .._plotting import unit_of

        for n, tr in self.trajectories.items():
            if burden in tr.names:
                ax.plot(tr.t, np.maximum(tr[burden], 1e-1), color=colors[n], label=n)
        for t in self.scans.times_for(0.0, self.t_end):
            ax.axvline(t, color="0.85", lw=0.8, zorder=0)
        ax.set_yscale("log")
        ax.set_ylabel(f"{burden} ({unit_of(self.model, burden) or 'cells'})")
        ax.set_xlabel("time (days)")
        ax.set_title("tumor burden (grey lines: scans)")
        ax.legend(fontsize="x-small", ncol=2, loc="best")
