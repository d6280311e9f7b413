"""Atomic file writes, written once: model files, CLI outputs and the compiled-code cache use it.

A file is written to a temporary file in the target's directory, flushed to disk, and renamed
over the target (:func:`os.replace`), so a reader sees either the old file or the complete new
one, never a partial file, and a failed write leaves the old file untouched.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from typing import Union

__all__ = ["atomic_write", "cache_dir", "CACHE_ENV"]

Content = Union[bytes, str, Callable[[str], None]]


def atomic_write(path: str | os.PathLike[str], content: Content, *, durable: bool = True,
                 default_mode: int = 0o644) -> None:
    """Write ``content`` to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. Its directory is created if missing.
    content : bytes, str or callable
        The bytes, the text (UTF-8), or a function ``write(temp_path)`` that writes the file
        itself (e.g. ``fig.savefig``); it must write something.
    durable : bool, optional
        Flush the file and its directory to disk before returning (default). ``False`` keeps only
        the atomicity (a cache that can be rebuilt).
    default_mode : int, optional
        Permissions of a new file; an existing file keeps its own.

    Raises
    ------
    OSError
        If the file cannot be written (the temporary file is removed; ``path`` is unchanged),
        including ``IsADirectoryError`` when ``path`` exists and is not a regular file, and an
        ``OSError`` when the writer wrote nothing.
    """
    path = os.fspath(path)
    if os.path.lexists(path) and not os.path.isfile(path):
        raise IsADirectoryError(f"{path!r} exists and is not a regular file; refusing to replace it")
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
            if os.path.getsize(tmp) == 0:
                raise OSError(f"nothing was written to {path!r}")
            if durable:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else default_mode
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:  # make the rename itself durable (POSIX); not possible everywhere
        try:
            dfd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


#: Environment variable naming the directory of tumordyn's on-disk caches (compiled model functions,
#: parsed unit text) (default ``$XDG_CACHE_HOME/tumordyn`` or ``~/.cache/tumordyn``); ``0``, ``off``, ``none`` or an empty
#: value disable the caches (every process then compiles each model's RHS once and parses units with pint).
CACHE_ENV = "TUMORDYN_CACHE_DIR"


def cache_dir() -> str | None:
    """Directory of tumordyn's on-disk caches (compiled model functions, parsed units), or ``None`` when disabled.

    Set by the environment variable ``TUMORDYN_CACHE_DIR`` (read at each call); ``0``, ``off``, ``none``
    or an empty value disable it. Default: ``$XDG_CACHE_HOME/tumordyn`` or ``~/.cache/tumordyn``.
    """
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        if env.strip().lower() in ("", "0", "off", "none", "false", "no"):
            return None
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tumordyn")
