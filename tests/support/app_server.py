"""A FastAPI app served by uvicorn in a thread on a loopback port: the base of the tests' local
stand-ins for cloud APIs (OpenAI, Vertex, GCS, an OIDC provider). Use as a context manager."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn

from tests.support.dcmtk import free_port


class AppServer:
    name = "local app server"

    def __init__(self) -> None:
        self.port = free_port()

    def _serve(self, app: Any) -> None:
        """Called by the subclass once its app is built; the server starts on ``__enter__``."""
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self._thread.join(5)
