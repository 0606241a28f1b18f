"""DCMTK's storescu and storescp, driven as real processes on loopback.

Debian's DCMTK waits ~90 ms per C-STORE unless ``TCP_NODELAY=1`` is in its environment, so every
launch here sets it. storescu exits 0 even when stores fail: count what arrived at the receiver.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

LOOPBACK = "127.0.0.1"
STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
# PS3.8: presentation context IDs are odd numbers 1..255.
MAX_PRESENTATION_CONTEXTS = 128


def dcmtk_env() -> dict[str, str]:
    return {**os.environ, "TCP_NODELAY": "1"}


def dcmtk_available() -> bool:
    return all(os.access(p, os.X_OK) for p in (STORESCU, STORESCP))


# Test servers take ports below the kernel's ephemeral range (32768-60999 here), so no client socket of
# another test can hold one; each pytest-xdist worker (gwN) draws from its own slice of 5,000.
_PORT_BASE = 20000
_PORT_SLICE = 5000
_ports = itertools.count(random.Random(os.getpid()).randrange(_PORT_SLICE))


def _worker_index() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 2


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now, from this worker's slice (a process outside the tests
    could still take it)."""
    base = _PORT_BASE + _PORT_SLICE * _worker_index()
    for _ in range(_PORT_SLICE):
        port = base + next(_ports) % _PORT_SLICE
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left in this worker's slice")


def wait_for_port(
    host: str, port: int, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f} s")


def _part10_files(items: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        path = Path(item)
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return files


def storescu_profile(files: Iterable[Path]) -> str:
    """A storescu association profile with one presentation context per (SOP class, transfer syntax).

    storescu's ``-x*`` options propose at most one compressed syntax per run; a profile lets one
    association carry RLE, JPEG and JPEG 2000 files side by side, each in its own syntax (storescu
    picks the accepted context whose syntax equals the file's).
    """
    pairs: dict[tuple[str, str], None] = {}
    for path in files:
        try:
            meta = read_file_meta_info(path)
            pairs[(str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))] = None
        except (InvalidDicomError, OSError, AttributeError, ValueError):
            # Not a Part 10 file (a bad-input test's garbage): storescu reports and skips it itself.
            continue
    if len(pairs) > MAX_PRESENTATION_CONTEXTS:
        raise ValueError(f"{len(pairs)} SOP class/transfer syntax pairs: more than one association can carry")
    syntaxes = sorted({ts for _, ts in pairs})
    lines = ["[[TransferSyntaxes]]"]
    for n, ts in enumerate(syntaxes, start=1):
        lines += [f"[TS{n}]", f"TransferSyntax1 = {ts}"]
    lines += ["[[PresentationContexts]]", "[Contexts]"]
    for n, (sop_class, ts) in enumerate(pairs, start=1):
        lines.append(f"PresentationContext{n} = {sop_class}\\TS{syntaxes.index(ts) + 1}")
    lines += ["[[Profiles]]", "[Axiom]", "PresentationContexts = Contexts", ""]
    return "\n".join(lines)


def storescu(
    paths: Iterable[Path | str],
    host: str,
    port: int,
    called_ae: str,
    calling_ae: str = "STORESCU",
    *,
    timeout: float = 300.0,
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Send Part 10 files (or folders, recursively) in ONE association, each in its own syntax.

    The association is negotiated from a generated profile (see ``storescu_profile``), so
    compressed files travel compressed. ``-nh`` keeps going after a refused store; storescu still
    exits 0 when stores fail, so count at the receiver.
    """
    items = [str(p) for p in paths]
    files = _part10_files(items)
    if not files:
        raise ValueError("storescu needs at least one file")
    with tempfile.TemporaryDirectory(prefix="axiom-storescu-") as tmp:
        profile = Path(tmp) / "storescu.cfg"
        profile.write_text(storescu_profile(files))
        args = [STORESCU, "-aet", calling_ae, "-aec", called_ae, "-xf", str(profile), "Axiom", "-nh"]
        if any(Path(p).is_dir() for p in items):
            # Folders go to storescu as folders, which keeps big corpora off the command line.
            args += ["+sd", "+r"]
        args += [*extra_args, host, str(port), *items]
        return subprocess.run(
            args, env=dcmtk_env(), capture_output=True, text=True, timeout=timeout, check=False
        )


class StoreSCP:
    """A storescp receiving into ``output_dir`` (``ignore=True`` discards data: a pure network sink).

    Use as a context manager; the process is killed on exit even when the test failed.
    """

    def __init__(
        self,
        output_dir: Path,
        *,
        ae_title: str = "STORESCP",
        port: int | None = None,
        ignore: bool = False,
        extra_args: Sequence[str] = (),
        accept: str = "+xa",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.ae_title = ae_title
        self.host = LOOPBACK
        self.port = port or free_port()
        self.ignore = ignore
        self.extra_args = tuple(extra_args)
        # "+xa": every syntax storescp knows; "+x=": uncompressed only (a PACS that cannot decode).
        self.accept = accept
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.output_dir.parent / f"storescp-{self.port}.log"

    def start(self) -> StoreSCP:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # +B writes what arrived byte for byte.
        args = [
            STORESCP,
            "-aet",
            self.ae_title,
            self.accept,
            "-dhl",
            "-od",
            str(self.output_dir),
            "-fe",
            ".dcm",
        ]
        args += ["--ignore"] if self.ignore else ["+B"]
        args += [*self.extra_args, str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=dcmtk_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_port(self.host, self.port, process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def received_files(self) -> list[Path]:
        return sorted(p for p in self.output_dir.rglob("*.dcm") if p.is_file())

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> StoreSCP:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def which_dcmtk(binary: str) -> str | None:
    return shutil.which(binary)
