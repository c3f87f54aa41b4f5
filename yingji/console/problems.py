"""Every failure of the console's API in one shape: ``application/problem+json`` (RFC 9457).

A problem has ``type`` (a URN naming the kind of failure), ``title`` (the HTTP reason),
``status``, ``detail`` (one line naming the field and the reason) and, for a request whose
shape is wrong, ``errors``: each field's ``path`` (``body.code``, ``query.unit``,
``header.Idempotency-Key``) and ``reason`` in plain words.

- 400: the body is not JSON, or a header is malformed;
- 401: no token, or an unknown, short or revoked one (with ``WWW-Authenticate: Bearer``);
- 403: the token's role or units do not allow it;
- 404: what the path or the input names does not exist (a plan, a unit, an open typhoon);
- 405: the path has no such method (with ``Allow``);
- 409: a domain rule refuses it (the stage does not allow the action, a code in use, a rule of
  the bureau's records), or an ``Idempotency-Key`` sent again with another request;
- 412: ``If-Match`` no longer holds;
- 413: the body is over the limit;
- 422: the request does not fit its schema (only what the OpenAPI document itself says);
- 429: too many requests;
- 500: a fault of ours (logged; nothing in the answer but its kind);
- 503: Temporal or the database cannot answer now.

:func:`document` writes them into the OpenAPI document on every operation, so the schema names
every status an operation can answer.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models.common import Inconsistent
from yingji.core.errors import DomainRefusal, plain_reason
from yingji.core.logging import get_logger

MEDIA_TYPE = "application/problem+json"
log = get_logger("yingji.console")

#: The kind of each status, as the last part of its ``type`` URN.
KINDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "timeout",
    409: "refused",
    412: "stale",
    413: "too-large",
    422: "invalid",
    429: "too-many-requests",
    500: "server-error",
    503: "unavailable",
}


class FieldProblem(BaseModel):
    """One field of the request that does not fit: where, and why in plain words."""

    path: str = Field(description="where in the request: body.code, query.unit, header.If-Match")
    reason: str = Field(description="what the field must be")


class Problem(BaseModel):
    """An error answer (RFC 9457)."""

    type: str = Field(
        description="a URN naming the kind of failure, e.g. urn:yingji:problem:invalid"
    )
    title: str = Field(description="the HTTP reason phrase")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="what went wrong, naming the field and the reason")
    errors: list[FieldProblem] | None = Field(
        default=None, description="for a request that does not fit its schema: each field"
    )


def problem(
    status: int,
    detail: str,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        _body(status, detail, errors), status_code=status, headers=headers, media_type=MEDIA_TYPE
    )


def _body(status: int, detail: str, errors: list[FieldProblem] | None = None) -> dict[str, Any]:
    """A problem as JSON data."""
    return Problem(
        type=f"urn:yingji:problem:{KINDS.get(status, str(status))}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors,
    ).model_dump(mode="json", exclude_none=True)


def _methods(app: FastAPI, path: str, found: str) -> str:
    """The methods the documented operations of ``path`` answer (``found``: the ``Allow`` of the
    route that matched, which names its own methods only)."""
    methods = set(m.strip() for m in found.split(",") if m.strip())
    for template, item in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
    return ", ".join(sorted(methods))


def problem_bytes(status: int, detail: str) -> bytes:
    """A problem's body, for an ASGI middleware that answers without the framework."""
    return json.dumps(_body(status, detail), ensure_ascii=False).encode()


def field_problems(errors: list[Any]) -> list[FieldProblem]:
    """pydantic's errors as fields and plain reasons (never the input echoed back)."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        reason = plain_reason(e)
        if e.get("type") == "json_invalid":  # its loc holds a character offset, not a field
            loc = loc[:1]
            reason = f"is not valid JSON (at character {e.get('loc', (0, 0))[-1]})"
        named = _FIELDS.match(reason)
        if named and e.get("type") == "value_error":
            # a rule of a whole model names its fields first: point at the first of them
            first, last = named[1].split(", ")[0], (loc[-1] if loc else "")
            if first.startswith(last + "."):
                loc = [*loc, first[len(last) + 1 :]]
            elif first != last:
                loc = [*loc, first]
        out.append(FieldProblem(path=".".join(loc) or "body", reason=_safe(reason)))
    return out


#: A refusal's message that starts by naming its fields: ``figures.returned: …``.
_FIELDS = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*(?:, [a-z_][a-z0-9_.]*)*): ")


def _safe(text: str) -> str:
    """Text that encodes as UTF-8 (a lone surrogate of the input made a 500 once)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def invalid_answer(errors: list[Any]) -> JSONResponse:
    """422 for a request that does not fit its schema; 409 when every field fits on its own
    and only a rule between fields refuses it (:class:`models.common.Inconsistent`)."""
    fields = field_problems(errors)
    ruled = all(isinstance((e.get("ctx") or {}).get("error"), Inconsistent) for e in errors)
    return problem(409 if errors and ruled else 422, _summary(fields), fields)


def _line_problem(text: str) -> FieldProblem:
    """``line 3: unit: '甲镇' is not registered`` as its place and its reason."""
    place, sep, reason = text.partition(": ")
    return (
        FieldProblem(path=_safe(place), reason=_safe(reason))
        if sep
        else FieldProblem(path="body", reason=_safe(text))
    )


def _summary(fields: list[FieldProblem]) -> str:
    # a rule of the whole body already names its fields
    shown = "; ".join(
        f.reason
        if f.path == "body" or _FIELDS.match(f.reason)
        else f"{f.path.removeprefix('body.')}: {f.reason}"
        for f in fields[:5]
    )
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return f"{shown}{more}" if fields else "the request does not fit its schema"


def install(app: FastAPI) -> None:
    """Every exception the console knows, answered as a problem."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = _methods(app, request.url.path, headers.get("Allow", ""))
            detail = f"{request.method} is not a method of {request.url.path}; it answers "
            detail += headers["Allow"]
        return problem(exc.status_code, _safe(detail), headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "the body is not valid JSON", field_problems(errors))
        return invalid_answer(errors)

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return invalid_answer(exc.errors(include_url=False))

    @app.exception_handler(DomainRefusal)
    async def refused(_: Request, exc: DomainRefusal) -> JSONResponse:
        """A report, roster or unit refused, nobody to call, a bureau not configured: 404 when
        what it names does not exist, otherwise 409; an import's bad lines as its errors."""
        lines = getattr(exc, "errors", None)
        fields = None
        if isinstance(lines, list) and lines:
            fields = [_line_problem(str(line)) for line in lines]
        elif named := _FIELDS.match(str(exc)):  # "linked_plans: no plan …" names its field
            fields = [FieldProblem(path=f"body.{named[1].split(', ')[0]}", reason=_safe(str(exc)))]
        return problem(exc.status, _safe(str(exc)), fields)

    @app.exception_handler(UnicodeError)
    async def bad_text(_: Request, exc: UnicodeError) -> JSONResponse:
        return problem(422, "text must be valid Unicode (no lone surrogates)")

    @app.exception_handler(RPCError)
    async def rpc_error(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:  # Temporal's message names the workflow
            return problem(404, _safe(f"not found, or no longer open ({exc.message})"))
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            return problem(409, _safe(f"Temporal refused it: {exc.message}"))
        return problem(503, _safe(f"Temporal cannot answer now: {exc.message}"))

    @app.exception_handler(WorkflowUpdateFailedError)
    async def update_failed(_: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        message = getattr(exc.cause, "message", None) or str(exc.cause or exc)
        if getattr(exc.cause, "type", None) == "StaleRequest":  # If-Match no longer holds
            return problem(412, _safe(message))
        return problem(409, _safe(message))

    @app.exception_handler(WorkflowAlreadyStartedError)
    async def already(_: Request, exc: WorkflowAlreadyStartedError) -> JSONResponse:
        return problem(409, _safe(f"{exc.workflow_id} already exists"))

    @app.exception_handler(Exception)
    async def fault(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "console: unhandled error",
            path=request.url.path,
            method=request.method,
            error=type(exc).__name__,
            exc_info=exc,
        )
        # the server closes the connection after a fault: say so
        return problem(
            500,
            f"an internal error ({type(exc).__name__}); it has been logged",
            headers={"Connection": "close"},
        )


#: Every operation can answer these; an operation with a body or an update these too.
ALWAYS = (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503)
WRITES = (412,)


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with :class:`Problem` as the answer of every error status of every
    operation (FastAPI's own 422 body replaced)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for sub, definition in components["Problem"].pop("$defs", {}).items():
        components[sub] = definition
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = ALWAYS + (WRITES if method != "get" else ())
            for code in codes:
                responses[str(code)] = {
                    "description": HTTPStatus(code).phrase + _WHY.get(code, ""),
                    "content": content,
                }
            if method == "post" or path.startswith("/api/requests/"):
                responses["202"] = {
                    "description": "Accepted: not answered within the wait; poll the URL in "
                    "Location (or send it again with the same Idempotency-Key)",
                    "content": {"application/json": {"schema": _ACCEPTED}},
                }
            if "401" in responses:
                responses["401"]["headers"] = {
                    "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}
                }
    return schema


#: The body of a 202 (see ``yingji.console.mutations``).
_ACCEPTED = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "poll": {"type": "string"},
    },
    "required": ["detail", "request_id", "poll"],
}

_WHY = {
    400: ": the body is not JSON, or a header is malformed",
    401: ": no token, or an unknown, short or revoked one",
    403: ": the token's role or units do not allow it",
    404: ": what the path or the input names does not exist",
    408: ": the body did not arrive in time",
    409: ": a domain rule or the workflow's stage refuses it",
    412: ": If-Match no longer holds",
    413: ": the body is over the limit",
    422: ": the request does not fit its schema",
    429: ": too many requests",
    500: ": a fault of the service",
    503: ": Temporal or the database cannot answer now",
}
