"""The argument parser of the ``tumordyn`` command.

Built from the standard library only: ``tumordyn --help`` and ``tumordyn COMMAND --help`` import
neither tumordyn's layers nor numpy, sympy, scipy, pandas or matplotlib (a test holds this).
"""

from __future__ import annotations

import argparse
import math
import os

#: Figure formats written by ``--figure`` (by extension).
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
#: Table formats written by ``--table`` (by extension); Parquet needs pyarrow or fastparquet.
TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")

_MODEL_HELP = ("a built-in model name (see `tumordyn info --list-models`), a tumordyn model file (.toml or "
               ".json, tumordyn.io.load_model) or an SBML file (.xml or .sbml, tumordyn.io.from_sbml); "
               "default: %(default)s")
_DOSE_HELP = ("regular doses DRUG:AMOUNT:INTERVAL[:START[:UNTIL]] (amount in the drug's dose unit, times in "
              "days; START default 0, UNTIL default the horizon, inclusive; doses after the horizon are "
              "dropped); repeat for more drugs, e.g. --dose anti_pd1:200:21 --dose targeted:100:7:14")
_SCHEDULE_FILE_HELP = "a schedule file (.toml or .json, tumordyn.io.load_schedule; see `tumordyn.io`)"


def _positive(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _non_negative(text: str) -> float:
    """A finite number >= 0 (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _count(text: str) -> int:
    """A whole number >= 1 (argparse type)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


class _StoreNamed(argparse.Action):
    """Store the value and the option string the user typed (``dest + "_option"``), so that messages name
    the option as written (``--out`` or its alias ``--figure``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_option", option_string)


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several sub-commands."""
    model = argparse.ArgumentParser(add_help=False)
    g = model.add_argument_group("model")
    g.add_argument("-m", "--model", default="tumor_immune_tme", metavar="NAME|FILE", help=_MODEL_HELP)
    g.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter's value (in its unit; checked against its bounds); repeatable")
    g.add_argument("--initial", action="append", default=[], metavar="STATE=VALUE",
                   help="override a state's initial value (in its unit); repeatable")

    one_schedule = argparse.ArgumentParser(add_help=False)
    g = one_schedule.add_argument_group("treatment (combined: the doses of every option given)")
    g.add_argument("--regimen", default=None, metavar="NAME",
                   help="a standard regimen of tumordyn.regimens by name (see `tumordyn info --list-regimens`)")
    g.add_argument("--schedule", action="append", default=[], metavar="FILE", help=_SCHEDULE_FILE_HELP + "; repeatable")
    g.add_argument("--dose", action="append", default=[], metavar="SPEC", help=_DOSE_HELP)
    g.add_argument("--lead-time", type=_non_negative, default=14.0, metavar="DAYS",
                   help="days of TME priming before immunotherapy in the priming> regimens (default: %(default)g)")

    regimens = argparse.ArgumentParser(add_help=False)
    g = regimens.add_argument_group(
        "regimens (default: all standard regimens for a model with their drugs, else untreated)")
    g.add_argument("--regimens", default=None, metavar="A,B,...",
                   help="comma-separated standard regimen names (see --list-regimens); quote names with '>' in "
                        "the shell, or write '-then-' for '>' (priming-then-anti-pd1)")
    g.add_argument("--schedule", action="append", default=[], metavar="[NAME=]FILE",
                   help=_SCHEDULE_FILE_HELP + ", as a regimen named NAME (default: the file's stem); repeatable")
    g.add_argument("--dose", action="append", default=[], metavar="SPEC",
                   help=_DOSE_HELP + "; together they form one regimen named by --dose-name")
    g.add_argument("--dose-name", default="custom", metavar="NAME",
                   help="name of the regimen made of the --dose options (default: %(default)s)")
    g.add_argument("--lead-time", type=_non_negative, default=14.0, metavar="DAYS",
                   help="days of TME priming before immunotherapy in the priming> regimens (default: %(default)g)")
    g.add_argument("--list-regimens", action="store_true",
                   help="list the standard regimen names with their dosing and exit")

    outputs = argparse.ArgumentParser(add_help=False)
    g = outputs.add_argument_group("output")
    g.add_argument("--force", action="store_true",
                   help="overwrite existing output files (without it, an existing output is an error)")
    g.add_argument("--progress", dest="progress", action="store_const", const=True, default=None,
                   help="show a progress bar (default: only when stderr is a terminal)")
    g.add_argument("-q", "--quiet", dest="progress", action="store_const", const=False,
                   help="print no messages and no progress bar (warnings and errors still go to stderr)")

    solver = argparse.ArgumentParser(add_help=False)
    g = solver.add_argument_group("solver")
    g.add_argument("--method", default=None, metavar="NAME",
                   help="integration method (default: auto; see tumordyn.Solver)")
    g.add_argument("--rtol", type=_positive, default=None, metavar="TOL", help="relative tolerance")
    return {"model": model, "one_schedule": one_schedule, "regimens": regimens, "outputs": outputs,
            "solver": solver}


def _table_help(what: str) -> str:
    return f"write {what} to PATH: CSV (.csv; '-' for standard output) or Parquet (.parquet, needs pyarrow)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tumordyn`` command.

    Returns
    -------
    argparse.ArgumentParser
        Sub-commands ``simulate``, ``compare``, ``cohort``, ``fit`` and ``info``; building it imports
        nothing beyond the standard library.
    """
    import tumordyn  # the package only (its layers load on first use): for __version__

    P = _parents()
    parser = argparse.ArgumentParser(
        prog="tumordyn",
        description="Simulate tumor-immune-TME models under treatment schedules, compare regimens, run virtual "
                    "cohorts and fit models to data. Run `tumordyn COMMAND --help` for each command.",
        epilog="Exit status: 0 success, 2 bad arguments or input (reported before any computation), "
               "1 a failure while computing or writing.",
    )
    parser.add_argument("--version", action="version", version=f"tumordyn {tumordyn.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # -- simulate -------------------------------------------------------------------------------
    s = sub.add_parser(
        "simulate", parents=[P["model"], P["one_schedule"], P["solver"], P["outputs"]],
        help="simulate a model under a treatment schedule",
        description="Simulate a model under a treatment schedule (tumordyn.simulate) and write the time courses "
                    "(a table: one row per output time, one column per state and observable) and a figure "
                    "(Trajectory.plot). Prints the final values.",
    )
    s.add_argument("--t-end", type=_positive, default=365.0, metavar="DAYS",
                   help="simulation horizon in days (default: %(default)g)")
    s.add_argument("--dt", type=_positive, default=None, metavar="DAYS",
                   help="spacing of the output times in days (default: about 4 points a day, at most 2001)")
    s.add_argument("--names", default=None, metavar="A,B,...",
                   help="states/observables to write and plot (default: all in the table; the cell states in "
                        "the figure)")
    s.add_argument("--table", default=None, metavar="PATH", help=_table_help("the time courses"))
    s.add_argument("--figure", default=None, metavar="PATH",
                   help="write the figure to PATH, PNG, PDF or SVG by extension")

    # -- compare --------------------------------------------------------------------------------
    c = sub.add_parser(
        "compare", parents=[P["model"], P["regimens"], P["solver"], P["outputs"]],
        help="compare regimens on a model (clinical readouts)",
        description=(
            "Simulate a model under several regimens (tumordyn.compare), print a table of clinical readouts "
            "(RECIST 1.1 best overall response, best %% change of the measured lesion diameter, time to "
            "progression on the scans and continuously, durable response, pseudoprogression, resistant "
            "fraction, effector/exhausted T-cell ratio, doses given) and write a figure (tumor burden with the "
            "dose timeline, resistant fraction, T cells, key readouts)."
        ),
    )
    c.add_argument("--t-end", type=_positive, default=365.0, metavar="DAYS",
                   help="simulation horizon in days (default: %(default)g)")
    c.add_argument("--scan-interval", type=_positive, default=56.0, metavar="DAYS",
                   help="days between tumor scans, from day 0; RECIST/iRECIST are read at the scans "
                        "(default: %(default)g, every 8 weeks)")
    c.add_argument("--diameter", default="lesion_diameter", metavar="NAME",
                   help="the measured lesion diameter observable (mm) for RECIST (default: %(default)s)")
    c.add_argument("--out", "--figure", dest="out", action=_StoreNamed, default=os.path.join("out", "compare.png"),
                   metavar="PATH",
                   help="where to write the figure, PNG, PDF or SVG by extension (default: %(default)s)")
    c.add_argument("--no-plot", action="store_true", help="do not draw the figure")
    c.add_argument("--csv", "--table", dest="csv", action=_StoreNamed, default=None, metavar="PATH",
                   help=_table_help("every readout column (one row per regimen)"))
    c.add_argument("--full", action="store_true", help="print every readout column, not only the key ones")
    c.set_defaults(out_option="--out", csv_option="--csv")

    # -- cohort ---------------------------------------------------------------------------------
    h = sub.add_parser(
        "cohort", parents=[P["model"], P["regimens"], P["outputs"]],
        help="simulate a virtual patient cohort under regimens",
        description="Sample a virtual cohort (tumordyn.Cohort: between-patient distributions of parameters or "
                    "initial states), simulate every patient under the regimens (Cohort.simulate) and write "
                    "the per-patient readouts and a summary per regimen (response rates with exact "
                    "confidence intervals, median time to progression); prints the summary.",
    )
    h.add_argument("-n", "--n", dest="n", type=_count, default=100, metavar="N",
                   help="number of patients (default: %(default)s)")
    h.add_argument("--seed", type=_seed, default=None, metavar="INT",
                   help="seed of the sampling (default: a fresh seed, printed)")
    h.add_argument("--vary", action="append", default=[], metavar="NAME=DIST",
                   help="between-patient distribution of a parameter or state: lognormal:cv=0.3[,median=X], "
                        "normal:sd=S[,mean=X], truncnormal:sd=S[,mean=X,lower=L,upper=U], uniform:low=L,high=H "
                        "or fixed:value=X (median/mean default to the model's value); repeatable")
    h.add_argument("--sampling", choices=("sobol", "lhs", "random"), default="sobol",
                   help="how the distributions are sampled (default: %(default)s)")
    h.add_argument("--t-end", type=_positive, default=365.0, metavar="DAYS",
                   help="horizon in days after treatment start (default: %(default)g)")
    h.add_argument("--scan-interval", type=_positive, default=56.0, metavar="DAYS",
                   help="days between scans (default: %(default)g)")
    h.add_argument("--run-in", type=_non_negative, default=0.0, metavar="DAYS",
                   help="days of untreated growth before treatment (default: %(default)g)")
    h.add_argument("--measure", default="lesion_diameter", metavar="NAME",
                   help="the diameter-like quantity assessed by RECIST, mm (default: %(default)s)")
    h.add_argument("--method", choices=("auto", "batch", "dopri5"), default="auto",
                   help="integration method (default: %(default)s)")
    h.add_argument("--table", default=None, metavar="PATH",
                   help=_table_help("the per-patient readouts (one row per patient and regimen)"))
    h.add_argument("--summary", default=None, metavar="PATH", help=_table_help("the summary per regimen"))
    h.add_argument("--figure", default=None, metavar="PATH",
                   help="write waterfall plots and Kaplan-Meier curves to PATH, PNG, PDF or SVG")

    # -- fit ------------------------------------------------------------------------------------
    f = sub.add_parser(
        "fit", parents=[P["model"], P["one_schedule"], P["outputs"]],
        help="fit model parameters to measurements",
        description="Fit model parameters to a table of measurements (tumordyn.fit) and write the estimates "
                    "(value, standard error, 95%% Wald interval) and a figure of data against fit. The data "
                    "(CSV or Parquet) has the columns time (days) and value, and optionally subject, "
                    "observable, sigma and censored; every subject gets the treatment given.",
    )
    f.add_argument("--data", required=True, metavar="FILE", help="the measurements, .csv or .parquet")
    f.add_argument("--free", action="append", required=True, metavar="A,B[:subject],...",
                   help="parameters to fit (shared by all subjects, or NAME:subject for one value per subject); "
                        "repeatable")
    f.add_argument("--initial-free", action="append", default=[], metavar="STATE,...",
                   help="states whose initial value is fitted per subject; repeatable")
    f.add_argument("--observable", default=None, metavar="NAME",
                   help="the state or observable measured, for data without an observable column")
    f.add_argument("--scale", choices=("log", "linear"), default="log",
                   help="scale of the residuals (default: %(default)s)")
    f.add_argument("--optimizer", default=None, metavar="NAME",
                   help="lmfit method (default: least_squares)")
    f.add_argument("--max-nfev", type=_count, default=None, metavar="N",
                   help="most residual evaluations of the optimizer")
    f.add_argument("--table", default=None, metavar="PATH", help=_table_help("the parameter estimates"))
    f.add_argument("--figure", default=None, metavar="PATH",
                   help="write data against fit to PATH, PNG, PDF or SVG")

    # -- info -----------------------------------------------------------------------------------
    i = sub.add_parser(
        "info", parents=[P["model"]],
        help="describe a model: states, parameters, drugs, observables",
        description="Print a model's states (initial value, unit), parameters (default, bounds, unit, source), "
                    "drugs (compartment, volume, dose unit), processes and observables, after any --param and "
                    "--initial overrides.",
    )
    i.add_argument("--list-models", action="store_true", help="list the built-in models and exit")
    i.add_argument("--list-regimens", action="store_true", help="list the standard regimens and exit")
    return parser
