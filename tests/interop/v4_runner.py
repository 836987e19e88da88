"""Runs tests/interop/v4/driver.py with auth0-python 4.13.0 in a subprocess.

v4 lives in .venv/auth0-v4 (installed, pinned, by ``./dev test``): it is the same ``auth0``
package as the v6 installed in the venv, so it is put first on the path of a process of its
own. A missing install is an error, not a skip: the v4 contract is part of the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
V4_DIR = ROOT / ".venv" / "auth0-v4"
V4_PIN = "auth0-python==4.13.0"
DRIVER = Path(__file__).with_name("v4") / "driver.py"
TIMEOUT_S = 120


def run_v4(config: dict[str, Any]) -> dict[str, Any]:
    assert (V4_DIR / f".{V4_PIN}").exists(), (
        f"{V4_PIN} is not installed in {V4_DIR}: run ./dev test once (it installs it), or "
        f".venv/bin/pip install --target {V4_DIR} {V4_PIN}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(V4_DIR)
    done = subprocess.run([sys.executable, str(DRIVER)], input=json.dumps(config),
                          capture_output=True, text=True, env=env, timeout=TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result
