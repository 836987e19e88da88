"""The ``options`` of a database connection, validated as Auth0 defines them, and the
settings Lock reads about one (``/client/{id}.js``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from idbroker.errors import ConfigurationError
from idbroker.vault.records import Connection

PolicyLevel = Literal["none", "low", "fair", "good", "excellent"]

# Auth0 options that exist on database connections and that idbroker accepts without acting
# on them (custom database scripts, user import, MFA and attribute settings belong to
# features idbroker does not have). Anything else is refused with its name.
IGNORED_OPTIONS = frozenset({
    "enabledDatabaseCustomization", "import_mode", "customScripts", "configuration", "mfa",
    "strategy_version", "authentication_methods", "passkey_options", "attributes",
    "precedence", "set_user_root_attributes", "api_enable_users", "password_dictionary",
    "enable_script_context", "non_persistent_attrs", "disable_self_service_change_password",
})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComplexityOptions(_Strict):
    min_length: int | None = Field(default=None, ge=1, le=128)


class Toggle(_Strict):
    enable: StrictBool = False


class PasswordHistory(_Strict):
    enable: StrictBool = False
    size: int | None = Field(default=None, ge=0, le=24)

    @model_validator(mode="after")
    def _not_enabled(self) -> PasswordHistory:
        if self.enable:
            raise ValueError("password_history is not supported by idbroker (set enable "
                             "to false or leave it out)")
        return self


class UsernameLimits(_Strict):
    min: int = Field(default=1, ge=1, le=128)
    max: int = Field(default=15, ge=1, le=128)

    @model_validator(mode="after")
    def _ordered(self) -> UsernameLimits:
        if self.min > self.max:
            raise ValueError("validation.username.min must not exceed max")
        return self


class Validation(_Strict):
    username: UsernameLimits = Field(default_factory=UsernameLimits)


class DatabaseOptions(_Strict):
    # Auth0 leaves passwordPolicy null on new connections, which means "none".
    passwordPolicy: PolicyLevel | None = None
    password_complexity_options: ComplexityOptions = Field(default_factory=ComplexityOptions)
    password_history: PasswordHistory = Field(default_factory=PasswordHistory)
    password_no_personal_info: Toggle = Field(default_factory=Toggle)
    requires_username: StrictBool = False
    validation: Validation = Field(default_factory=Validation)
    disable_signup: StrictBool = False
    brute_force_protection: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in IGNORED_OPTIONS}
        return data

    @property
    def policy(self) -> PolicyLevel:
        return self.passwordPolicy or "none"


def parse_options(options: dict[str, Any]) -> DatabaseOptions:
    """Raise ConfigurationError naming the first problem, e.g.
    ``options.passwordPolicy: Input should be 'none', 'low', …``."""
    try:
        return DatabaseOptions.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if first.get("type") == "extra_forbidden":
            message = "is not a database connection option"
        raise ConfigurationError(f"options.{where}: {message}" if where else message) from exc


def lock_connection(connection: Connection) -> dict[str, Any]:
    """What Lock reads about a database connection in ``Auth0.setClient({strategies:[{name:
    "auth0", connections:[…]}]})`` (auth0_compat.md §2.7)."""
    from idbroker.dbconn.policy import min_length  # policy imports this module

    options = parse_options(connection.options)
    out: dict[str, Any] = {
        "name": connection.name,
        "passwordPolicy": options.policy,
        "password_complexity_options": {"min_length": min_length(options)},
        "showSignup": not options.disable_signup,
        "showForgot": True,
        "requires_username": options.requires_username,
        "validation": {"username": {"min": options.validation.username.min,
                                    "max": options.validation.username.max}},
    }
    if connection.display_name:
        out["display_name"] = connection.display_name
    return out
