"""Hypothesis strategies to test any tumordyn model the way tumordyn tests its own.

This module needs `hypothesis <https://hypothesis.readthedocs.io>`_ (in the
``test`` extra: ``pip install "tumordyn[test]"``); it is not imported by
``import tumordyn``. Import it explicitly::

    import tumordyn as td
    from tumordyn.testing import parameters, initial_states, schedules
    from hypothesis import given

    model = td.models.tumor_immune_tme()

    @given(p=parameters(model), y0=initial_states(model), s=schedules(model, t_end=60))
    def test_positivity(p, y0, s):
        traj = td.simulate(model, s, t_end=60, params=p, initial=y0)
        assert (traj.y >= -compile_model(model).atol).all()

Sampling choices (see ``docs/invariants.md``):

* parameters are drawn *near their defaults* by default (``around_defaults=2``:
  log-uniformly in ``[default/2, default*2]`` clipped to the bounds), because the
  far corners of wide published ranges make solves stiff and slow and say little
  about the model as calibrated; pass ``around_defaults=None`` to sample the full
  bounds (log-uniformly when ``low > 0`` and ``high/low > 10``, else uniformly;
  an infinite bound is replaced by 1000 × the default, or 1000 if the default is 0);
* a parameter or state whose default is 0 stays 0 unless you give it a range;
* dose times are uniform in the window (optionally on a grid), amounts uniform in
  ``[0, max_amount]``, so zero doses and coincident doses occur.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "tumordyn.testing needs hypothesis: install the 'test' extra, pip install \"tumordyn[test]\""
    ) from exc

from .spec import Model
from .dosing import Dose, Infusion, Schedule
from .errors import SpecificationError, UnknownNameError

__all__ = ["parameters", "initial_states", "schedules", "models", "value_in", "BUILTIN_MODELS"]


def _check_model(model: object) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"expected a tumordyn Model, got {type(model).__name__}")
    return model


def value_in(low: float, high: float, *, log: bool | None = None) -> st.SearchStrategy[float]:
    """Floats in ``[low, high]``, log-uniform for wide positive ranges.

    Parameters
    ----------
    low, high : float
        Finite bounds, ``low <= high`` (in the quantity's unit).
    log : bool, optional
        Sample ``log(x)`` uniformly. Default: when ``low > 0`` and ``high / low > 10``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of float
        Values guaranteed to lie in ``[low, high]``.
    """
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise SpecificationError(f"value_in() needs finite bounds with low <= high, got [{low}, {high}]")
    if low == high:
        return st.just(low)
    if log is None:
        log = low > 0 and high / low > 10
    if log:
        if low <= 0:
            raise SpecificationError(f"log-uniform sampling needs low > 0, got [{low}, {high}]")
        lo, hi = math.log(low), math.log(high)
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(
            lambda x: min(max(math.exp(x), low), high)
        )
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _range_near(default: float, lo: float, hi: float, factor: float | None) -> tuple[float, float]:
    if factor is None:
        if not math.isfinite(hi):
            hi = 1000.0 * default if default > 0 else 1000.0
        if not math.isfinite(lo):
            lo = -1000.0 * abs(default) if default != 0 else -1000.0
        return lo, max(lo, hi)
    if default > 0:
        a, b = default / factor, default * factor
    elif default < 0:
        a, b = default * factor, default / factor
    else:
        a = b = 0.0
    a, b = max(a, lo), min(b, hi)
    return a, max(a, b)


def _names(model: Model, names: Iterable[str] | None, kind: str) -> list[str]:
    coll = model.parameters if kind == "parameter" else model.states
    if names is None:
        return list(coll.names)
    if isinstance(names, str):
        names = [names]
    out = list(names)
    for n in out:
        if n not in coll:
            raise UnknownNameError(kind, n, coll.names, f"model {model.name!r}")
    return out


def parameters(
    model: Model,
    *,
    names: Iterable[str] | None = None,
    around_defaults: float | None = 2.0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    log_floor: float | None = None,
) -> st.SearchStrategy[dict[str, float]]:
    """Parameter dictionaries within the model's bounds.

    Parameters
    ----------
    model : Model
        The model.
    names : iterable of str, optional
        Parameters to vary (default: all); the others keep their defaults
        (they are left out of the dictionary).
    around_defaults : float or None, optional
        Sample log-uniformly in ``[default / f, default * f]`` clipped to the
        bounds (default ``f = 2``); ``None`` samples the whole bounds.
    ranges : mapping, optional
        Explicit ``(low, high)`` per parameter (in its unit), clipped to its bounds.
    fixed : mapping, optional
        Values to use as they are (checked against the bounds).
    log_floor : float, optional
        Full-bounds log-uniform draws (with ``around_defaults=None``): a range whose low end is 0 is
        drawn log-uniformly in ``[log_floor, high]`` (and exactly 0 about one time in eight) instead
        of uniformly, so tiny values — the far corner of the bounds where solvers struggle — are
        sampled as often as large ones. E.g. ``log_floor=1e-300`` reaches near-subnormal values.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of dict
        Dictionaries ``{name: value}`` to pass as ``td.simulate(..., params=...)``.

    Raises
    ------
    UnknownNameError
        For a name that is not a parameter of the model.
    """
    model = _check_model(model)
    if around_defaults is not None and not (isinstance(around_defaults, (int, float)) and around_defaults >= 1):
        raise SpecificationError(f"around_defaults must be a factor >= 1 or None, got {around_defaults!r}")
    chosen = _names(model, names, "parameter")
    ranges = dict(ranges or {})
    fixed = dict(fixed or {})
    _names(model, [*ranges, *fixed], "parameter")
    if log_floor is not None and not (isinstance(log_floor, (int, float)) and not isinstance(log_floor, bool)
                                      and 0 < log_floor < math.inf):
        raise SpecificationError(f"log_floor must be a finite number > 0 or None, got {log_floor!r}")
    out: dict[str, st.SearchStrategy[float]] = {}
    for n in chosen:
        p = model.parameters[n]
        lo, hi = p.bounds
        if n in fixed:
            out[n] = st.just(p.check_value(fixed[n], "fixed"))
            continue
        if n in ranges:
            a, b = ranges[n]
            a, b = max(float(a), lo), min(float(b), hi)
            if a > b:
                raise SpecificationError(f"range of parameter {n!r} does not meet its bounds [{lo}, {hi}]")
        else:
            a, b = _range_near(p.default, lo, hi, around_defaults)
        if log_floor is not None and a == 0.0 and b > log_floor:
            out[n] = st.one_of(st.just(0.0), *[value_in(float(log_floor), b, log=True)] * 7)
        else:
            out[n] = value_in(a, b)
    for n in fixed:
        if n not in out:
            out[n] = st.just(model.parameters[n].check_value(fixed[n], "fixed"))
    return st.fixed_dictionaries(out)


def initial_states(
    model: Model,
    *,
    names: Iterable[str] | None = None,
    around_defaults: float = 10.0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
) -> st.SearchStrategy[dict[str, float]]:
    """Initial-state dictionaries near the defaults.

    Parameters
    ----------
    model : Model
        The model.
    names : iterable of str, optional
        States to vary (default: all).
    around_defaults : float, optional
        A non-negative state with default ``d > 0`` is drawn log-uniformly in
        ``[d / f, d * f]`` (default ``f = 10``); a state with default 0 stays 0
        (drug concentrations before treatment) unless given in ``ranges``; a
        state that may be negative is drawn uniformly in ``d ± (f - 1) max(|d|, 1)``.
    ranges : mapping, optional
        Explicit ``(low, high)`` per state (in its unit); non-negative states are clipped at 0.
    fixed : mapping, optional
        Values used as they are (e.g. ``{"S": 0, "R": 0}`` for a tumor-free start).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of dict
        Dictionaries ``{state: value}`` for ``td.simulate(..., initial=...)``.
    """
    model = _check_model(model)
    if not (isinstance(around_defaults, (int, float)) and around_defaults >= 1):
        raise SpecificationError(f"around_defaults must be a factor >= 1, got {around_defaults!r}")
    chosen = _names(model, names, "state")
    ranges = dict(ranges or {})
    fixed = dict(fixed or {})
    _names(model, [*ranges, *fixed], "state")
    out: dict[str, st.SearchStrategy[float]] = {}
    for n in chosen:
        s = model.states[n]
        if n in fixed:
            continue
        if n in ranges:
            a, b = (float(x) for x in ranges[n])
            if s.nonnegative:
                a = max(a, 0.0)
            if a > b:
                raise SpecificationError(f"range of state {n!r} is empty (non-negative states start at 0)")
            out[n] = value_in(a, b)
        elif s.nonnegative:
            out[n] = value_in(*_range_near(s.initial, 0.0, math.inf, around_defaults)) if s.initial > 0 else st.just(0.0)
        else:
            w = (around_defaults - 1) * max(abs(s.initial), 1.0)
            out[n] = value_in(s.initial - w, s.initial + w)
    for n, v in fixed.items():
        v = float(v)
        if model.states[n].nonnegative and v < 0:
            raise SpecificationError(f"fixed initial value of non-negative state {n!r} is {v}; it must be >= 0")
        out[n] = st.just(v)
    return st.fixed_dictionaries(out)


def _per_drug(value: float | Mapping[str, float], drugs: list[str], what: str) -> dict[str, float]:
    if isinstance(value, Mapping):
        missing = [d for d in drugs if d not in value]
        if missing:
            raise SpecificationError(f"{what} gives no value for drug(s) {missing}")
        out = {d: float(value[d]) for d in drugs}
    else:
        out = {d: float(value) for d in drugs}
    for d, v in out.items():
        if not (math.isfinite(v) and v >= 0):
            raise SpecificationError(f"{what} for drug {d!r} must be finite and >= 0, got {v}")
    return out


def schedules(
    model: Model,
    t_end: float,
    *,
    t0: float = 0.0,
    drugs: Iterable[str] | None = None,
    max_doses: int = 5,
    max_infusions: int = 1,
    max_amount: float | Mapping[str, float] = 100.0,
    max_rate: float | Mapping[str, float] = 10.0,
    time_step: float | None = None,
    resolution: float = 1e-6,
) -> st.SearchStrategy[Schedule]:
    """Random schedules of the model's drugs within ``[t0, t_end]``.

    Parameters
    ----------
    model : Model
        The model (its drugs decide what can be dosed: drugs with a
        compartment take bolus doses and infusions, direct-input drugs take
        infusions only).
    t_end : float
        End of the window (days).
    t0 : float, optional
        Start of the window (days), default 0.
    drugs : iterable of str, optional
        Drugs to use (default: all of the model's).
    max_doses : int, optional
        Largest number of bolus doses (0 for none), default 5.
    max_infusions : int, optional
        Largest number of infusions, default 1.
    max_amount : float or mapping, optional
        Largest dose amount (dose unit, e.g. mg), for all drugs or per drug; amounts are uniform in ``[0, max]``.
    max_rate : float or mapping, optional
        Largest infusion rate (dose unit per day), for all drugs or per drug.
        For a direct-input drug this is its largest level (e.g. 1 for on/off drugs).
    time_step : float, optional
        Put dose times and infusion edges on multiples of ``time_step`` days
        after ``t0`` (makes coincident doses likely); default: any time on the
        ``resolution`` grid.
    resolution : float, optional
        Without ``time_step``, times are rounded to multiples of this many days
        after ``t0`` (default 1e-6 day, about 0.1 s; 0 for any float, which
        includes times such as 5e-324 that no schedule means).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Schedule
    """
    model = _check_model(model)
    t0, t_end = float(t0), float(t_end)
    if not (math.isfinite(t0) and math.isfinite(t_end) and 0 <= t0 < t_end):
        raise SpecificationError(f"schedules() needs 0 <= t0 < t_end (days), got t0={t0}, t_end={t_end}")
    names = list(model.drugs.names) if drugs is None else ([drugs] if isinstance(drugs, str) else list(drugs))
    for d in names:
        if d not in model.drugs:
            raise UnknownNameError("drug", d, model.drugs.names, f"model {model.name!r}")
    if max_doses < 0 or max_infusions < 0:
        raise SpecificationError("max_doses and max_infusions must be >= 0")
    bolus = [d for d in names if model.drugs[d].compartment is not None]
    amounts = _per_drug(max_amount, names, "max_amount")
    rates = _per_drug(max_rate, names, "max_rate")
    if time_step is not None:
        if not (time_step > 0 and math.isfinite(time_step)):
            raise SpecificationError(f"time_step must be > 0 days, got {time_step}")
        n_steps = int(math.floor((t_end - t0) / time_step + 1e-9))
        times: st.SearchStrategy[float] = st.integers(0, n_steps).map(lambda k: min(t0 + k * time_step, t_end))
    elif resolution > 0:
        n_res = int(math.floor((t_end - t0) / resolution + 1e-9))
        times = st.integers(0, n_res).map(lambda k: min(t0 + k * resolution, t_end))
    elif resolution == 0:
        times = st.floats(t0, t_end, allow_nan=False)
    else:
        raise SpecificationError(f"resolution must be >= 0 days, got {resolution}")

    dose_st: st.SearchStrategy[list[Dose]] = st.just([])
    if bolus and max_doses > 0:
        dose_st = st.lists(
            st.sampled_from(bolus).flatmap(
                lambda d: st.builds(Dose, times, st.just(d), st.floats(0.0, amounts[d], allow_nan=False))
            ),
            max_size=max_doses,
        )

    def infusion(d: str) -> st.SearchStrategy[Infusion]:
        return st.tuples(times, times, st.floats(0.0, rates[d], allow_nan=False)).filter(
            lambda x: x[0] != x[1]
        ).map(lambda x: Infusion(d, min(x[0], x[1]), max(x[0], x[1]), x[2]))

    inf_st: st.SearchStrategy[list[Infusion]] = st.just([])
    if names and max_infusions > 0:
        inf_st = st.lists(st.sampled_from(names).flatmap(infusion), max_size=max_infusions)
    return st.builds(lambda ds, infs: Schedule([*ds, *infs]), dose_st, inf_st)


def _builtin_models() -> dict[str, Callable[[], Model]]:
    from . import models as m

    return {
        "tumor_immune_tme": m.tumor_immune_tme,
        "tumor_immune_tme_gompertz": lambda: m.tumor_immune_tme(growth="gompertz"),
        "tumor_immune_tme_switching": lambda: m.tumor_immune_tme(drug_induced_switching=True),
        "tumor_immune_tme_stress_inhibitor": lambda: m.tumor_immune_tme(stress_inhibitor=True),
        "kuznetsov1994": m.kuznetsov1994,
        "zhang2017": m.zhang2017,
        "logistic_growth": m.logistic_growth,
        "gompertz_growth": m.gompertz_growth,
        "one_compartment_pk": m.one_compartment_pk,
    }


#: Names of the built-in model variants :func:`models` draws from.
BUILTIN_MODELS: tuple[str, ...] = tuple(_builtin_models())


def models(names: Iterable[str] | None = None) -> st.SearchStrategy[Model]:
    """Built-in models (and their variants), built once per draw.

    Parameters
    ----------
    names : iterable of str, optional
        Subset of :data:`BUILTIN_MODELS` (default: all).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Model
    """
    factories = _builtin_models()
    chosen = list(factories) if names is None else ([names] if isinstance(names, str) else list(names))
    for n in chosen:
        if n not in factories:
            raise UnknownNameError("built-in model", n, list(factories), "tumordyn.testing.models")
    cache: dict[str, Model] = {}

    def build(n: str) -> Model:
        if n not in cache:
            cache[n] = factories[n]()
        return cache[n]

    return st.sampled_from(chosen).map(build)
