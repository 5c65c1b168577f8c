"""Files written whole: a reader, or another run writing the same path at the same
moment, sees the old file or the new one, never a mix or a truncated one.

Every file gridgate writes for users goes through here: the gate report and summary, the
scanner's ``--output`` and baseline, ``gridgate init``'s workflows. Standard library only
(``os``): the supervisor (``python -I -S``) writes the report of a run it killed with it.
"""

from __future__ import annotations

import contextlib
import os


def write_whole(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as the whole of ``path`` so that a reader, or another run writing the
    same path at the same moment, never sees a torn file: the text goes to a temporary
    file in the same directory, which is then renamed over ``path`` (atomic on POSIX).

    A path that is not a regular file (``/dev/stdout``, a named pipe, ``/dev/full``) is
    written in place: renaming over it would replace the device, not write to it; so is an
    existing file in a directory where no new file can be made. A symbolic link is
    followed, so the file it points to is replaced, not the link.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and (mode & 0o170000) == 0o040000:  # S_ISDIR, without importing stat
        raise IsADirectoryError(21, "Is a directory", path)
    data = text.encode("utf-8")
    if mode is not None and (mode & 0o170000) != 0o100000:  # not S_ISREG
        _write_in_place(target, data)
        return
    temporary = os.path.join(
        directory, f".{os.path.basename(target)}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    )
    # 0o666 less the umask, as open() would create the file; an existing report keeps its
    # permissions.
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        if mode is None:
            raise
        # A writable file in a directory we cannot create files in (a CI system's
        # pre-made summary file, say): writing it in place is all there is.
        _write_in_place(target, data)
        return
    try:
        try:
            _write_all(fd, data)
            if mode is not None:
                os.fchmod(fd, mode & 0o7777)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def append_whole(path: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` to ``path`` in one ``write``: with ``O_APPEND`` the kernel places
    each write at the end as a whole, so two runs appending to one step summary at once
    never interleave (a buffered file object may split the text into several writes)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        data = text.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):  # a full disk: the rest would land after someone else's
            raise OSError(28, f"only {written} of {len(data)} bytes written", path)
    finally:
        os.close(fd)


def _write_in_place(target: str, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
