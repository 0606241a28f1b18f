"""Database error messages without row values.

``hide_parameters`` keeps SQLAlchemy from quoting bound values, but PostgreSQL itself quotes them in
an error's DETAIL ("Failing row contains (..., MRN-0042, ...)", "Key (sop_instance_uid)=(...) already
exists"), and the driver puts that DETAIL in the exception's message. ``without_row_values`` (an
engine ``handle_error`` hook, installed by ``axiom.db.session.make_engine``) cuts the DETAIL out of
the driver's exception (in place, so a logged traceback's "direct cause" is clean too) and raises
the same kind of error with the primary message only: the SQLSTATE, the constraint or column named
in it and the statement stay for debugging (``orig.diag`` still holds the detail for code).
"""

from __future__ import annotations

from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError

_DETAIL = "\nDETAIL:"


def without_row_values(context: ExceptionContext) -> BaseException | None:
    orig = context.original_exception
    text = str(orig)
    if _DETAIL not in text or context.sqlalchemy_exception is None:
        return None
    orig.args = (text.split(_DETAIL, 1)[0],)
    if _DETAIL in str(orig):  # a driver whose message is not its args: leave it
        return None
    dbapi = context.dialect.loaded_dbapi
    return DBAPIError.instance(
        context.statement,
        context.parameters,
        orig,
        dbapi.Error,
        hide_parameters=True,
        connection_invalidated=context.invalidate_pool_on_disconnect and context.is_disconnect,
        dialect=context.dialect,
    )


__all__ = ["without_row_values"]
