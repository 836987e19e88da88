"""auth0-python 4.13.0's per-resource Management classes (``Clients``, ``Connections``,
``ClientGrants``, ``Users``, ``UsersByEmail``, ``ResourceServers``, ``Logs``) against a
running idbroker over loopback HTTP. v4 runs in a subprocess (tests/interop/v4/driver.py, see
v4_runner.py); this module sets up the tenant, runs the scenario once and asserts on what
each SDK call returned or raised. v4 has no signing-key class, so keys are v6-only."""

from __future__ import annotations

from typing import Any

import pytest
from auth0.authentication import GetToken

from tests.interop.conftest import Stack
from tests.interop.sdk_tenant import admin_token, oidc_connection_body, v6
from tests.interop.v4_runner import run_v4

CONNECTION = "acme-oidc"
USERS, PER_PAGE = 12, 5  # as in the driver


def weak_token(stack: Stack, token: str) -> str:
    """A token whose grant holds read:clients only."""
    mgmt = v6(stack, token)
    client = mgmt.clients.create(name="v4 weak", app_type="non_interactive")
    mgmt.client_grants.create(client_id=client.client_id, audience=stack.management_audience,
                              scope=["read:clients"])
    return str(GetToken(stack.domain, client.client_id, client_secret=client.client_secret,
                        protocol="http").client_credentials(
        audience=stack.management_audience)["access_token"])


@pytest.fixture(scope="module")
def out(stack: Stack) -> dict[str, Any]:
    token = admin_token(stack)
    return run_v4({"scenario": "crud", "domain": stack.domain, "token": token,
                   "audience": stack.management_audience,
                   "weak_token": weak_token(stack, token),
                   "upstream": oidc_connection_body(stack)["options"]})


def ok(outcome: dict[str, Any]) -> Any:
    assert "error" not in outcome, outcome
    return outcome["ok"]


def test_it_really_is_v4(out: dict[str, Any]) -> None:
    assert out["version"] == "4.13.0"


def test_clients(out: dict[str, Any]) -> None:
    c = out["clients"]
    client_id = c["created"]["client_id"]
    assert c["created"]["client_secret"] and "client_secret" not in c["get"]
    assert c["get"]["callbacks"] == ["https://app.example.test/cb"]
    assert {"client_id", "name"} <= set(c["get_fields"])
    assert isinstance(c["all"], list) and client_id in [x["client_id"] for x in c["all"]]
    page = c["all_page"]
    assert len(page["clients"]) == 2 and page["start"] == 0 and page["limit"] == 2
    assert page["total"] == len(c["all"])
    assert c["update"]["name"] == "v4 app renamed"
    assert c["rotate"]["client_secret"] != c["created"]["client_secret"]
    assert c["delete"] == ""  # 204: v4 returns "" for an empty body
    assert c["get_deleted"]["status_code"] == 404
    assert c["get_deleted"]["error_code"] == "inexistent_client"


def test_connections(out: dict[str, Any]) -> None:
    c = out["connections"]
    assert c["created"]["name"] == CONNECTION and c["created"]["strategy"] == "oidc"
    assert "client_secret" not in c["created"]["options"]
    assert c["get"]["id"] == c["created"]["id"]
    assert {x["name"] for x in c["all"]} == {CONNECTION, "v4-other"}
    assert [x["name"] for x in c["by_name"]] == [CONNECTION]
    assert c["update"]["display_name"] == "Other"
    assert c["delete"] == ""
    assert c["get_deleted"]["status_code"] == 404


def test_client_grants(out: dict[str, Any]) -> None:
    g = out["client_grants"]
    assert g["created"]["scope"] == ["read:users"]
    assert [x["id"] for x in g["all"]] == [g["created"]["id"]]
    assert g["update"]["scope"] == ["read:users", "update:users"]
    assert g["delete"] == "" and g["all_after"] == []


def test_users_listed_page_by_page_until_an_empty_page(out: dict[str, Any]) -> None:
    u = out["users"]
    ids = [x["user_id"] for x in u["created"]]
    assert ids == [f"oidc|{CONNECTION}|v4-{n:02d}" for n in range(USERS)]
    pages = u["pages"]
    assert len(pages) == USERS // PER_PAGE + 2 and pages[-1]["users"] == []
    assert [p["start"] for p in pages] == [n * PER_PAGE for n in range(len(pages))]
    assert all(p["limit"] == PER_PAGE and p["total"] == USERS for p in pages)
    listed = [x["user_id"] for p in pages for x in p["users"]]
    assert sorted(listed) == sorted(ids)  # every user once
    assert sorted(x["user_id"] for x in u["bare"]) == sorted(ids)  # include_totals=false


def test_users_search_and_by_email(out: dict[str, Any]) -> None:
    u = out["users"]
    assert [x["email"] for x in u["search_email"]["users"]] == ["v4-03@example.com"]
    gold = {x["user_id"] for x in u["search_gold"]["users"]}
    assert gold == {f"oidc|{CONNECTION}|v4-{n:02d}" for n in range(0, USERS, 4)}
    assert [x["email"] for x in u["by_email"]] == ["v4-05@example.com"]
    assert [set(x) for x in u["by_email_fields"]] == [{"user_id", "email"}]


def test_users_get_patch_delete_and_logs(out: dict[str, Any]) -> None:
    u = out["users"]
    first = f"oidc|{CONNECTION}|v4-00"
    assert u["get"]["user_id"] == first and u["get"]["identities"][0]["provider"] == "oidc"
    assert set(u["get_fields"]) == {"user_id", "app_metadata"}
    assert u["update"]["app_metadata"] == {"seats": 3}  # "plan": null removed the key
    assert u["update"]["user_metadata"] == {"theme": "dark"}
    assert u["delete"] == ""
    assert u["get_deleted"]["status_code"] == 404
    assert u["get_deleted"]["error_code"] == "inexistent_user"
    assert u["get_deleted"]["message"] == "The user does not exist."
    assert isinstance(u["logs"], list)
    assert all(entry["user_id"] == first for entry in u["logs"])


def test_link_and_unlink(out: dict[str, Any]) -> None:
    link = out["linking"]
    assert [(i["provider"], i["user_id"]) for i in link["link"]] == [
        ("oidc", f"{CONNECTION}|v4-main"), ("oidc", f"{CONNECTION}|v4-alt")]
    assert link["secondary_gone"]["status_code"] == 404
    assert [i["user_id"] for i in link["unlink"]] == [f"{CONNECTION}|v4-main"]
    assert link["secondary_back"]["user_id"] == f"oidc|{CONNECTION}|v4-alt"


def test_resource_servers(out: dict[str, Any]) -> None:
    r = out["resource_servers"]
    assert r["created"]["identifier"] == "https://api.v4.example.test/"
    assert r["get"]["id"] == r["created"]["id"]
    assert r["created"]["id"] in [x["id"] for x in r["get_all"]]
    page = r["get_all_page"]
    assert len(page["resource_servers"]) == 1 and page["total"] == len(r["get_all"])
    assert r["update"]["name"] == "v4 API renamed"
    assert r["duplicate"]["status_code"] == 409
    assert r["delete"] == "" and r["get_deleted"]["status_code"] == 404


def test_logs(out: dict[str, Any]) -> None:
    found = out["logs"]["search"]
    assert found["start"] == 0 and found["limit"] == 10 and found["total"] >= len(found["logs"])
    assert found["logs"] and all({"log_id", "date", "type"} <= set(x) for x in found["logs"])
    assert out["logs"]["get"]["log_id"] == found["logs"][0]["log_id"]


def test_error_bodies_as_v4_reads_them(out: dict[str, Any]) -> None:
    e = out["errors"]
    # v4: error_code = errorCode, else error; message = message (compat §1.6).
    assert e["bad_body"]["status_code"] == 400 and e["bad_body"]["error_code"] == "invalid_body"
    assert e["bad_body"]["message"].startswith("Payload validation error")
    assert e["bad_token"] == {"error": "Auth0Error", "status_code": 401,
                              "error_code": "Unauthorized", "message": "Invalid token"}
    assert e["no_scope"]["status_code"] == 403
    assert e["no_scope"]["error_code"] == "insufficient_scope"
    assert e["no_scope"]["message"] == "Insufficient scope, expected any of: read:users"
