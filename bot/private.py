"""Data at rest is the operator's alone: mothers' names, dates and chats are in data_dir.

`restrict()` is the first thing a mombot command does: files and folders it creates from then
on (the SQLite database and its -wal/-shm, locks, the embedded Redis's files, which its
redis-server inherits) are readable by this user only. `secure(data_dir)` also fixes a data
folder that an older version (or another umask) left open to others.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077  # new files 0600, new folders 0700


def restrict() -> None:
    """Set the process's umask so that what it creates is private."""
    os.umask(UMASK)


def secure(data_dir: Path) -> None:
    """Take group and other access from data_dir and from everything in it (it is mombot's
    own folder), if it exists. Symlinks are left alone."""
    if not data_dir.is_dir():
        return
    _private(data_dir)
    for folder, folders, files in os.walk(data_dir):
        for name in (*folders, *files):
            _private(Path(folder) / name)


def _private(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
    except FileNotFoundError:  # gone meanwhile (a -shm file, a Redis temp file)
        pass
    except PermissionError:
        log.warning("cannot make %s private (not ours); fix its mode by hand", path)
