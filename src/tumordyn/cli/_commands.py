"""The sub-commands of ``tumordyn``: each checks its outputs, then its inputs, then computes and writes.

Order, so that a mistake costs nothing: the output paths are checked first (standard library only), then
the model, overrides, treatment and data are built and validated by the library's own checks (an error
names the option), and only then does anything get simulated or fitted.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ._outputs import UsageError, check_outputs, use_file_backend, write_figure, write_table

_REGIMEN_TEXT = {
    "untreated": "no treatment",
    "targeted": "targeted drug 100 mg every 7 days",
    "anti-pd1": "anti-PD-1 200 mg every 21 days",
    "priming": "TME-priming agent 20 mg daily",
    "targeted+anti-pd1": "targeted + anti-PD-1, concurrently",
    "priming>anti-pd1": "priming for the lead time, then anti-PD-1",
    "priming>targeted+anti-pd1": "priming for the lead time, then targeted + anti-PD-1",
    "adaptive-targeted": "targeted weekly, paused below 50% of baseline burden, resumed at baseline",
}


# ------------------------------------------------------------------------------------ helpers
def _sayer(args: argparse.Namespace, to_stderr: bool = False) -> Callable[[str], None]:
    """print, unless --quiet; to stderr when stdout carries a table (``--table -``)."""
    if args.progress is False:
        return lambda text: None
    stream = sys.stderr if to_stderr else sys.stdout
    return lambda text: print(text, file=stream)


def _guard(option: str, text: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a library error about the value becomes a :class:`UsageError` naming ``option`` and ``text``."""
    from ..errors import SpecificationError, UnknownNameError

    try:
        return fn()
    except (SpecificationError, UnknownNameError, TypeError, ValueError) as err:
        raise UsageError(f"{option} {text}: {err}") from None


def _split_pair(text: str, option: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"{option} {text!r}: expected {what}")
    return name.strip(), value.strip()


def _number(text: str, option: str, context: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} {context}: {text!r} is not a number") from None


def builtin_models() -> dict[str, Callable[[], Any]]:
    """The built-in models: the functions of :mod:`tumordyn.models` that return a Model and need no argument."""
    from .. import models
    from ..spec import Model

    out = {}
    for name in models.__all__:
        fn = getattr(models, name)
        if not inspect.isfunction(fn):
            continue
        sig = inspect.signature(fn)
        if sig.return_annotation not in ("Model", Model):
            continue
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
            out[name] = fn
    return out


def load_model(spec: str) -> Any:
    """A model from ``--model``: a built-in name, a tumordyn model file or an SBML file."""
    from .. import io
    from ..errors import UnknownNameError

    ext = os.path.splitext(spec)[1].lower()
    if ext in (".toml", ".json"):
        reader: Callable[[], Any] = lambda: io.load_model(spec)  # noqa: E731
    elif ext in (".xml", ".sbml"):
        reader = lambda: io.from_sbml(spec)  # noqa: E731
    elif os.path.lexists(spec) or os.sep in spec or (os.altsep and os.altsep in spec):
        raise UsageError(f"--model {spec!r}: a model file must end in .toml or .json (tumordyn model file) or "
                         ".xml or .sbml (SBML)")
    else:
        builders = builtin_models()
        if spec not in builders:
            raise UsageError(f"--model: {UnknownNameError('built-in model', spec, tuple(builders))} "
                             "Or give a model file (.toml, .json, .xml, .sbml).")
        return builders[spec]()
    if not os.path.lexists(spec):
        raise UsageError(f"--model {spec!r}: no such file")
    try:
        return _guard("--model", repr(spec), reader)
    except ImportError as err:  # SBML without the sbml extra
        raise UsageError(f"--model {spec!r}: {err}") from None
    except OSError as err:
        raise UsageError(f"--model {spec!r}: {err.strerror or err}") from None


def build_model(args: argparse.Namespace) -> Any:
    """The model of ``--model`` with the ``--param`` and ``--initial`` overrides (checked by the model)."""
    model = load_model(args.model)
    params: dict[str, float] = {}
    for text in args.param:
        name, value = _split_pair(text, "--param", "NAME=VALUE")
        v = _number(value, "--param", text)
        _guard("--param", text, lambda: model.parameters[name].check_value(v))
        params[name] = v
    initial: dict[str, float] = {}
    for text in args.initial:
        name, value = _split_pair(text, "--initial", "STATE=VALUE")
        initial[name] = _number(value, "--initial", text)
        _guard("--initial", text, lambda: model.states.index(name))
    if params:
        model = _guard("--param", ", ".join(args.param), lambda: model.with_defaults(**params))
    if initial:
        model = _guard("--initial", ", ".join(args.initial), lambda: model.with_initial(**initial))
    return model


def dose_schedule(specs: list[str], t_end: float) -> Any:
    """The schedule of the ``--dose DRUG:AMOUNT:INTERVAL[:START[:UNTIL]]`` options (doses after ``t_end`` dropped)."""
    from ..dosing import Schedule

    total = Schedule()
    for text in specs:
        parts = text.split(":")
        if not 3 <= len(parts) <= 5:
            raise UsageError(f"--dose {text!r}: expected DRUG:AMOUNT:INTERVAL[:START[:UNTIL]]")
        drug = parts[0].strip()
        amount, interval = (_number(x, "--dose", repr(text)) for x in parts[1:3])
        start = _number(parts[3], "--dose", repr(text)) if len(parts) > 3 and parts[3].strip() else 0.0
        until = _number(parts[4], "--dose", repr(text)) if len(parts) > 4 and parts[4].strip() else t_end
        if start > t_end:
            raise UsageError(f"--dose {text!r}: the first dose (day {start:g}) is after the horizon (day {t_end:g})")
        total = total + _guard("--dose", repr(text),
                               lambda: Schedule.every(drug, amount, interval, start=start, until=min(until, t_end)))
    return total


def _load_schedule(path: str, option: str) -> Any:
    from .. import io

    if not os.path.lexists(path):
        raise UsageError(f"{option} {path!r}: no such file")
    try:
        return _guard(option, repr(path), lambda: io.load_schedule(path))
    except OSError as err:
        raise UsageError(f"{option} {path!r}: {err.strerror or err}") from None


def _standard(t_end: float, lead_time: float, wanted: list[str] | None = None) -> dict[str, Any]:
    """The standard regimens named ``wanted`` (default all), unknown names refused; the lead time matters
    only to the ``priming>`` regimens (so a horizon shorter than it is fine without them)."""
    from .. import regimens
    from ..errors import UnknownNameError

    names = list(regimens.STANDARD_REGIMEN_NAMES) if wanted is None else wanted
    for n in names:
        if n not in regimens.STANDARD_REGIMEN_NAMES:
            raise UsageError(f"{'--regimen' if wanted and len(wanted) == 1 else '--regimens'}: "
                             f"{UnknownNameError('regimen', n, regimens.STANDARD_REGIMEN_NAMES)}")
    if not any(">" in n for n in names):
        lead_time = 0.0  # not used by these regimens
    std = _guard("--lead-time", _g(lead_time), lambda: regimens.standard_regimens(None, t_end, lead_time=lead_time))
    return {n: std[n] for n in names}


def one_schedule(args: argparse.Namespace, model: Any, t_end: float) -> Any:
    """The treatment of simulate/fit: ``--regimen`` + ``--schedule`` files + ``--dose`` options, checked
    against the model's drugs and the horizon."""
    from ..dosing import Schedule, as_regimen

    pieces: list[tuple[str, str, Any]] = []  # (option, text, schedule or regimen)
    if args.regimen:
        name = args.regimen.replace("-then-", ">")
        pieces.append(("--regimen", repr(args.regimen), _standard(t_end, args.lead_time, [name])[name]))
    for path in args.schedule:
        pieces.append(("--schedule", repr(path), _load_schedule(path, "--schedule")))
    if args.dose:
        pieces.append(("--dose", ", ".join(args.dose), dose_schedule(args.dose, t_end)))
    total: Any = Schedule()
    for option, text, piece in pieces:
        reg = as_regimen(piece)
        _guard(option, text, lambda: reg.validate(model, t_end=t_end))
        total = total + piece
    return total


def regimen_set(args: argparse.Namespace, model: Any, t_end: float) -> dict[str, Any]:
    """The named regimens of compare/cohort: ``--regimens`` (standard), ``--schedule [NAME=]FILE`` files and
    one regimen of the ``--dose`` options; default all standard regimens when the model has their drugs."""
    from ..dosing import Schedule, as_regimen
    from ..models import STANDARD_DOSES

    regs: dict[str, Any] = {}
    if args.regimens:
        # '-then-' spells '>' without shell quoting: priming-then-anti-pd1 is priming>anti-pd1
        wanted = [w.strip().replace("-then-", ">") for w in args.regimens.split(",") if w.strip()]
        regs.update(_standard(t_end, args.lead_time, wanted))
    for spec in args.schedule:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = os.path.splitext(os.path.basename(spec))[0], spec
        if name in regs:
            raise UsageError(f"--schedule {spec!r}: a regimen named {name!r} is already given")
        regs[name] = _load_schedule(path, "--schedule")
    if args.dose:
        if args.dose_name in regs:
            raise UsageError(f"--dose-name {args.dose_name!r}: a regimen of that name is already given")
        regs[args.dose_name] = dose_schedule(args.dose, t_end)
    if not regs:
        has_drugs = set(STANDARD_DOSES) <= set(model.drugs.names)
        regs = _standard(t_end, args.lead_time) if has_drugs else {"untreated": Schedule()}
    for name, reg in regs.items():
        r = as_regimen(reg)
        _guard("regimen", repr(name), lambda: r.validate(model, t_end=t_end))
    return regs


def _names(text: str | None, model: Any, option: str) -> list[str] | None:
    from ..errors import UnknownNameError

    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    valid = tuple(model.states.names) + tuple(model.observables.names)
    for n in names:
        if n not in valid:
            raise UsageError(f"{option}: {UnknownNameError('state or observable', n, valid, f'model {model.name!r}')}")
    return names


def _list_regimens() -> int:
    from ..regimens import STANDARD_REGIMEN_NAMES

    for n in STANDARD_REGIMEN_NAMES:
        print(f"{n:28s} {_REGIMEN_TEXT.get(n, '')}")
    return 0


def _table_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "  " + "  ".join("-" * w for w in widths)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _g(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else ("inf" if x > 0 else "-inf")


# ------------------------------------------------------------------------------------ commands
def cmd_simulate(args: argparse.Namespace) -> int:
    """Run ``tumordyn simulate``: one model under one regimen; write the trajectory table (CSV/Parquet, times
    in days, states in their model units) and a figure.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see ``tumordyn simulate --help``).

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    check_outputs([(args.table, "--table", "table"), (args.figure, "--figure", "figure")], args.force)
    say = _sayer(args, to_stderr=args.table == "-")
    model = build_model(args)
    schedule = one_schedule(args, model, args.t_end)
    names = _names(args.names, model, "--names")
    import numpy as np

    from ..trajectory import simulate

    t_eval = None
    if args.dt is not None:
        t_eval = np.unique(np.append(np.arange(0.0, args.t_end, args.dt), args.t_end))
    traj = simulate(model, schedule, t_end=args.t_end, t_eval=t_eval, method=args.method, rtol=args.rtol)
    shown = names or list(traj.state_names + traj.observable_names)
    say(f"{model.name}: simulated 0-{_g(args.t_end)} days ({traj.stats.method}, {traj.stats.n_doses_applied} doses applied); "
        "final values:")
    units = {s.name: s.unit for s in model.states} | {o.name: o.unit for o in model.observables}
    say(_table_text(["name", "value", "unit"], [[n, _g(float(traj[n][-1])), units.get(n, "")] for n in shown]))
    if args.table:
        write_table(traj.to_dataframe(names), args.table, say)
    if args.figure:
        use_file_backend()
        ax = traj.plot(names=names)
        write_figure(ax.figure, args.figure, say)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Run ``tumordyn compare``: the model under several regimens; print and write the readout table (days, %,
    mm) and the comparison figure.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see ``tumordyn compare --help``).

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    if args.list_regimens:
        return _list_regimens()
    check_outputs([(args.csv, args.csv_option, "table"),
                   (None if args.no_plot else args.out, args.out_option, "figure")], args.force)
    say = _sayer(args, to_stderr=args.csv == "-")
    model = build_model(args)
    regs = regimen_set(args, model, args.t_end)
    from ..comparison import compare
    from ..readouts import ScanPlan

    scans = _guard("--scan-interval", _g(args.scan_interval), lambda: ScanPlan(interval=args.scan_interval))
    cmp = compare(model, regs, t_end=args.t_end, scans=scans, diameter=args.diameter, method=args.method,
                  rtol=args.rtol, progress=args.progress)
    say(cmp.table(full=args.full))
    if args.csv:
        write_table(cmp.to_dataframe(), args.csv, say)
    if not args.no_plot:
        use_file_backend()
        write_figure(cmp.plot(), args.out, say)
    return 0


_DISTRIBUTIONS = {"lognormal": "LogNormal", "normal": "Normal", "truncnormal": "TruncatedNormal",
                  "uniform": "Uniform", "fixed": "Fixed"}
_CENTRE = {"lognormal": "median", "normal": "mean", "truncnormal": "mean", "fixed": "value"}


def parse_vary(texts: list[str], model: Any) -> dict[str, Any]:
    """``--vary NAME=KIND:key=value,...`` -> distributions by parameter/state name (the centre defaults to
    the model's value of the parameter or state)."""
    import dataclasses

    from .. import cohorts
    from ..errors import UnknownNameError

    out: dict[str, Any] = {}
    for text in texts:
        name, spec = _split_pair(text, "--vary", "NAME=KIND:key=value,... (e.g. r_S=lognormal:cv=0.3)")
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if kind not in _DISTRIBUTIONS:
            raise UsageError(f"--vary {text!r}: {UnknownNameError('distribution', kind, tuple(_DISTRIBUTIONS))}")
        if name in model.parameters.names:
            centre = model.parameters[name].default
        elif name in model.states.names:
            centre = model.states[name].initial
        else:
            valid = tuple(model.parameters.names) + tuple(model.states.names)
            raise UsageError(f"--vary {text!r}: "
                             f"{UnknownNameError('parameter or state', name, valid, f'model {model.name!r}')}")
        cls = getattr(cohorts, _DISTRIBUTIONS[kind])
        fields = [f.name for f in dataclasses.fields(cls)]
        kws: dict[str, float] = {}
        for item in filter(None, (x.strip() for x in rest.split(","))):
            key, value = _split_pair(item, "--vary", f"key=value in {text!r}")
            if key not in fields:
                raise UsageError(f"--vary {text!r}: {UnknownNameError(f'{kind} field', key, fields)}")
            kws[key] = _number(value, "--vary", repr(text))
        if kind in _CENTRE and _CENTRE[kind] not in kws:
            kws[_CENTRE[kind]] = centre
        if name in out:
            raise UsageError(f"--vary {text!r}: {name!r} is given twice")
        out[name] = _guard("--vary", repr(text), lambda: cls(**kws))
    return out


def cmd_cohort(args: argparse.Namespace) -> int:
    """Run ``tumordyn cohort``: a virtual cohort under one or more regimens; write the per-patient readouts
    (days, %, mm), the summary rates and a figure.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see ``tumordyn cohort --help``).

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    if args.list_regimens:
        return _list_regimens()
    check_outputs([(args.table, "--table", "table"), (args.summary, "--summary", "table"),
                   (args.figure, "--figure", "figure")], args.force)
    say = _sayer(args, to_stderr="-" in (args.table, args.summary))
    model = build_model(args)
    regs = regimen_set(args, model, args.t_end)
    dists = parse_vary(args.vary, model)
    _names(args.measure, model, "--measure")
    from ..cohorts import Cohort
    from ..readouts import ScanPlan

    scans = _guard("--scan-interval", _g(args.scan_interval), lambda: ScanPlan(interval=args.scan_interval))
    cohort = _guard("--vary", ", ".join(args.vary) or "(none)", lambda: Cohort(model, dists, n=args.n, seed=args.seed, sampling=args.sampling))
    res = cohort.simulate(regs, t_end=args.t_end, scans=scans, measure=args.measure, run_in=args.run_in,
                          method=args.method, progress=args.progress)
    summary = res.response_rates().join(res.median_ttp().add_prefix("ttp_"))
    say(f"{model.name}: {args.n} patients (seed {cohort.seed}), {len(regs)} regimen(s), {_g(args.t_end)} days; "
        f"{len(res.failures)} failed solve(s)")
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50):
        say(summary.to_string(float_format=lambda x: f"{x:.3g}"))
    if args.table:
        write_table(res.to_dataframe().set_index(["patient", "regimen"]), args.table, say)
    if args.summary:
        write_table(summary, args.summary, say)
    if args.figure:
        use_file_backend()
        write_figure(_cohort_figure(res), args.figure, say)
    return 0


def _cohort_figure(res: Any) -> Any:
    """Waterfall plots (one per regimen, at most 5) and the Kaplan-Meier curves of time to progression."""
    import matplotlib.pyplot as plt

    names = list(res.regimens)[:5]
    n = len(names) + 1
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, name in zip(flat, names):
        res.waterfall(name, ax=ax)
    res.plot_kaplan_meier(ax=flat[len(names)])
    for ax in flat[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _read_data(path: str) -> Any:
    import pandas as pd

    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".parquet"):
        raise UsageError(f"--data {path!r}: unknown data format {ext.lstrip('.')!r} (use .csv or .parquet)")
    if not os.path.isfile(path):
        raise UsageError(f"--data {path!r}: no such file")
    try:
        return pd.read_csv(path) if ext == ".csv" else pd.read_parquet(path)
    except ImportError as err:
        raise UsageError(f"--data {path!r}: {err}") from None
    except (OSError, ValueError) as err:  # pandas' parser errors are ValueErrors
        raise UsageError(f"--data {path!r}: cannot read it: {err}") from None


def cmd_fit(args: argparse.Namespace) -> int:
    """Run ``tumordyn fit``: fit the model to a CSV of measurements (time in days, values in the observable's
    unit); write the estimates with standard errors and the fit figure.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see ``tumordyn fit --help``).

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    check_outputs([(args.table, "--table", "table"), (args.figure, "--figure", "figure")], args.force)
    say = _sayer(args, to_stderr=args.table == "-")
    model = build_model(args)
    data = _read_data(args.data)
    if "observable" not in data.columns:
        if args.observable is None:
            raise UsageError(f"--data {args.data!r} has no 'observable' column; name the quantity measured with "
                             "--observable")
        data["observable"] = args.observable
    elif args.observable is not None:
        data = data[data["observable"] == args.observable]
        if data.empty:
            raise UsageError(f"--observable {args.observable!r}: no row of {args.data!r} has this observable")
    if "subject" not in data.columns:
        data["subject"] = "1"
    free: dict[str, str] = {}
    for text in args.free:
        for item in filter(None, (x.strip() for x in text.split(","))):
            name, _, how = item.partition(":")
            how = how or "shared"
            if how not in ("shared", "subject"):
                raise UsageError(f"--free {item!r}: expected NAME or NAME:subject or NAME:shared")
            _guard("--free", repr(item), lambda: model.parameters.index(name))
            free[name] = how
    init_free = [x.strip() for t in args.initial_free for x in t.split(",") if x.strip()]
    for s in init_free:
        _guard("--initial-free", repr(s), lambda: model.states.index(s))
    schedule = one_schedule(args, model, float(max(1.0, _max_time(data))))
    from ..fitting import fit

    fit_kws: dict[str, Any] = {}
    if args.max_nfev is not None:
        fit_kws["max_nfev"] = args.max_nfev
    bar = None
    if args.progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="fit: residual evaluations", unit="eval")

        def iter_cb(params: Any, it: int, resid: Any, *a: Any, **k: Any) -> None:
            bar.update(1)

        fit_kws["iter_cb"] = iter_cb
    try:
        res = _guard("--data", repr(args.data), lambda: fit(
            model, data, free, schedules=schedule, initial_free=init_free or None, scale=args.scale,
            optimizer=args.optimizer, fit_kws=fit_kws or None))
    finally:
        if bar is not None:
            bar.close()
    table = res.confidence_table(0.95)
    table.index.name = "parameter"
    say(f"{model.name}: fitted {', '.join(free)} to {res.ndata} points of {len(res.subjects)} subject(s) "
        f"({res.optimizer}; success: {res.success}); chi-square {_g(res.chisqr)}, AIC {_g(res.aic)}, "
        f"BIC {_g(res.bic)}")
    say(table.to_string(float_format=lambda x: f"{x:.6g}"))
    if args.table:
        write_table(table, args.table, say)
    if args.figure:
        use_file_backend()
        write_figure(res.plot(), args.figure, say)
    return 0


def _max_time(data: Any) -> float:
    import pandas as pd

    t = pd.to_numeric(data["time"], errors="coerce") if "time" in data.columns else pd.Series([], dtype=float)
    t = t[pd.notna(t)]
    return float(t.max()) if len(t) and math.isfinite(float(t.max())) else 1.0


def cmd_info(args: argparse.Namespace) -> int:
    """Run ``tumordyn info``: print a model's states, parameters (unit, default, bounds, source), drugs and
    observables, or list the built-in models.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (see ``tumordyn info --help``).

    Returns
    -------
    int
        The exit status: 0 on success.
    """
    if args.list_models:
        for name, fn in builtin_models().items():
            doc = (inspect.getdoc(fn) or "").splitlines()
            print(f"{name:22s} {doc[0] if doc else ''}")
        return 0
    if args.list_regimens:
        return _list_regimens()
    m = build_model(args)
    out = [f"Model {m.name!r}: {len(m.states)} states, {len(m.parameters)} parameters, {len(m.processes)} "
           f"processes, {len(m.drugs)} drugs, {len(m.observables)} observables"]
    if m.description:
        out.append(f"  {m.description}")
    out += ["", "States:", _table_text(
        ["name", "initial", "unit", "non-negative", "description"],
        [[s.name, _g(s.initial), s.unit, "yes" if s.nonnegative else "no", s.description] for s in m.states])]
    out += ["", "Parameters:", _table_text(
        ["name", "default", "bounds", "unit", "description", "source"],
        [[p.name, _g(p.default), f"[{_g(p.bounds[0])}, {_g(p.bounds[1])}]", p.unit, p.description, p.source]
         for p in m.parameters])]
    out += ["", "Drugs:", _table_text(
        ["name", "compartment", "volume", "dose unit", "description"],
        [[d.name, d.compartment or "(direct input)", str(d.volume), d.dose_unit, d.description] for d in m.drugs])
        if len(m.drugs) else "  (none)"]
    out += ["", "Processes:", _table_text(
        ["name", "stoichiometry", "rate"],
        [[p.name, " ".join(f"{c:+g} {k}" for k, c in p.stoichiometry.items()), str(p.rate)] for p in m.processes])]
    out += ["", "Observables:", _table_text(
        ["name", "unit", "expression", "description"],
        [[o.name, o.unit, str(o.expr), o.description] for o in m.observables]) if len(m.observables) else "  (none)"]
    print("\n".join(out))
    return 0


COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = {
    "simulate": cmd_simulate,
    "compare": cmd_compare,
    "cohort": cmd_cohort,
    "fit": cmd_fit,
    "info": cmd_info,
}
