"""Writing a run's results: JSON, a markdown table with ratios, and one PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _row(name: str, r: dict[str, Any] | None, ratio: str = "") -> str:
    if r is None:
        return f"| {name} | — | — | — | {ratio} |"
    return (f"| {name} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} "
            f"| {ratio} |")


def markdown(res: dict[str, Any]) -> str:
    s = res["scenarios"]
    m = res["machine"]
    lines = [
        f"Run {res['started']} · store **{res['store']}** · {res['users']:,} users · "
        f"{res['workers']} workers · {res['seconds']} s per scenario × {res['rounds']} round(s) · "
        f"{m['cores']} cores, load average before {m['loadavg_before']}",
        "",
        "| scenario | req/s | p50 ms | p99 ms | ratio (same run) |",
        "|---|---:|---:|---:|---|",
        _row("hello-world JSON (Starlette/uvicorn, same workers)", s["hello"]),
        _row("read `GET /api/v2/users/{id}` + IdP tokens", s["read"],
             f"**{res['ratios']['read_vs_hello']:.2f}×** hello-world"),
        _row("token `POST /oauth/token` client_credentials RS256", s["token"],
             f"**{res['ratios']['token_vs_signing']:.2f}×** raw RS256 signing × workers "
             f"({_fmt(res['signing']['rs256_per_core'])}/s per core)"),
        _row("login (authorize → upstream → callback → code exchange)", s["login"],
             "logins/s"),
    ]
    st = s.get("storm")
    if st:
        lines += ["", "Refresh storm: "
                  f"{st['reads']} concurrent reads of one expired token → "
                  f"**{st['upstream_refreshes']} upstream refresh(es)**, "
                  f"{st['distinct_tokens']} distinct access token(s) served, "
                  f"old token served: {st['old_token_served']}, non-200: {st['non_200']}, "
                  f"p50 {st['p50_ms']:.0f} ms, p99 **{st['p99_ms']:.0f} ms** "
                  f"(upstream token latency {st['upstream_delay_ms']:.0f} ms)."]
    f = res["footprint"]
    lines += ["", f"Start-up to first answer: **{f['startup_s']:.2f} s** (`idbroker serve`, "
              f"seeded store). Resident size per worker after the read scenario: "
              f"{', '.join(f'{v:.0f} MB' for v in f['worker_rss_mb'])}. "
              f"Seeding {res['users']:,} users took {res['seed_s']:.1f} s."]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = res["scenarios"]
    names = ["hello-world", "read", "token", "token ceiling\n(RS256 × workers)", "login"]
    values = [s["hello"]["rps"], s["read"]["rps"], s["token"]["rps"],
              res["signing"]["rs256_per_core"] * res["workers"], s["login"]["rps"]]
    colors = ["#9aa", "#26a", "#2a6", "#9c9", "#a62"]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=90)
    bars = ax.bar(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    ax.set_ylabel("requests (logins) per second")
    ax.set_title(f"idbroker on {res['machine']['cores']} cores, {res['workers']} workers, "
                 f"{res['store']}, {res['users']:,} users")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(res: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{res['store']}-{res['users']}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(res))
    plot(res, out / f"{stem}.png")
    return out / f"{stem}.md"
