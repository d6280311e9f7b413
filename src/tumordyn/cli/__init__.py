"""The ``tumordyn`` console command: ``tumordyn simulate | compare | cohort | fit | info``.

* ``simulate`` — one model under one treatment: time courses (CSV/Parquet) and a figure;
* ``compare`` — one model under several regimens: the clinical readout table and figure;
* ``cohort`` — a virtual cohort under regimens: per-patient readouts, a summary and a figure;
* ``fit`` — model parameters fitted to a table of measurements: estimates and a figure;
* ``info`` — a model's states, parameters (unit, default, bounds, source), drugs and observables.

Each takes a built-in model name or a model file (TOML/JSON/SBML), ``--param``/``--initial``
overrides, and a treatment from standard regimen names, schedule files or ``--dose`` flags. Outputs
are checked before anything is computed and written atomically; an existing output is replaced
only with ``--force``. ``tumordyn --help`` imports neither numpy nor sympy. See the docs page
*Command line*, or run ``tumordyn COMMAND --help``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from ._parser import build_parser

__all__ = ["main", "build_parser"]


def _one_line(err: BaseException) -> str:
    msg = str(err)
    return " ".join(part.strip() for part in msg.splitlines() if part.strip()) or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tumordyn`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success; 2 for bad arguments or input (an unknown option, name or file, a
        value out of bounds, an output with an unknown extension, in a place that cannot be written, or
        that exists without ``--force``), reported in one line naming the option before anything is
        computed; 1 when the computation fails (e.g. the solver) or an output cannot be written after
        computing (outputs are written atomically: a failed write leaves no partial file and an old file
        unchanged).
    """
    from ._outputs import OutputError, UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from ._commands import COMMANDS

    prefix = f"tumordyn {args.command}: error:"

    def show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        print(f"tumordyn {args.command}: warning: {_one_line(message) if isinstance(message, Warning) else message}",
              file=sys.stderr if file is None else file)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning  # one line per warning, without the library's source line
            return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"{prefix} {_one_line(err)}", file=sys.stderr)
        return 2
    except OutputError as err:
        print(f"{prefix} {_one_line(err)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`tumordyn info | head`): stop quietly, as Unix tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 141  # 128 + SIGPIPE
    except KeyboardInterrupt:
        print(f"tumordyn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the library's named errors; anything else is a bug: re-raised
        from ..errors import SolverError, SpecificationError, UnknownNameError

        if isinstance(err, SolverError):
            print(f"{prefix} {_one_line(err)}", file=sys.stderr)
            return 1
        if isinstance(err, (SpecificationError, UnknownNameError)):
            print(f"{prefix} {_one_line(err)}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
