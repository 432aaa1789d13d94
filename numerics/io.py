"""Writing results safely: every output goes to a temporary file in the same folder and is
moved into place with :func:`os.replace`, so an interrupt never leaves a truncated file.
Reading a user's JSON file (:func:`read_json`) fails with one line that names it.

The one home of these rules for the whole project (numerics/ and diffusion/ drivers alike).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from numerics.validate import check_bool, check_callable, check_int

__all__ = ["as_path", "atomic_write", "parent_folder", "read_json", "write_json"]


def as_path(path, name: str = "path") -> Path:
    """``path`` (a str or ``os.PathLike``) as a :class:`~pathlib.Path`; else ``TypeError``
    naming ``name``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name}: expected a file path (str or os.PathLike), got {type(path).__name__}"
        )
    return Path(path)


def parent_folder(path, name: str = "path") -> Path:
    """``path`` as a Path (:func:`as_path`) after making its folder; an ``OSError`` (a file in
    the way, no permission) names ``name`` and the file asked for."""
    path = as_path(path, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(exc.errno, f"{name}: cannot write {path}: {exc.strerror}") from exc
    return path


def atomic_write(path, writer: Callable[[Path], object]) -> Path:
    """Write ``path`` atomically: ``writer(tmp)`` fills a temporary file beside it, then
    :func:`os.replace` moves it into place (the parent folder is created if needed).

    Parameters
    ----------
    path : str or Path
        The final file.
    writer : callable
        Called once with the temporary file's :class:`~pathlib.Path` (same folder, same
        suffix, so e.g. matplotlib picks the format from it).

    Returns
    -------
    path : Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", lambda p: p.write_text("hi")).read_text()
    'hi'
    >>> sorted(x.name for x in d.iterdir())   # no temporary file left behind
    ['a.txt']
    >>> oct((d / "a.txt").stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # as open() makes
    True
    """
    path = parent_folder(path)
    check_callable(writer, "writer")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    except OSError as exc:  # the message names the file asked for, not a temporary one
        raise type(exc)(exc.errno, f"path: cannot write {path}: {exc.strerror}") from exc
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        writer(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj, *, sort_keys: bool = False, indent: int = 1) -> Path:
    """Write ``obj`` as JSON (UTF-8, trailing newline) through :func:`atomic_write`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"b": 1, "a": [1.5]},
    ...                sort_keys=True)
    >>> p.read_text()
    '{\\n "a": [\\n  1.5\\n ],\\n "b": 1\\n}\\n'
    """
    sort_keys = check_bool(sort_keys, "sort_keys")
    if indent is not None:
        indent = check_int(indent, "indent")
    try:
        text = json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n"
    except (TypeError, ValueError) as exc:  # e.g. a set, an object, a circular reference
        raise type(exc)(f"obj: not JSON-serialisable ({exc})") from exc
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def read_json(path, *, what: str = "file"):
    """The JSON value in the file ``path``.

    Raises
    ------
    ValueError
        One line starting with ``what`` and naming the file, when it cannot be read, is not
        UTF-8 text (e.g. a binary file) or is not JSON (the caller turns it into its own
        error, e.g. a usage error naming the option).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.json"
    >>> _ = p.write_text("{not json")
    >>> try:
    ...     read_json(p, what="config")
    ... except ValueError as exc:
    ...     print(str(exc).replace(str(p), "PATH"))
    config: PATH is not valid JSON (Expecting property name enclosed in double quotes, line 1)
    """
    try:
        text = as_path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what}: {path} is not UTF-8 text (byte {exc.start}); expected a JSON file"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what}: {path} is not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from exc
    except RecursionError as exc:
        raise ValueError(f"{what}: {path} is JSON nested too deeply to read") from exc
