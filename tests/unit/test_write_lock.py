"""The write lock: reentrant for the thread that holds it, the file lock held until its
outermost exit, and other holders (threads, or processes on the same file) kept out until then."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from adapters.eventstore import WriteLock


def _file_is_locked(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor lets go of a lock taken just now
    return False


def test_the_holder_takes_it_again_and_the_file_lock_lasts_until_the_outermost_exit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "views.lock"
    lock = WriteLock(path)
    try:
        with lock:
            with lock:
                assert _file_is_locked(path)
            assert _file_is_locked(path)  # the inner exit keeps it
        assert not _file_is_locked(path)
    finally:
        lock.close()


def test_another_thread_waits_for_the_outermost_exit(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "views.lock")
    taken = threading.Event()

    def take() -> None:
        with lock:
            taken.set()

    try:
        with lock:
            with lock:
                waiter = threading.Thread(target=take)
                waiter.start()
            assert not taken.wait(0.2)  # the inner exit lets nobody in
        assert taken.wait(5)
        waiter.join()
    finally:
        lock.close()
