"""The lock on the controller's build cache: one otter at a time uses a folder's
`.otter/cache` (two runs in one folder would race on mirrors, exports and kept files).

`cache_lock` holds `cache/.lock` with flock, so the lock goes when the process ends however
it ends; a second otter waits, says so once, and gives up after LOCK_WAIT seconds.
"""
from __future__ import annotations

import contextlib
import fcntl
import time
from pathlib import Path
from typing import Callable, Iterator

from otterfile.errors import OtterError

LOCK_WAIT = 600  # seconds a build waits for another otter building in the same folder


@contextlib.contextmanager
def cache_lock(cache_dir: Path, on_output: Callable[[str], None],
               wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold `cache_dir/.lock` (flock, released when this process ends, however it ends)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.parent.chmod(0o700)
    with open(cache_dir / ".lock", "a") as lock:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OtterError(f"another otter has been building in {cache_dir} for "
                                     f"{wait:.0f}s; try again when it is done") from None
                if not told:
                    on_output(f"waiting for another otter building in {cache_dir}")
                    told = True
                time.sleep(0.5)
        yield
