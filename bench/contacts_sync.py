"""`mombot contacts sync` of 100,000 existing customers over 3 advisors against the sandbox
(target: under 2 minutes), with the WeCom calls it made (the minimum the paging allows: one
get_follow_user_list, one get_corp_tag_list, ⌈100,000 / 100⌉ pages of batch/get_by_user).

Baseline in the same run: the same pages read with bare httpx and thrown away, so the ratio
is what recording costs over WeCom (the sandbox) itself.

Run: .venv/bin/python -m bench.contacts_sync
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import httpx

from bench.common import ROOT, SECRET, sandboxed_corp, write_config

CUSTOMERS = {"zhangsan": 40_000, "lisi": 35_000, "wangwu": 25_000}


def bare_paging(api_base: str, corp_id: str) -> int:
    """Read every page as the sync does, recording nothing; returns the entries read."""
    with httpx.Client(base_url=f"{api_base}/cgi-bin", timeout=30) as http:
        token = http.get("/gettoken", params={"corpid": corp_id, "corpsecret": SECRET}).json()
        params = {"access_token": token["access_token"]}
        users = http.get("/externalcontact/get_follow_user_list", params=params).json()
        cursor, read = "", 0
        while True:
            body = {"userid_list": users["follow_user"], "cursor": cursor, "limit": 100}
            page = http.post("/externalcontact/batch/get_by_user", params=params, json=body).json()
            read += len(page["external_contact_list"])
            cursor = page["next_cursor"]
            if not cursor:
                return read


def main() -> None:
    with sandboxed_corp() as corp:
        corp.state.users.update({"lisi": "李顾问", "wangwu": "王顾问"})
        for userid, count in CUSTOMERS.items():
            corp.state.add_existing_customers(userid, count, prefix=f"wm{userid[:2]}")
        path = write_config(corp.folder, corp.redis.url, corp.sandbox.url)
        command = [sys.executable, "-m", "bot.cli", "--config", str(path), "contacts", "sync"]
        subprocess.run([*command[:-2], "db", "upgrade"], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        corp.state.calls.clear()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"contacts sync failed: {done.stderr[-2000:]}")
        calls: dict[str, int] = {}
        for call in corp.state.calls:
            calls[call.path] = calls.get(call.path, 0) + 1
        with sqlite3.connect(corp.folder / "data" / "mombot.db") as connection:
            recorded = connection.execute("SELECT count(*) FROM contacts").fetchone()[0]
        started = time.perf_counter()
        read = bare_paging(corp.sandbox.url, corp.state.corp_id)
        bare = time.perf_counter() - started
    total = sum(CUSTOMERS.values())
    result = {
        "customers": total,
        "recorded": recorded,
        "sync_s": round(elapsed, 1),
        "summary": done.stdout.strip(),
        "wecom_calls": calls,
        "minimum_pages": -(-total // 100),
        "baseline_bare_paging_s": round(bare, 1),
        "baseline_entries": read,
        "ratio_sync_over_bare": round(elapsed / bare, 2),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if recorded != total or calls.get("externalcontact/batch/get_by_user") != -(-total // 100):
        sys.exit("not every customer recorded, or more pages than the minimum")


if __name__ == "__main__":
    main()
