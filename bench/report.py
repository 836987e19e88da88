"""Writing a run's results: JSON, a markdown table with ratios, and one PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _row(name: str, r: dict[str, Any] | None, ratio: str = "") -> str:
    if r is None:
        return f"| {name} | — | — | — | — | {ratio} |"
    return (f"| {name} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} "
            f"| {_fmt(r.get('per_cpu_s'))} | {ratio} |")


def markdown(res: dict[str, Any]) -> str:
    s = res["scenarios"]
    m = res["machine"]
    r = res["ratios"]
    v = m["versions"]
    op = f"oidc-provider {v.get('oidc-provider')} (node {v.get('node')}, same process count)"
    lines = [
        f"Run {res['started']} · store **{res['store']}** · {res['users']:,} users · "
        f"{res['workers']} workers · {res['seconds']} s per scenario × {res['rounds']} round(s) · "
        f"{m['cores']} cores, load average before {m['loadavg_before']}",
        "",
        "| scenario | req/s | p50 ms | p99 ms | req per server CPU-s | ratio (same run) |",
        "|---|---:|---:|---:|---:|---|",
        _row("hello-world JSON (Starlette/uvicorn, same workers)", s["hello"]),
        _row("read `GET /api/v2/users/{id}` + IdP tokens", s["read"],
             f"**{r['read_vs_hello']:.2f}×** hello-world" + (
                 f", **{r['read_vs_op_userinfo']:.2f}×** oidc-provider userinfo"
                 if "read_vs_op_userinfo" in r else "")),
    ]
    if "read_light" in s:
        lines.append(_row(f"read, the same at {s['read_light']['connections']} "
                          "connections (below saturation: latency)", s["read_light"]))
    if "op_userinfo" in s:
        lines.append(_row(f"userinfo `GET /me`, {op}", s["op_userinfo"]))
    if "token" in s:
        lines.append(_row("token `POST /oauth/token` client_credentials RS256", s["token"],
                          f"**{r['token_vs_signing']:.2f}×** raw RS256 signing × workers "
                          f"({_fmt(res['signing']['rs256_per_core'])}/s per core)" + (
                              f", **{r['token_vs_op_token']:.2f}×** oidc-provider"
                              if "token_vs_op_token" in r else "")))
    if "op_token" in s:
        lines.append(_row(f"token client_credentials RS256 JWT, {op}", s["op_token"]))
    if "login" in s:
        lines.append(_row("login (authorize → upstream → callback → code exchange)",
                          s["login"], "logins/s"))
    cpu = res.get("ratios_per_cpu") or {}
    if cpu:
        lines += ["", "Per server CPU-second (load-independent): " + ", ".join(
            f"{name.replace('_vs_', ' vs ').replace('_', ' ')} **{value:.2f}×**"
            for name, value in cpu.items()) + "."]
    st = s.get("storm")
    if st:
        lines += ["", "Refresh storm: "
                  f"{st['reads']} concurrent reads of one expired token → "
                  f"**{st['upstream_refreshes']} upstream refresh(es)**, "
                  f"{st['distinct_tokens']} distinct access token(s) served, "
                  f"old token served: {st['old_token_served']}, non-200: {st['non_200']}, "
                  f"p50 {st['p50_ms']:.0f} ms, p99 **{st['p99_ms']:.0f} ms** "
                  f"(upstream token latency {st['upstream_delay_ms']:.0f} ms; "
                  f"{st.get('client', 'httpx')} client"
                  + (f"; the same {st['reads']} reads with nothing to refresh: p50 "
                     f"{st['no_refresh']['p50_ms']:.0f} ms, p99 {st['no_refresh']['p99_ms']:.0f} ms"
                     if st.get("no_refresh") else "") + ")."]
    f = res["footprint"]
    lines += ["", f"Start-up to first answer: **{f['startup_s']:.2f} s** (`idbroker serve`, "
              f"seeded store). Resident size of each process (uvicorn's supervisor and "
              f"workers) after the read scenario: "
              f"{', '.join(f'{v:.0f} MB' for v in f['worker_rss_mb'])}. "
              + (f"SQLite's write-ahead log file after the read scenarios: {f['wal_mb']:.0f} MB. "
                 if f.get("wal_mb") is not None else "")
              + (f"Seeding {res['users']:,} users through `users import` took "
                 f"{res['seed_s']:.1f} s ({res['users'] / res['seed_s']:,.0f} users/s)."
                 if res.get("seed_s") else f"Store seeded by an earlier run "
                                           f"({res.get('reused')}), read into the page cache "
                                           f"first ({res.get('warm_s') or 0:.0f} s).")]
    if f.get("oidc_provider_rss_mb"):
        lines += ["", f"oidc-provider: start-up {f['oidc_provider_startup_s']:.2f} s, resident "
                  f"size per process {', '.join(f'{v:.0f} MB' for v in f['oidc_provider_rss_mb'])}."]
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = res["scenarios"]
    bars_of = [("hello-world", s["hello"]["rps"], "#9aa"), ("read", s["read"]["rps"], "#26a")]
    if "op_userinfo" in s:
        bars_of.append(("oidc-provider\nuserinfo", s["op_userinfo"]["rps"], "#8ac"))
    if "token" in s:
        bars_of += [("token", s["token"]["rps"], "#2a6"),
                    ("token ceiling\n(RS256 × workers)",
                     res["signing"]["rs256_per_core"] * res["workers"], "#9c9")]
    if "op_token" in s:
        bars_of.append(("oidc-provider\ntoken", s["op_token"]["rps"], "#7b7"))
    if "login" in s:
        bars_of.append(("login", s["login"]["rps"], "#a62"))
    names = [b[0] for b in bars_of]
    values = [b[1] for b in bars_of]
    colors = [b[2] for b in bars_of]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=90)
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
    stem = (f"{res['store']}-{res['users']}" + ("-read" if res.get("read_only") else "")
            + ("-reused" if res.get("reused") else ""))
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(res))
    plot(res, out / f"{stem}.png")
    return out / f"{stem}.md"
