"""Child processes for the benchmark: each in its own process group, always stopped on the way out.

Every role runs in a new session, so a Ctrl-C in the terminal reaches only the benchmark, which then
stops the whole group of each child it started (``axiom up``'s roles and Celery's pool processes
included) by that group's id: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    pass


def sigterm_as_keyboard_interrupt() -> None:
    """Make ``kill <pid>`` unwind like Ctrl-C, so every ``finally`` runs and children are stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


class Group:
    """One child process started in its own session (its pid is its process group id)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the leader (it stops its own children), wait, then SIGKILL what is left of the group."""
        if self.alive():
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        # Stragglers (pool processes, a role that ignored SIGTERM) go with the group.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} ({self.log_path})\n" + "\n".join(text)


class Processes:
    """The children of one benchmark target; ``stop_all`` stops them in reverse start order."""

    def __init__(self, log_dir: Path, env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.groups: list[Group] = []

    def start(self, name: str, argv: Sequence[str]) -> Group:
        group = Group(name, argv, env=self.env, log_path=self.log_dir / f"{name}.log")
        self.groups.append(group)
        return group

    def axiom(self, role: str, *args: str) -> Group:
        return self.start(role, [sys.executable, "-m", "cli.main", role, *args])

    def run_axiom(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def check_alive(self) -> None:
        for group in self.groups:
            if not group.alive():
                raise BenchError(f"{group.name} exited with {group.proc.returncode}\n{group.log_tail()}")

    def stop_all(self) -> None:
        """Stop every group; a second Ctrl-C meanwhile turns the rest of the clean-up into SIGKILLs."""
        interrupted: KeyboardInterrupt | None = None
        for group in reversed(self.groups):
            try:
                group.stop(grace=0.0 if interrupted else 20.0)
            except KeyboardInterrupt as exc:
                interrupted = exc
                group.kill()
        self.groups.clear()
        if interrupted is not None:
            raise interrupted

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(group.log_tail(lines) for group in self.groups)


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    interval: float = 0.1,
    check: Callable[[], None] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- /proc readings (Linux) -----------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"


def listening(port: int) -> bool:
    """True when a socket listens on ``port``; read from /proc, so no probe connection is made.

    (A probe connection would leave a pynetdicom acceptor thread waiting for an A-ASSOCIATE-RQ.)
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            continue
    return False


def _process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far: user + system)."""
    table: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        table[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return table


def tree_cpu_seconds(roots: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and all its living descendants."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    totals: dict[str, float] = {}
    for name, root in roots.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += table.get(pid, (0, 0.0))[1]
            todo += children.get(pid, [])
        totals[name] = total
    return totals


def child_roles(pid: int) -> dict[str, int]:
    """The ``python -m cli.main <role>`` children of ``pid`` (``axiom up``'s roles), by role."""
    roles: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return roles
    for kid in kids:
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "cli.main" in argv:
            role = argv[argv.index("cli.main") + 1]
            # Workers on other queues than the data path's are told apart by them.
            if "--queues" in argv and "default" not in argv[argv.index("--queues") + 1].split(","):
                role = f"{role} ({argv[argv.index('--queues') + 1]})"
            roles[role] = kid
    return roles
