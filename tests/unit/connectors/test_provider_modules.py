"""The static strategy → module table of the provider catalog (connectors/providers/MODULES):
it names every provider module, and listing the strategies imports none of them."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

from idbroker.connectors import providers
from idbroker.connectors.providers import CATALOG, CONNECTORS, HELPERS, MODULES
from idbroker.connectors.registry import STRATEGIES


def test_the_table_names_every_provider_module_and_only_those() -> None:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(providers.__path__):
        if info.name in HELPERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{providers.__name__}.{info.name}")
        assert module.SPEC.strategy not in found, f"two modules for {module.SPEC.strategy}"
        found[module.SPEC.strategy] = info.name
    missing = {s: m for s, m in found.items() if MODULES.get(s) != m}
    assert not missing, f"add to connectors/providers/__init__.py MODULES: {missing}"
    assert MODULES == found


def test_each_strategy_reads_its_own_spec_and_connector() -> None:
    for strategy in MODULES:
        assert CATALOG[strategy].strategy == strategy
        assert CONNECTORS[strategy].strategy == strategy
        assert STRATEGIES[strategy] is CONNECTORS[strategy]
    assert dict(CATALOG).keys() == MODULES.keys()


def test_unknown_strategies_are_not_there() -> None:
    assert "nope" not in CATALOG and "nope" not in STRATEGIES
    assert CATALOG.get("nope") is None and STRATEGIES.get("nope") is None
    with pytest.raises(KeyError):
        CONNECTORS["nope"]
    assert set(STRATEGIES) == {"oidc", "oauth2", *MODULES}
    assert len(STRATEGIES) == len(MODULES) + 2


def test_a_module_for_another_strategy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODULES, "github", "gitlab")
    with pytest.raises(RuntimeError, match="gitlab"):
        CATALOG["github"]


def test_listing_strategies_imports_no_provider_module() -> None:
    # A fresh interpreter: this one has imported them all by now.
    script = """
import json, sys
import idbroker.cli.main, idbroker.http.app
from idbroker.connectors.providers import CATALOG, MODULES
from idbroker.connectors.registry import STRATEGIES, validate
listed = (sorted(STRATEGIES), "github" in STRATEGIES, len(CATALOG))
def loaded():
    return sorted(n for n in MODULES.values() if f"idbroker.connectors.providers.{n}" in sys.modules)
before = loaded()
CATALOG["github"]
print(json.dumps({"before": before, "after": loaded()}))
"""
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == {"before": [], "after": ["github"]}
