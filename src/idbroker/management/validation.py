"""Request bodies are validated by pydantic models; this turns a failure into Auth0's
``Payload validation error`` with the first problem named."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from idbroker.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise BadRequest("Payload validation error: the body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise BadRequest(f"Payload validation error: {message} (at {where})") from exc
