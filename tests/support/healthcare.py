"""A stand-in for the Google Cloud Healthcare API's DICOMweb endpoint, on loopback.

A small FastAPI app (served by uvicorn in a thread) that answers DICOMweb under
``/v1/projects/P/locations/L/datasets/D/dicomStores/S/dicomWeb/`` only with
``Authorization: Bearer <token>`` (401 otherwise, as Google does): STOW-RS (``POST .../studies``) and
QIDO-RS/WADO-RS (``GET``) are passed on to a real Orthanc's ``/dicom-web/`` (with Orthanc's own
login, when it has one), returning Orthanc's answer. It is also an OAuth token endpoint
(``/token``) for service-account credentials: the JWT assertion must verify against the key's public
certificate, then it hands out the token.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.support.dcmtk import LOOPBACK, free_port
from tests.support.orthanc import Orthanc

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
DICOMWEB_ROOT = "/v1/projects/{project}/locations/{location}/datasets/{dataset}/dicomStores/{store}/dicomWeb"
STOW_PATH = DICOMWEB_ROOT + "/studies"


@dataclass
class Seen:
    """What the fake received: the stores addressed and the token requests."""

    stores: list[tuple[str, str, str, str]] = field(default_factory=list)
    reads: list[tuple[str, str, str, str]] = field(default_factory=list)
    unauthorized: int = 0
    token_requests: int = 0


class FakeHealthcareAPI:
    def __init__(self, orthanc: Orthanc, token: str, *, certificate_pem: bytes | None = None) -> None:
        self.orthanc = orthanc
        self.token = token
        self.certificate_pem = certificate_pem
        self.port = free_port()
        self.seen = Seen()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def token_uri(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/token"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(STOW_PATH)
        async def stow(project: str, location: str, dataset: str, store: str, request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return self._unauthorized()
            self.seen.stores.append((project, location, dataset, store))
            body = await request.body()
            async with self._client() as client:
                answer = await client.post(
                    f"{self.orthanc.dicomweb_url}/studies",
                    content=body,
                    headers={"Content-Type": request.headers["content-type"]},
                )
            return Response(
                answer.content, status_code=answer.status_code, media_type="application/dicom+json"
            )

        @app.get(DICOMWEB_ROOT + "/{path:path}")
        async def read(
            project: str, location: str, dataset: str, store: str, path: str, request: Request
        ) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return self._unauthorized()
            self.seen.reads.append((project, location, dataset, store))
            async with self._client() as client:
                answer = await client.get(
                    f"{self.orthanc.dicomweb_url}/{path}",
                    params=request.query_params.multi_items(),
                    headers={"Accept": request.headers.get("accept", "*/*")},
                )
            return Response(
                answer.content,
                status_code=answer.status_code,
                headers={"Content-Type": answer.headers.get("content-type", "application/octet-stream")},
            )

        @app.post("/token")
        async def token(request: Request) -> Response:
            from google.auth import jwt

            self.seen.token_requests += 1
            form = await request.form()
            try:
                assert self.certificate_pem is not None
                # google-auth signs for Google's token endpoint whatever the key's token_uri says.
                jwt.decode(
                    str(form["assertion"]),
                    certs=self.certificate_pem.decode(),
                    audience=GOOGLE_TOKEN_AUDIENCE,
                )
            except Exception as exc:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": repr(exc)}, status_code=400
                )
            return JSONResponse({"access_token": self.token, "expires_in": 3600, "token_type": "Bearer"})

        return app

    def _unauthorized(self) -> Response:
        self.seen.unauthorized += 1
        return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status_code=401)

    def _client(self) -> httpx.AsyncClient:
        login = self.orthanc.session.auth
        auth = httpx.BasicAuth(*login) if isinstance(login, tuple) else None
        return httpx.AsyncClient(trust_env=False, timeout=60, auth=auth)

    def start(self) -> FakeHealthcareAPI:
        config = uvicorn.Config(
            self.app(), host=LOOPBACK, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-healthcare", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Healthcare API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeHealthcareAPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
