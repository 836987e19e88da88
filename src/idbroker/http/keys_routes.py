"""Management API operations on the token signing keys (public parts only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import operation
from idbroker.management import schemas, signing_keys
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime


def _json(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@operation("GET", "/api/v2/keys/signing", scopes=("read:signing_keys",), tag="keys",
           summary="List the signing keys", response=list[schemas.SigningKeyOut])
async def list_signing_keys(request: Request, rt: Runtime,
                            caller: VerifiedAccessToken) -> Response:
    return _json(await signing_keys.list_all(rt))


@operation("POST", "/api/v2/keys/signing/rotate", scopes=("create:signing_keys",), tag="keys",
           summary="Rotate the signing key: next becomes current, a new next is published",
           response=schemas.SigningKeyChangeOut, status=201)
async def rotate_signing_key(request: Request, rt: Runtime,
                             caller: VerifiedAccessToken) -> Response:
    return _json(await signing_keys.rotate(rt), 201)


@operation("GET", "/api/v2/keys/signing/{kid}", scopes=("read:signing_keys",), tag="keys",
           summary="Get a signing key", response=schemas.SigningKeyOut)
async def get_signing_key(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> Response:
    return _json(await signing_keys.get(rt, request.path_params["kid"]))


@operation("PUT", "/api/v2/keys/signing/{kid}/revoke", scopes=("update:signing_keys",),
           tag="keys", summary="Revoke a previous signing key (its tokens stop verifying)",
           response=schemas.SigningKeyChangeOut)
async def revoke_signing_key(request: Request, rt: Runtime,
                             caller: VerifiedAccessToken) -> Response:
    return _json(await signing_keys.revoke(rt, request.path_params["kid"]))
