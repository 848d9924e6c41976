"""Safe output for reports: formula neutralising for spreadsheet cells, and owner-only files.

Reports contain pupil names, UPNs and exclusion details, so every report file is created readable
and writable by its owner only, and every report folder this package creates is owner-only too.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import IO, Any

# Excel, LibreOffice and Google Sheets run a cell that starts with one of these as a formula when
# they open a CSV file (OWASP "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

FILE_MODE = 0o600
DIR_MODE = 0o700


def neutralise_cell(text: str) -> str:
    """Return ``text`` with a leading ``'`` if a spreadsheet would run it as a formula.

    Only cells starting with ``=``, ``+``, ``-``, ``@``, TAB or CR are changed, so
    ``D'Souza-Adeyemi`` stays as it is. Every cell the reports write is text, including numbers
    we format ourselves, so a negative number such as ``-3`` would also gain the ``'``. No report
    column contains negative numbers, and a spreadsheet shows ``'-3`` as the text ``-3``.
    """
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def open_private(path: Path | str, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open ``path`` for writing, creating it with permissions 0o600 (owner only).

    ``mode`` is a write mode of :func:`open` (``w``, ``x`` or ``a``, with ``b`` or ``+``); other
    keyword arguments go to :func:`os.fdopen`. The file is created with mode 0o600 by
    :func:`os.open`, so it is never readable by others, not even for a moment. An existing file
    is truncated (``w``) and its permissions are set to 0o600. A symbolic link at ``path`` is
    refused with ``OSError`` where the platform supports ``O_NOFOLLOW``.

    NOTE: on Windows the ``os.open`` mode only controls the read-only attribute. There the file
    inherits the access control list of its folder, so the output folder must be kept private.
    """
    fd = os.open(path, _open_flags(mode), FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            # os.open applies the umask, and leaves an existing file's permissions unchanged.
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_private_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path``, replacing its content, as an owner-only (0o600) file."""
    with open_private(path, "wb") as handle:
        handle.write(data)


def make_private_dir(path: Path | str, *, exist_ok: bool = True) -> Path:
    """Create the folder ``path`` and any missing parents with permissions 0o700 (owner only).

    Returns ``path`` as a Path. Existing folders, ``path`` included, are left as they are, because
    they may be ones the user chose (``--out .``) and must not be loosened or tightened. With
    ``exist_ok`` false an existing ``path`` raises ``FileExistsError``. On Windows each folder
    inherits the access control list of its parent.
    """
    folder = Path(path)
    missing = [folder, *itertools.takewhile(lambda parent: not parent.exists(), folder.parents)]
    for level in reversed(missing[1:]):
        _make_one_private_dir(level, exist_ok=True)
    _make_one_private_dir(folder, exist_ok=exist_ok)
    return folder


def _make_one_private_dir(folder: Path, *, exist_ok: bool) -> None:
    try:
        folder.mkdir(mode=DIR_MODE)
    except FileExistsError:
        # Another process may have created the folder meanwhile, so this is no error either.
        if not exist_ok or not folder.is_dir():
            raise
        return
    # mkdir applies the umask, which may leave the folder narrower than 0o700.
    os.chmod(folder, DIR_MODE)


def _open_flags(mode: str) -> int:
    if "r" in mode or not {"w", "x", "a"} & set(mode):
        raise ValueError(f"open_private only opens files for writing, not with mode {mode!r}")
    flags = os.O_CREAT | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    if "w" in mode:
        flags |= os.O_TRUNC
    if "x" in mode:
        flags |= os.O_EXCL
    if "a" in mode:
        flags |= os.O_APPEND
    # O_BINARY exists only on Windows. Python's own open() always sets it there, so that only the
    # io layer translates line endings (csv output relies on newline="").
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    return flags
