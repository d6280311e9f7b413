"""Output files of the ``tumordyn`` command: checked before computing, written atomically after.

The checks use the standard library only, so a bad ``--figure``/``--table`` path is reported before
tumordyn (numpy, sympy...) is even imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._parser import FIGURE_FORMATS, TABLE_FORMATS


class UsageError(Exception):
    """Bad arguments or input, found before computing (exit status 2); the message names the option."""


class OutputError(Exception):
    """An output file could not be written after computing (exit status 1)."""


def parquet_engine() -> str | None:
    """The installed Parquet engine pandas would use (``"pyarrow"`` or ``"fastparquet"``), or None."""
    for name in ("pyarrow", "fastparquet"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower().lstrip(".")


def check_output(path: str, option: str, kind: str, force: bool) -> None:
    """Refuse, before computing, an output that cannot be written.

    Parameters
    ----------
    path : str
        The output path (``"-"``: standard output, tables only).
    option : str
        The option naming it, for the message (``"--figure"``).
    kind : {"figure", "table"}
        What is written: the extension must be one of :data:`FIGURE_FORMATS` or :data:`TABLE_FORMATS`.
    force : bool
        Whether an existing file may be replaced.

    Raises
    ------
    UsageError
        For an unknown extension, Parquet without an engine, an existing output without ``force``, an
        output that exists and is not a regular file, or a directory that cannot hold it.
    """
    if kind == "table" and path == "-":
        return
    if os.path.lexists(path):
        if os.path.isdir(path) or not os.path.isfile(path):
            raise UsageError(f"{option} {path!r} exists and is not a regular file")
        if not force:
            raise UsageError(f"{option} {path!r} already exists; pass --force to overwrite it")
    formats = FIGURE_FORMATS if kind == "figure" else TABLE_FORMATS
    ext = _extension(path)
    if ext not in formats:
        raise UsageError(f"{option} {path!r}: unknown {kind} format {ext!r} (use "
                         + ", ".join(f".{f}" for f in formats[:-1]) + f" or .{formats[-1]})")
    if ext == "parquet" and parquet_engine() is None:
        raise UsageError(f"{option} {path!r}: writing Parquet needs pyarrow or fastparquet "
                         "(pip install pyarrow); or write .csv")
    # the nearest existing ancestor must be a directory we may write in (missing ones are created)
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path!r}: {parent!r} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: no permission to write in {parent!r}")


def check_outputs(outputs: Sequence[tuple[str | None, str, str]], force: bool) -> None:
    """:func:`check_output` for each ``(path, option, kind)`` given (``path`` None: not asked for), and no
    two options naming the same file."""
    seen: dict[str, str] = {}
    for path, option, kind in outputs:
        if path is None:
            continue
        check_output(path, option, kind, force)
        if path == "-":
            key = "-"
        else:
            key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{seen[key]} and {option} name the same {'output' if key == '-' else 'file'} {path!r}")
        seen[key] = option


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Write through ``write(temp_path)`` to a temporary file next to ``path``, then rename it over ``path``
    (:func:`tumordyn._fileio.atomic_write`): ``path`` is either the complete new file or untouched.

    Raises
    ------
    OutputError
        For any failure of the write (the message names the path and the reason).
    """
    from .._fileio import atomic_write

    try:
        atomic_write(path, write)
    except Exception as exc:  # noqa: BLE001 - any failure of the writer (OSError, a backend's ValueError...)
        raise OutputError(f"cannot write {path!r}: {getattr(exc, 'strerror', None) or exc}") from None


def write_table(df: Any, path: str, say: Callable[[str], None]) -> None:
    """Write a pandas DataFrame (index included) as CSV or Parquet by extension; ``"-"``: CSV to stdout."""
    if path == "-":
        df.to_csv(sys.stdout)
        return
    if _extension(path) == "parquet":
        write_atomically(path, lambda tmp: df.to_parquet(tmp, engine=parquet_engine()))
    else:
        write_atomically(path, lambda tmp: df.to_csv(tmp))
    say(f"wrote {path}")


def use_file_backend() -> None:
    """Draw figures off screen (matplotlib's Agg) unless a backend was chosen (``MPLBACKEND``, pyplot loaded)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")


def write_figure(fig: Any, path: str, say: Callable[[str], None]) -> None:
    """Save a matplotlib figure (format by extension) atomically and close it."""
    import matplotlib.pyplot as plt

    try:
        write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, format=_extension(path)))
    finally:
        plt.close(fig)
    say(f"wrote {path}")
