"""A pickle that does something when loaded: the payload a hostile checkpoint or cache file would carry.

    arr = hostile_array(tmp_path / "executed")   # (1,) object array
    np.save(path, arr, allow_pickle=True)        # np.load(path, allow_pickle=True) creates the marker file
"""

import numpy as np


class CreatesAFile:
    """Unpickled, it calls open(path, "w"): the marker file appears, so running it cannot go unseen."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_array(marker) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = CreatesAFile(marker)
    return arr
