"""A full disk for one process: put this directory first on PYTHONPATH and Python imports this file at
start-up (site.py's sitecustomize hook), before the program runs; nothing in tfcharrnn changes.

    PYTHONPATH=tests/helpers/full_disk FULL_DISK_AFTER=1 python scripts/train.py ... --resume

Every os.fsync of a regular file after the first FULL_DISK_AFTER (default 0) fails with ENOSPC, as
on a disk that filled up mid-write: with 1, a checkpoint's first file is written and its second is not.
"""

import errno
import os
import stat

_fsync = os.fsync
_allowed = [int(os.environ.get("FULL_DISK_AFTER", "0"))]


def _full_disk_fsync(fd):
    if stat.S_ISREG(os.fstat(fd).st_mode):
        if _allowed[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _allowed[0] -= 1
    return _fsync(fd)


os.fsync = _full_disk_fsync
