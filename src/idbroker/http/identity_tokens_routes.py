"""The Management API's operations on one identity's stored IdP tokens: explicit upstream
revocation and upstream validation (docs/token-termination.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idbroker.http.errors import NO_STORE
from idbroker.http.operations import operation
from idbroker.http.requests import client_ip
from idbroker.lifecycle import revocation, validation
from idbroker.management import schemas
from idbroker.oauth.tokens import VerifiedAccessToken
from idbroker.runtime import Runtime

TOKENS_PATH = "/api/v2/users/{id}/identities/{provider}/{user_id}/tokens"
REVOKE_SCOPES = ("delete:user_idp_tokens", "update:users")


def _identity_key(request: Request) -> tuple[str, str, str]:
    p = request.path_params
    return str(p["id"]), str(p["provider"]), str(p["user_id"])


async def _revoke(request: Request, rt: Runtime, caller: VerifiedAccessToken) -> str | None:
    user_id, provider, idp_user_id = _identity_key(request)
    identity, outbox_id = await revocation.revoke_identity(
        rt, user_id, provider, idp_user_id, reason="api")
    await rt.store.audit(
        "revoke_requested", description="IdP tokens revoked through the Management API",
        client_id=caller.claims.get("azp"), user_id=user_id, connection=identity.connection,
        ip=client_ip(request),
        details={"identity_id": identity.id, "revocation_id": outbox_id,
                 "caller": caller.subject})
    return outbox_id


@operation("DELETE", TOKENS_PATH, scopes=REVOKE_SCOPES, tag="users", status=204,
           summary="Revoke an identity's IdP tokens upstream and delete them here")
async def delete_identity_tokens(request: Request, rt: Runtime,
                                 caller: VerifiedAccessToken) -> Response:
    await _revoke(request, rt, caller)
    return Response(status_code=204, headers=NO_STORE)


@operation("POST", TOKENS_PATH, scopes=REVOKE_SCOPES, tag="users", status=202,
           response=schemas.TokenRevocationOut,
           summary="Revoke an identity's IdP tokens upstream; answers the revocation id")
async def post_identity_tokens_revocation(request: Request, rt: Runtime,
                                          caller: VerifiedAccessToken) -> Response:
    outbox_id = await _revoke(request, rt, caller)
    return JSONResponse({"revocation_id": outbox_id, "token_status": revocation.REVOKED},
                        status_code=202, headers=NO_STORE)


@operation("GET", TOKENS_PATH + "/validation", scopes=("read:user_idp_tokens",), tag="users",
           response=schemas.TokenValidationOut,
           summary="Ask the upstream IdP whether the stored access token is live")
async def get_identity_token_validation(request: Request, rt: Runtime,
                                        caller: VerifiedAccessToken) -> Response:
    user_id, provider, idp_user_id = _identity_key(request)
    body = await validation.validate_identity_token(
        rt, user_id=user_id, provider=provider, idp_user_id=idp_user_id,
        caller=caller.claims.get("azp"), ip=client_ip(request))
    return JSONResponse(body, headers=NO_STORE)
