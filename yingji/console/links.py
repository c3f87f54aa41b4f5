"""OpenAPI links between operations, so that a client (or a stateful fuzzer) can walk a
workflow's life from the answer of the request that started it.

Each kind of workflow has a collection (``POST /api/plans``) and the operations on one of its
members (``/api/plans/{code}``, ``/api/plans/{code}/submit`` …). Every answer that is the
member's view — the start's 201, a read, an action's 200 — links to every operation on the
member, its path parameters taken from the view (``$response.body#/code``). A typhoon's view
links to the reports of its 街镇 too (the body's ``event_id``), a 叫应's to its answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    """A kind of workflow: its collection's path, and each path parameter of a member with
    the field of its view that holds it."""

    collection: str
    params: dict[str, str]
    #: Further operations the view leads to: (method, path) → request body fields from the view.
    bodies: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def member(self) -> str:
        return self.collection + "".join(f"/{{{p}}}" for p in self.params)


MEMBERS = (
    Member("/api/plans", {"code": "code"}),
    Member("/api/drills", {"code": "code"}),
    Member("/api/disasters", {"code": "code"}),
    Member(
        "/api/typhoons",
        {"year": "year", "number": "number"},
        bodies={
            ("post", "/api/typhoons/reports"): {"event_id": "event_id"},
            ("post", "/api/typhoons/occupancy"): {"event_id": "event_id"},
        },
    ),
    Member("/api/warnings", {"warning_id": "warning_id"}),
)


def _success(operation: dict[str, Any]) -> str | None:
    return next((code for code in ("201", "200") if code in operation["responses"]), None)


def _schema(op: dict[str, Any]) -> str:
    """The success answer's schema of ``op``, as text (a view's ``$ref`` is found in it)."""
    code = _success(op)
    if code is None:
        return ""
    content = op["responses"][code].get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    return schema.get("$ref", "") or json.dumps(schema)


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``links`` on the success answer of every operation that returns a
    member's view."""
    paths = schema.get("paths", {})
    for kind in MEMBERS:
        on_member = [
            (method, path, op)
            for path, item in paths.items()
            if path == kind.member or path.startswith(kind.member + "/")
            for method, op in item.items()
            if "operationId" in op
        ]
        start = paths.get(kind.collection, {}).get("post")
        if start is None or _success(start) is None:
            continue
        view = _schema(start)
        sources = [("post", kind.collection, start)]
        sources += [(m, p, op) for m, p, op in on_member if view and view in _schema(op)]
        links: dict[str, Any] = {}
        for method, path, op in on_member:
            links[op["operationId"]] = {
                "operationId": op["operationId"],
                "parameters": {
                    f"path.{param}": f"$response.body#/{source}"
                    for param, source in kind.params.items()
                },
                "description": f"{method.upper()} {path} of the workflow in this answer",
            }
        for (method, path), body in kind.bodies.items():
            op = paths.get(path, {}).get(method)
            if op is not None and "operationId" in op:
                links[op["operationId"]] = {
                    "operationId": op["operationId"],
                    "requestBody": {k: f"$response.body#/{v}" for k, v in body.items()},
                    "description": f"{method.upper()} {path} for the event in this answer",
                }
        for _, _, op in sources:
            if op is None:
                continue
            code = _success(op)
            if code is None:
                continue
            answer = op["responses"][code]
            answer["links"] = {
                name: link for name, link in links.items() if name != op["operationId"]
            }
    return schema
