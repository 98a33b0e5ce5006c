"""Writing files so that what exists on disk is complete, or absent.

Every file alosim writes -- run folders, sweep tables, run records, plots,
Mermaid text, sequence diagrams -- goes through :func:`write_atomic`: the
content is written under a temporary name (``.<name>.<random>.tmp``) in the
destination's own folder, flushed to the disk, and renamed over the
destination in one step. A reader, a crash, a kill -9 or a full disk
therefore leaves either the previous file or the new one, never a 0-byte or
truncated file; an interrupted write removes its temporary file.
:func:`safe_child` keeps every path built from a scenario's name inside its
results folder.

Failures of the surroundings -- a folder that cannot be written, a missing
parent, a file where a folder should be, a full disk, ``/proc`` -- become
:class:`OutputError`, one sentence naming the path and what is wrong, which
the command line prints as one line with exit status 2. Commands check that
they can write where they were asked *before* doing the work
(:func:`ensure_folder`, :func:`check_writable`, :func:`check_file_target`).

Reading is guarded as writing is: every file alosim reads back -- a
scenario, a run's ``manifest.json``, a sweep's ``sweep.json`` and run files,
the history, a search's stored runs -- goes through :func:`read_bounded`,
which refuses anything but a regular file (``/dev/zero``, a named pipe or a
socket would be read for ever or block) and anything above the size its
caller announces, *before* reading it, so that a damaged or hostile store
costs what its cap says and never hangs. The refusal is
:class:`RefusedFile`, one line without the path (the caller names it).

This module sits on the lowest floor: it imports nothing from alosim.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutputError(Exception):
    """Results cannot be written (or read back) where asked; the message names the path.

    ``reason`` is the operating system's reason alone, when there is one."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class RefusedFile(Exception):
    """A file that is not read: not a regular file, or larger than its cap.
    ``str()`` says why in one line, without the path."""


def format_bytes(n: int) -> str:
    """``256 KiB``, ``3 GiB``: a size for a message."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n} bytes"


def read_bounded(path: str | Path, max_bytes: int, what: str, expected: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, refused beyond ``max_bytes``.

    ``what`` names the kind of file for the messages (``"a scenario file"``),
    ``expected`` what a regular file there would be (default: ``what``).
    The file is opened without blocking (a named pipe would otherwise wait
    for a writer) and checked on the open descriptor, so a file swapped
    after a check cannot slip through; at most ``max_bytes + 1`` bytes are
    ever read (a file may grow after it was measured). Raises ``OSError``
    (missing, unreadable; ``IsADirectoryError`` for a folder) or
    :class:`RefusedFile`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        _check(os.fstat(fd), path, max_bytes, what, expected)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise RefusedFile(f"is more than {format_bytes(max_bytes)}; {what} may be at most "
                          f"{format_bytes(max_bytes)}")
    return data


def check_regular(path: str | Path, max_bytes: int, what: str) -> None:
    """:func:`read_bounded`'s checks without the reading, for a file a library
    (pandas, pyarrow) reads by its path: a regular file of at most ``max_bytes``."""
    _check(os.stat(path), path, max_bytes, what, None)


def _check(info: os.stat_result, path: str | Path, max_bytes: int, what: str, expected: str | None) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise RefusedFile(f"is not a regular file (a device, pipe or socket?); expected {expected or what}")
    if info.st_size > max_bytes:
        raise RefusedFile(f"is {format_bytes(info.st_size)}; {what} may be at most "
                          f"{format_bytes(max_bytes)}")


def safe_child(root: Path, *parts: str) -> Path:
    """``root / parts`` -- refusing any path that would leave ``root``."""
    root_resolved = root.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise OutputError(f"refusing to write outside {root}: {'/'.join(parts)!r}")
    return target


def file_label(text: str, max_chars: int) -> str:
    """``text`` as part of a file name: every character but letters, digits, ``.``, ``_`` and
    ``-`` becomes ``-`` (runs of them one), no leading or trailing separator, at most
    ``max_chars`` long (``kind=none, loss=0.1`` -> ``kind-none-loss-0.1``). The same text
    gives the same label on any machine; a label alone need not be unique (a name adds a hash)."""
    import re

    label = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    label = re.sub(r"-{2,}", "-", label).strip("._-")
    return label[:max_chars].rstrip("._-")


def utc_now() -> str:
    """The wall-clock time, for the record of when results were written (never for a run)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def reason(exc: OSError) -> str:
    """What went wrong, in the operating system's words, without errno noise."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` (or ``path`` itself) that is not a folder."""
    for candidate in [path, *path.parents]:
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` and its parents if needed; :class:`OutputError` if that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = _in_the_way(folder)
        if blocker is not None:
            raise OutputError(
                f"cannot create the folder {folder}: {blocker} is a file, not a folder") from None
        raise OutputError(f"cannot create the folder {folder}: {reason(exc)}") from None
    if not folder.is_dir():  # e.g. a dangling symbolic link
        raise OutputError(f"cannot create the folder {folder}: something else is in the way")
    return folder


def check_writable(folder: Path, what: Path | None = None) -> None:
    """Create and remove a temporary file in ``folder``: can results be written there?
    The error names ``what`` (default: the folder)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".alosim-probe.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        target = f"cannot write {what}" if what is not None else f"cannot write in {folder}"
        raise OutputError(f"{target}: {reason(exc)}") from None


def check_file_target(path: Path) -> None:
    """A file the user named: it must not be a folder, and its folder (created if
    missing, with its parents) must be writable."""
    parent = path.parent
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    blocker = _in_the_way(parent)
    if blocker is not None:
        raise OutputError(f"cannot write {path}: {blocker} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: cannot create the folder {parent} ({reason(exc)})") from None
    if _is_stream(path):
        return  # /dev/stdout, a named pipe: written in place, nothing to create
    check_writable(parent, path)


def _is_stream(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _sync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a rename durable. Best effort: not every platform can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` on a temporary file beside it, then rename it into place.

    A symbolic link to a regular file is followed (the file it names is
    replaced); a device or a named pipe (``/dev/stdout``) is written in place,
    since it cannot be replaced. Raises :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    if _is_stream(path):
        try:
            write(path)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {reason(exc)}", reason(exc)) from None
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    # The temporary file is named before it is made, and made inside the block that
    # removes it: an interrupt (Ctrl-C, SIGTERM) at any instant leaves nothing behind.
    tmp: Path | None = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
        except FileExistsError:
            tmp = None  # another file's (64 random bits: never seen in practice); not ours to remove
            raise
        write(tmp)
        _sync(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        if not target.parent.is_dir():
            check_file_target(target)  # names what is in the way
        raise OutputError(f"cannot write {path}: {reason(exc)}", reason(exc)) from None
    except BaseException:
        _discard(tmp)
        raise
    _sync_folder(target.parent)


def _discard(tmp: Path | None) -> None:
    """Remove a temporary file of ours, if it was made (its folder may not even exist)."""
    if tmp is not None:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def write_text_atomic(path: str | Path, text: str) -> None:
    """:func:`write_atomic` of a UTF-8 text."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def refuse_symlink(folder: Path, what: str) -> None:
    """A sub-folder of a results folder must be a real folder: a symbolic link would
    send the files written "into" it somewhere else."""
    if folder.is_symlink():
        raise OutputError(f"refusing to write {what} through {folder}: it is a symbolic link "
                          f"(to {os.readlink(folder)}); replace it by a real folder")
