"""`python bench/profile_read.py DATA_DIR [ISSUER]`: pyinstrument profile of the read path
(`GET /api/v2/users/{id}` with read:user_idp_tokens) in one process, through the ASGI app,
against a data directory a bench run seeded (its path is printed at the end of the run).
Writes bench/results/profile_read.txt. Needs `pip install pyinstrument` (not a dependency)."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from bench.seed import _m2m  # noqa: E402
from idbroker.http.app import create_app  # noqa: E402
from idbroker.runtime import Runtime  # noqa: E402
from idbroker.settings import Settings  # noqa: E402
from idbroker.vault import schema as t  # noqa: E402


async def main(data_dir: Path, issuer: str, requests: int = 2000, concurrency: int = 16) -> None:
    settings = Settings(data_dir=data_dir, issuer=issuer, log_level="WARNING",
                        rate_limits={"enabled": False})
    rt = await Runtime.start(settings)
    reader = await _m2m(rt, "profile reader", ["read:users", "read:user_idp_tokens"])
    async with rt.store.engine.connect() as conn:
        ids = list((await conn.execute(sa.select(t.users.c.user_id).limit(5000))).scalars())
    app = create_app(settings, runtime=rt)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=issuer.rstrip("/")) as http:
        token = (await http.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": reader[0],
            "client_secret": reader[1], "audience": settings.management_audience})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}

        async def worker(n: int) -> None:
            for _ in range(n):
                response = await http.get(
                    f"/api/v2/users/{quote(random.choice(ids), safe='')}", headers=headers)
                assert response.status_code == 200, response.text

        await worker(50)  # warm caches (JWKS, connections) outside the profile
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        profiler.start()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        profiler.stop()
    out = ROOT / "bench" / "results" / "profile_read.txt"
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    print(out.read_text()[:6000])
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2
                     else json.loads("\"http://127.0.0.1:8000/\"")))
