"""Event stream benchmark: how soon a change reaches every open dashboard, and what open
streams cost everything else, in one run.

    python bench/events.py [--backend sqlite|pg] [--streams 200] [--changes 20] [--seconds 6]

Starts `dpo serve` over one organization's demo data (as bench/api.py does), opens STREAMS
event streams (`GET /api/events/ORG`, one connection each), then CHANGES times edits a goal
through the API and times how long after the edit's answer each stream has its `goal` event:
p50 and p99 over every stream and change, beside the server's poll period
(`events_poll_seconds`, the floor a reader pays by design). Then `/health` under wrk's load with
the streams open and with none: the ratio says what idle streams cost the other requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import bench_env, hammer, prepare, run, start_server  # noqa: E402

POLL_SECONDS = 1.0  # the default `[api] events_poll_seconds`


async def follow(client: httpx.AsyncClient, got: dict[int, float], opened: asyncio.Event, *,
                 count: list[int], want: int) -> None:  # fmt: skip
    """Read one stream; note when each `goal` event id arrived."""
    async with client.stream("GET", "/api/events/shop") as response:
        response.raise_for_status()
        event_id = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line == "event: ready":
                count[0] += 1
                if count[0] == want:
                    opened.set()
            elif line == "event: goal" and event_id is not None:
                got.setdefault(event_id, time.perf_counter())


async def measure_delivery(base: str, token: str, editor: str, goal: int, args: argparse.Namespace
                           ) -> list[float]:  # fmt: skip
    """Seconds from each goal edit's answer to its event on each stream."""
    limits = httpx.Limits(max_connections=args.streams + 8)
    headers = {"Authorization": f"Bearer {token}"}
    delays: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=None, limits=limits) as c:
        received: list[dict[int, float]] = [{} for _ in range(args.streams)]
        opened, count = asyncio.Event(), [0]
        readers = [
            asyncio.create_task(follow(c, got, opened, count=count, want=args.streams))
            for got in received
        ]
        await asyncio.wait_for(opened.wait(), 120)
        edits = {"Authorization": f"Bearer {editor}"}
        async with httpx.AsyncClient(base_url=base, headers=edits) as writer:
            for n in range(args.changes):
                answer = await writer.put(f"/api/goals/{goal}", json={"target": 1000 + n})
                answer.raise_for_status()
                done = time.perf_counter()
                deadline = done + 30
                while time.perf_counter() < deadline:
                    if all(len(got) > n for got in received):
                        break
                    await asyncio.sleep(0.005)
                else:
                    raise SystemExit(f"change {n}: not every stream heard of it in 30 s")
                for got in received:
                    arrived = sorted(got.values())[n]
                    delays.append(max(0.0, arrived - done))
                await asyncio.sleep(0.3)
        cost = hammer(f"{base}/health", {}, 32, args.seconds)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    args.with_streams = cost
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    with bench_env(args.backend, "bench_events") as env:
        token = prepare(env, 28)
        editor = run(env, "tokens", "create", "--org", "shop", "--role", "editor").strip()
        added = run(env, "goals", "add", "--org", "shop", "--kpi", "revenue", "--target",
                    "1000", "--json")  # fmt: skip
        goal = int(json.loads(added)["id"])
        process, base = start_server(env, 1)
        try:
            without = hammer(f"{base}/health", {}, 32, args.seconds)
            delays = asyncio.run(measure_delivery(base, token, editor, goal, args))
            after = hammer(f"{base}/health", {}, 32, args.seconds)
        finally:
            process.terminate()
            process.wait(60)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"{args.backend}: {args.streams} open streams, {args.changes} goal edits, "
          f"{len(delays)} deliveries")  # fmt: skip
    poll = POLL_SECONDS
    print(f"  edit answered → event on a stream: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} "
          f"ms (poll period {poll * 1000:.0f} ms: p50/poll {p50 / poll:.2f})")  # fmt: skip
    base_rate = (without.rate + after.rate) / 2  # before the streams opened and after they closed
    ratio = args.with_streams.rate / base_rate if base_rate else float("nan")
    print(f"  /health under load: {without.rate:.0f} / {after.rate:.0f} req/s with no stream "
          f"(before / after), {args.with_streams.rate:.0f} with {args.streams} open: "
          f"ratio {ratio:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
