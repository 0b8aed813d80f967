"""Forked copies of a process (serve's and the worker's) that die with their parent."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def fork(count: int, child: Callable[[], None]) -> list[int]:
    """Start `count` forked copies running `child`, each exiting when it returns (0) or
    raises (1), and each SIGTERMed when this process dies, even by SIGKILL."""
    parent = os.getpid()
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _die_with(parent)
                child()
                code = 0
            except BaseException:
                log.exception("process %d failed", os.getpid())
            finally:
                os._exit(code)
        children.append(pid)
    return children


def stop(children: list[int]) -> None:
    """SIGTERM the children and wait for them."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _die_with(parent: int) -> None:
    """SIGTERM this process when its parent dies (Linux); if it already has, exit now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)
