"""Service exceptions mapped to HTTP statuses in one place, so routes stay thin. No response
echoes a submitted value: it may be a password or name a patient."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from axiom.admin.accounts import AccountError
from axiom.admin.apply_config import ConfigFileError
from axiom.admin.config_edit import ConfigConflict, ConfigNotFound
from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.admin.ruleset_versions import RollbackError, VersionNotFound

_STATUS: dict[type[Exception], int] = {
    ConfigNotFound: 404,
    VersionNotFound: 404,
    UnknownCrosswalk: 404,
    ConfigConflict: 409,
    RollbackError: 409,
}


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigFileError)
    problems = [{"field": where, "msg": why} for where, why in exc.problems]
    return JSONResponse({"detail": problems}, status_code=422)


async def _account_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AccountError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _by_status(_: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in _STATUS.items() if isinstance(exc, cls))
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own 422, less the submitted ``input`` (and ``ctx``, which may quote it).
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


async def _out_of_range(_: Request, exc: Exception) -> JSONResponse:
    # An id or version past what the database stores (SQLite: OverflowError, PostgreSQL: DataError).
    return JSONResponse({"detail": "a value in the request is out of range"}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(ConfigFileError, _config_error)
    app.add_exception_handler(AccountError, _account_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for cls in _STATUS:
        app.add_exception_handler(cls, _by_status)
