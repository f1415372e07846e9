"""Memory: refuse out-of-memory-prone runs up front, with the estimate and what to change."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SolverError

#: Bytes per candidate pair in the full CP-SAT model (Python variable objects, the model
#: proto, the solver's copy). Measured: 800 k pairs peaked at 4.2 GB.
BYTES_PER_PAIR = 5_000
#: Bytes per group-seat pair kept by the company-scale path (cost cache, flow arcs).
BYTES_PER_LARGE_PAIR = 120


#: Where the kernel shows control groups, and this process's membership (tests point these
#: at fake trees).
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
_NO_LIMIT = 2**60  # cgroup v1 writes "no limit" as a huge number


def available_memory() -> int | None:
    """Bytes this run can still use [B], None when unknown: the least of the machine's
    MemAvailable, the room left under the process's control-group limit (cgroup v2
    ``memory.max`` / v1 ``memory.limit_in_bytes``, at every level up from the process's own
    group: a container's limit, not the host's free memory) and the address-space limit
    (``ulimit -v``)."""
    candidates = [c for c in (_host_available(), cgroup_room(), _rlimit_room()) if c is not None]
    return min(candidates) if candidates else None


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _NO_LIMIT else value


def _groups() -> list[tuple[Path, str, str]]:
    """(folder, limit file, usage file) from the process's own group up to the root."""
    try:
        lines = PROC_CGROUP.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    found: list[tuple[Path, str, str]] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            base, files = CGROUP_ROOT, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = CGROUP_ROOT / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        folder = base / group.strip("/") if group.strip("/") else base
        for level in (folder, *folder.parents):
            found.append((level, *files))
            if level == base:
                break
    # a container often shows only its own group, mounted at the root
    found += [
        (CGROUP_ROOT, "memory.max", "memory.current"),
        (CGROUP_ROOT / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"),
    ]
    return found


def cgroup_room() -> int | None:
    """Bytes left under the tightest control-group memory limit [B], None without a limit."""
    rooms = []
    for folder, limit_file, usage_file in _groups():
        limit = _read_int(folder / limit_file)
        if limit is None:
            continue
        used = _read_int(folder / usage_file) or 0
        rooms.append(max(limit - used, 0))
    return min(rooms) if rooms else None


def _rlimit_room() -> int | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY or soft <= 0:
            return None
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[0])
        return max(soft - pages * os.sysconf("SC_PAGE_SIZE"), 0)
    except (ImportError, OSError, ValueError, IndexError):
        return None


def check_memory(need: float, what: str, advice: str) -> None:
    """Raise :class:`SolverError` when ``need`` bytes exceed 90 % of the available memory."""
    have = available_memory()
    if have is None or need <= 0.9 * have:
        return
    room = cgroup_room()
    where = " (under this container's memory limit)" if room is not None and room <= have else ""
    msg = f"this run needs about {need / 1e9:.1f} GB of memory ({what}), but only {have / 1e9:.1f} GB are available{where}: {advice}"
    raise SolverError(msg)
