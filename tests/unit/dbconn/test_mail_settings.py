"""Mail settings: plain SMTP only to a relay on this machine in production."""

from __future__ import annotations

from idbroker.settings import Settings


def test_production_refuses_plain_smtp_to_another_machine() -> None:
    base = {"mode": "production", "issuer": "https://id.example.com/", "vault_key": "k" * 43}
    problems = Settings(**base, smtp_host="mail.example.com", smtp_security="none"
                        ).production_problems()
    assert any("IDBROKER_SMTP_SECURITY" in p for p in problems)
    for fine in ({"smtp_host": "127.0.0.1", "smtp_security": "none"},
                 {"smtp_host": "mail.example.com", "smtp_security": "starttls"}):
        assert not any("SMTP" in p for p in Settings(**base, **fine).production_problems())
