"""The ``tumordyn`` console command.

``tumordyn compare`` runs the default model (:func:`tumordyn.models.tumor_immune_tme`)
under the standard regimens (:func:`tumordyn.regimens.standard_regimens`), prints the
readout table and writes the comparison figure. Run ``tumordyn compare --help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tumordyn`` command (sub-command ``compare``)."""
    from .regimens import STANDARD_REGIMEN_NAMES

    parser = argparse.ArgumentParser(
        prog="tumordyn",
        description="Simulate tumor-immune-TME models under treatment schedules and compare them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser(
        "compare",
        help="compare the standard regimens on the default model",
        description=(
            "Simulate the default tumor-immune-TME model under treatment regimens, print a table of "
            "clinical readouts (RECIST 1.1 best overall response, best % change of the measured lesion "
            "diameter, time to progression on the scans and continuously, durable response, "
            "pseudoprogression, resistant fraction, effector/exhausted T-cell ratio, doses given) and "
            "write a figure (tumor burden with the dose timeline, resistant fraction, T cells, key "
            "readouts). Regimens: " + ", ".join(STANDARD_REGIMEN_NAMES) + "."
        ),
    )
    c.add_argument("--t-end", type=float, default=365.0, metavar="DAYS",
                   help="simulation horizon in days (default: %(default)g)")
    c.add_argument("--scan-interval", type=float, default=56.0, metavar="DAYS",
                   help="days between tumor scans, from day 0; RECIST/iRECIST are read at the scans "
                        "(default: %(default)g, every 8 weeks)")
    c.add_argument("--lead-time", type=float, default=14.0, metavar="DAYS",
                   help="days of TME priming before immunotherapy in the priming> regimens (default: %(default)g)")
    c.add_argument("--regimens", default=None, metavar="A,B,...",
                   help="comma-separated regimen names to run (default: all; see --list-regimens); quote names "
                        "with '>' in the shell, or write '-then-' for '>' (priming-then-anti-pd1)")
    c.add_argument("--list-regimens", action="store_true", help="list the regimen names with their dosing and exit")
    c.add_argument("--out", default=os.path.join("out", "compare.png"), metavar="PATH",
                   help="where to write the figure, PNG, PDF or SVG by extension (default: %(default)s)")
    c.add_argument("--no-plot", action="store_true", help="do not draw the figure")
    c.add_argument("--csv", default=None, metavar="PATH", help="also write every readout column to a CSV file")
    c.add_argument("--full", action="store_true", help="print every readout column, not only the key ones")
    c.add_argument("--force", action="store_true",
                   help="overwrite existing output files (without it, an existing --out or --csv is an error)")
    return parser


class _OutputError(Exception):
    """An output file cannot be written (exit status 1)."""


def _check_output(path: str, force: bool, what: str) -> None:
    """Refuse an existing output without --force, and anything that is not a regular file, before computing."""
    if os.path.lexists(path):
        if os.path.isdir(path) or not os.path.isfile(path):
            raise _OutputError(f"{what} {path!r} exists and is not a regular file")
        if not force:
            raise _OutputError(f"{what} {path!r} already exists; pass --force to overwrite it")


def _write_atomically(path: str, write) -> None:  # noqa: ANN001 - write(temp_path) writes the content
    """Write through ``write(temp_path)`` to a temporary file next to ``path``, then rename it over ``path``
    (:func:`tumordyn._fileio.atomic_write`): ``path`` is either the complete new file or untouched.
    Errors are :class:`_OutputError`."""
    from ._fileio import atomic_write

    try:
        atomic_write(path, write)
    except Exception as exc:  # noqa: BLE001 - any failure of the writer (OSError, a backend's ValueError...)
        raise _OutputError(f"cannot write {path!r}: {getattr(exc, 'strerror', None) or exc}") from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _describe(name: str) -> str:
    text = {
        "untreated": "no treatment",
        "targeted": "targeted drug 100 mg every 7 days",
        "anti-pd1": "anti-PD-1 200 mg every 21 days",
        "priming": "TME-priming agent 20 mg daily",
        "targeted+anti-pd1": "targeted + anti-PD-1, concurrently",
        "priming>anti-pd1": "priming for the lead time, then anti-PD-1",
        "priming>targeted+anti-pd1": "priming for the lead time, then targeted + anti-PD-1",
        "adaptive-targeted": "targeted weekly, paused below 50% of baseline burden, resumed at baseline",
    }
    return text.get(name, "")


def _compare(args: argparse.Namespace) -> int:
    import tumordyn as td
    from tumordyn.regimens import STANDARD_REGIMEN_NAMES

    if args.list_regimens:
        for n in STANDARD_REGIMEN_NAMES:
            print(f"{n:28s} {_describe(n)}")
        return 0
    outputs = ([(args.csv, "--csv")] if args.csv else []) + ([] if args.no_plot else [(args.out, "--out")])
    if args.csv and not args.no_plot and os.path.abspath(args.csv) == os.path.abspath(args.out):
        raise _OutputError("--csv and --out name the same file")
    for path, what in outputs:  # before the (long) computation
        _check_output(path, args.force, what)
    if not args.no_plot:
        from matplotlib.figure import Figure

        ext = os.path.splitext(args.out)[1].lower().lstrip(".")
        if ext not in Figure().canvas.get_supported_filetypes():
            raise _OutputError(f"cannot write {args.out!r}: unknown figure format {ext!r} (use .png, .pdf or .svg)")
    model = td.models.tumor_immune_tme()
    regs = td.regimens.standard_regimens(model, args.t_end, lead_time=args.lead_time)
    if args.regimens:
        # '-then-' spells '>' without shell quoting: priming-then-anti-pd1 is priming>anti-pd1
        wanted = [w.strip().replace("-then-", ">") for w in args.regimens.split(",") if w.strip()]
        for w in wanted:
            if w not in regs:
                raise td.errors.UnknownNameError("regimen", w, tuple(regs), "--regimens")
        regs = {w: regs[w] for w in wanted}
    cmp = td.compare(model, regs, t_end=args.t_end, scans=td.readouts.ScanPlan(interval=args.scan_interval))
    print(cmp.table(full=args.full))
    if args.csv:
        df = cmp.to_dataframe()
        _write_atomically(args.csv, lambda tmp: df.to_csv(tmp))
        print(f"wrote {args.csv}")
    if not args.no_plot:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = cmp.plot()
        try:
            _write_atomically(args.out, lambda tmp: fig.savefig(tmp, dpi=110, format=ext))
        finally:
            plt.close(fig)
        print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tumordyn`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad arguments or input, 1 when an output file cannot be
        written (an existing output without ``--force``, a directory that cannot be created, a
        failed write; outputs are written atomically, so a failed write leaves no partial file).
    """
    from .errors import SpecificationError, UnknownNameError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _compare(args)
    except _OutputError as err:
        print(f"tumordyn {args.command}: error: {err}", file=sys.stderr)
        return 1
    except (SpecificationError, UnknownNameError, ValueError, TypeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"tumordyn {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
