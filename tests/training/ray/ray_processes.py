"""The process tree, read from /proc: which Ray workers a test's processes started."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def descendants(root: int) -> dict[int, str]:
    """The processes below `root`, by pid, with their command lines, read from /proc."""
    parents, commands = {}, {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError):  # the process ended meanwhile
                continue
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, "")
                frontier.append(pid)
    return found
