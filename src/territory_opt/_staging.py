"""A run's outputs are one set: written into a staging folder next to the target, then
swapped in whole (used by :mod:`territory_opt.io`).

:func:`staged_folder` yields a fresh hidden sibling of the output folder. When the block ends
normally, entries of the old folder that are not this run's outputs (a ``compare/`` folder,
a planner's notes) are carried over by hard link, and the staging folder takes the output
folder's place in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two
renames, recovered on the next run). So at any moment the folder holds one complete run: a
run killed or failing at any point leaves the previous set untouched. What a killed run
leaves behind is a hidden sibling, removed by the next run into the same folder; a run that
fails (an error, Ctrl-C, SIGTERM) removes its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import OutputError

#: Files a run writes (a name listed here and not produced by this run is dropped, so the
#: folder never mixes two runs' outputs); anything else in the folder is kept.
RUN_OUTPUTS = frozenset(
    {
        "assignments.csv",
        "changes.csv",
        "territories.csv",
        "roster.csv",
        "summary.json",
        "quotas.csv",
        "plan.xlsx",
        "rollup_area.csv",
        "rollup_region.csv",
        "territories.geojson",
        "map.html",
        "report.html",
        "compare.csv",
        "territory_changes.csv",
        "moved_units.csv",
        "compare.html",
    }
)
#: At most this many entries of a folder are carried over (``--out .`` by mistake).
MAX_CARRIED = 10_000

_STAGING = ".staging-"
_OLD = ".old-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_leftovers(target: Path) -> None:
    """Remove staging folders of dead runs into ``target``; put back a folder left aside by
    an interrupted two-rename swap."""
    prefix = f".{target.name}"
    for sibling in target.parent.glob(f"{prefix}{_OLD}*"):
        if target.exists():
            shutil.rmtree(sibling, ignore_errors=True)  # the swap completed: this is the old set
        else:
            with contextlib.suppress(OSError):  # killed between the two renames: put it back
                sibling.rename(target)
    for sibling in target.parent.glob(f"{prefix}{_STAGING}*"):
        pid = sibling.name[len(prefix) + len(_STAGING) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(sibling, ignore_errors=True)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _carry_over(old: Path, stage: Path, keep: Callable[[str], bool]) -> None:
    """Entries of the old folder the new set keeps, hard-linked into the staging folder."""
    entries = [e for e in old.iterdir() if not (stage / e.name).exists() and keep(e.name)]
    if len(entries) > MAX_CARRIED:
        msg = f"{old}: the output folder holds {len(entries):,} other files; write to an empty folder or a plan folder"
        raise OutputError(msg)
    for entry in entries:
        target = stage / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(target))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False when not supported here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # now holds the previous set
        return
    aside = target.with_name(f".{target.name}{_OLD}{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, aside)
    os.rename(stage, target)
    shutil.rmtree(aside, ignore_errors=True)


def _replace_files(stage: Path, target: Path, keep: Callable[[str], bool]) -> None:
    """Fallback for a folder that cannot be renamed (a mount point, e.g. a container volume):
    each file is replaced atomically, outputs of an earlier run not written now are removed.
    The folder may then mix two runs for the moments the copies take."""
    produced = {entry.name for entry in stage.iterdir()}
    for entry in sorted(stage.iterdir(), key=lambda e: e.name == "summary.json"):  # summary last
        if entry.is_dir():
            continue
        temporary = target / f".{entry.name}.{secrets.token_hex(4)}.tmp"
        try:
            shutil.copy2(entry, temporary)
            os.replace(temporary, target / entry.name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    for old in target.iterdir():
        if old.name not in produced and not keep(old.name) and old.is_file() and not old.name.endswith(".tmp"):
            old.unlink()


def _explain(exc: OSError, folder: Path) -> str:
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return f"{folder}: the disk is full (or over quota) while writing the outputs; free space and run again. The previous outputs are untouched"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{folder}: cannot write there ({exc.strerror}); choose a folder you can write to with --out. The previous outputs are untouched"
    if exc.errno == errno.ENOTDIR or exc.errno == errno.EEXIST:
        return f"{folder}: a file is in the way of the output folder ({exc.strerror}); give a folder path with --out"
    return f"{folder}: cannot write the outputs ({exc.strerror or exc}); the previous outputs are untouched"


def check_output_folder(folder: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """The output folder with symbolic links resolved, refused when it is a file or holds
    one of the run's input files (at any depth). Returns the resolved path."""
    target = Path(folder)
    inputs = list(inputs)
    try:
        if target.exists() and not target.is_dir():
            msg = f"{folder}: is a file, not a folder; give a folder for the outputs with --out"
            raise OutputError(msg)
        real = target.resolve()
        sources = [Path(name).resolve() for name in inputs]
        here = Path.cwd().resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic-link loop, a name too long, no cwd
        msg = f"{folder}: not a usable output folder ({exc}); give another folder with --out"
        raise OutputError(msg) from None
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        home = None
    if real in (here, home) or real in here.parents:
        msg = (
            f"{folder}: is the current folder, one above it or the home folder; a run replaces its output "
            "folder as a whole, so give a folder of its own (e.g. --out out/plan)"
        )
        raise OutputError(msg)
    existing = next(p for p in (real, *real.parents) if p.exists())
    if not existing.is_dir():
        msg = f"{folder}: cannot be created, {existing} is a file; give a folder path with --out"
        raise OutputError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{folder}: cannot write there ({existing} is read-only for this user); choose another folder with --out"
        raise OutputError(msg)
    for name, source in zip(inputs, sources, strict=True):
        if source == real or real in source.parents:
            msg = (
                f"{folder}: the output folder holds an input file of this run ({name}); a run replaces the "
                "folder's outputs as one set, so write to another folder (--out) or move the input"
            )
            raise OutputError(msg)
    return real


@contextlib.contextmanager
def staged_folder(
    folder: str | Path, *, inputs: Iterable[str | Path] = (), keep: Callable[[str], bool] | None = None
) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``folder`` atomically (see the module
    docstring). ``keep(name)`` says which entries of the old folder the new set keeps (by
    default everything but :data:`RUN_OUTPUTS` and temporary files).

    Raises
    ------
    OutputError
        The folder is a file, holds an input file, or cannot be written (full disk,
        read-only): the previous outputs are left as they were.
    """
    real = check_output_folder(folder, inputs)
    keep = keep or (lambda name: name not in RUN_OUTPUTS and not name.endswith(".tmp"))
    stage: Path | None = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(real)
        stage = real.with_name(f".{real.name}{_STAGING}{os.getpid()}-{secrets.token_hex(4)}")
        stage.mkdir()
        yield stage
        if real.exists() and os.path.ismount(real):
            _replace_files(stage, real, keep)  # a mount point cannot be renamed
        else:
            if real.exists():
                _carry_over(real, stage, keep)
            _fsync_dir(stage)
            _swap_in(stage, real)
            stage = None
            _fsync_dir(real.parent)
    except OSError as exc:
        raise OutputError(_explain(exc, Path(folder))) from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
