"""One benchmark at a time on a machine: two runs at once would measure each other."""

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# In the temporary directory, so that runs from different checkouts wait for each other too.
LOCK = Path(tempfile.gettempdir()) / "porch-bench.lock"


@contextlib.contextmanager
def exclusive_run(progress: Callable[[str], None], path: Path = LOCK) -> Iterator[None]:
    """Hold the machine-wide benchmark lock, waiting (and saying so) while another run has it."""
    try:
        lock = path.open("a+")
    except OSError as exc:  # say, another user's lock file
        progress(f"bench: warning: running without the benchmark lock ({exc})")
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            progress(f"bench: waiting for another benchmark run to finish (pid {holder})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)
