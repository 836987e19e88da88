"""Keep query strings out of httpx's request log.

httpx logs every request URL at INFO ("HTTP Request: GET https://..."). Some providers
document credentials in the query string (Facebook's ``code``/``client_secret`` exchange,
``fb_exchange_token``, Graph calls with ``access_token``), and a deployment running at INFO
would otherwise write them to its log. The filter rewrites the URL argument of httpx's own
records to drop the query; everything else passes unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx


class QueryRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redacted(arg) for arg in record.args)
        return True


# Paths whose last segment is a token (HubSpot's token metadata and refresh-token deletion).
TOKEN_IN_PATH = ("/oauth/v1/access-tokens/", "/oauth/v1/refresh-tokens/")


def _redacted(arg: Any) -> Any:
    if isinstance(arg, httpx.URL) and any(m in arg.path for m in TOKEN_IN_PATH):
        arg = arg.copy_with(path=arg.path.rsplit("/", 1)[0] + "/[redacted]")
    if isinstance(arg, httpx.URL) and arg.query:
        return f"{arg.copy_with(query=None)}?[redacted]"
    return arg


def install() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, QueryRedactor) for f in logger.filters):
        logger.addFilter(QueryRedactor())
