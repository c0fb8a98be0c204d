"""Files: written so that a crash at any moment leaves the old version or the new one, never half;
and the one reader of text files.

    from tfcharrnn.files import atomic_write_bytes, new_temp_dir, publish_dir, read_text_file
    atomic_write_bytes("cv/latest.json", b'{"checkpoint": "..."}')
    tmp = new_temp_dir("cv", ".tmp-lm_lstm-")      # fill it (write_synced), then
    publish_dir(tmp, "cv/lm_lstm")                 # renamed into place; an old one swapped out
    text = read_text_file("input.txt")             # UserError naming the fix on a bad file

Temporary names start with "." so that readers listing a directory (checkpoints, TF Serving
watching a model's versions) skip them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from tfcharrnn.errors import UserError


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(name: str, use: str) -> None:
    """A --name that is safe as a directory or file name (``use``: what it becomes)."""
    if not name or not NAME_RE.match(name):
        raise UserError(f"--name {name!r} is not a usable model name; use letters, digits, '_', '-' or '.', "
                        f"starting with a letter or digit ({use})")


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a server running as another user must read it
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def write_synced(path: str, data: bytes) -> None:
    """A file inside a directory that is not published yet: plain permissions, flushed to disk."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def new_temp_dir(parent: str, prefix: str) -> str:
    """A hidden directory in ``parent`` to fill before publish_dir renames it into place."""
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700: a server running as another user must read it
    return tmp


def publish_dir(tmp: str, final: str) -> None:
    """Rename the complete directory ``tmp`` (beside ``final``) to ``final``. An existing ``final``
    is first renamed to a hidden name and removed afterwards, so a reader finds the old directory or
    the new one. Raises OSError if ``final`` appears between the check and the rename."""
    parent = os.path.dirname(os.path.abspath(final))
    fsync_dir(tmp)
    if os.path.exists(final):
        old = tempfile.mkdtemp(prefix=f".old-{os.path.basename(final)}-", dir=parent)
        os.rmdir(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(parent)


def read_text_file(path: str, encoding: str = "utf-8", byte_mode: bool = False, encoding_hint: str | None = None) -> str:
    """A file's text; in byte mode the latin-1 view of its bytes (every byte one character). A UTF-8
    byte-order mark is dropped. ``encoding_hint`` is the fix offered for text that does not decode."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UserError(f"cannot read {path!r}: {e.strerror}; check the path and permissions") from None
    if byte_mode:
        return raw.decode("latin-1")
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise UserError(f"unknown --encoding {encoding!r}; use a Python codec name such as utf-8 or latin-1") from None
    except UnicodeDecodeError as e:
        hint = encoding_hint or "pass --encoding (e.g. latin-1) or --byte_mode to model raw bytes"
        raise UserError(f"{path!r} is not valid {encoding} text (bad byte at offset {e.start}); {hint}") from None
    if text.startswith("\ufeff") and encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        text = text[1:]
    return text
