"""Benchmark of `mfrec serve`: throughput and latency of the recommend endpoint against /health on
the same server, with concurrent keep-alive clients on the loopback interface.

The server runs as its own process (`python -m mfrec.cli serve MODEL --port 0`, as a user starts
it), so the clients and the server do not share an interpreter lock. Each of ``--clients``
clients (asyncio coroutines in the benchmark process, lean so they leave the cores to the server)
holds one keep-alive HTTP/1.1 connection and sends its share, one request at a time, of a fixed number of
requests (``--requests`` per endpoint and round); every request's latency is measured on the
client. Rounds alternate the endpoints (health, recommend, similar, fold-in POST, then again), so
a change in the machine's load hits all of them; the figures are over all rounds. Users and items
are drawn with a fixed seed. Only 127.0.0.1 is used; the script stops by itself.

Targets (issue 15): recommend >= 0.5x the requests/s of /health, p99 <= 50 ms, zero errors,
for an ML-1M model.

Usage (from the repository root)::

    MFREC_DATA_DIR=/work/shared/data .venv/bin/python -m benchmarks.bench_serve --output benchmarks/results/serve.md
    .venv/bin/python -m benchmarks.bench_serve --quick          # smoke run on ML-100K
    .venv/bin/python -m benchmarks.bench_serve --model-file als.npz   # an existing model file
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import command_line, data_dir, machine_info_markdown

ENDPOINTS = ("health", "recommend", "similar", "fold-in")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="ML-100K and fewer requests (smoke run)")
    parser.add_argument("--model-file", help="serve this model file instead of training one")
    parser.add_argument("--factors", type=int, default=64, help="factors of the ALS model trained (default 64)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients (default 16)")
    parser.add_argument("--requests", type=int, default=4000,
                        help="requests per endpoint and round, shared by the clients (default 4000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the endpoints (default 2)")
    parser.add_argument("--n", type=int, default=10, help="items per recommendation (default 10)")
    parser.add_argument("--output", help="also write the results as Markdown to this file")
    return parser.parse_args()


def train_model(folder: Path, dataset: str, factors: int) -> Path:
    from mfrec import ALS, load_movielens
    data = load_movielens(dataset, data_dir=data_dir()).to_implicit(threshold=4)
    model = ALS(factors=factors, iterations=5, seed=42, threads=0).fit(data)
    return model.save(folder / "als.npz")


def start_server(model_file: Path):
    env = {**os.environ, "COLUMNS": "300", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mfrec.cli", "serve", str(model_file), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stdout.read()}")
    port = int(match.group(1))
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError as exc:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("the server did not answer /health within 60 s") from exc
            time.sleep(0.2)


def request_plan(endpoint: str, count: int, users: list, items: list, n: int, rng) -> list:
    """(method, path, body) of every request of one round, drawn with the seeded rng."""
    if endpoint == "health":
        return [("GET", "/health", None)] * count
    if endpoint == "recommend":
        return [("GET", f"/models/als/recommend?user={users[i]}&n={n}", None)
                for i in rng.integers(0, len(users), count)]
    if endpoint == "similar":
        return [("GET", f"/models/als/similar?item={items[i]}&n={n}", None)
                for i in rng.integers(0, len(items), count)]
    plan = []
    for _ in range(count):
        liked = [items[i] for i in rng.choice(len(items), 5, replace=False)]
        plan.append(("POST", "/models/als/recommend", json.dumps({"items": liked, "n": n}).encode()))
    return plan


async def _client(port: int, share: list, latencies: list, errors: list) -> None:
    """One keep-alive HTTP/1.1 connection sending its share of the plan one request at a time
    (a lean asyncio client, so the clients leave the cores to the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for method, path, body in share:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        start = time.perf_counter()
        try:
            writer.write(head.encode() + b"\r\n" + (body or b""))
            status_line = await reader.readline()
            length = None
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length or 0)
            if status_line.split()[1:2] != [b"200"] or not payload.startswith(b"{"):
                errors.append(status_line)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors.append(repr(exc))
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        latencies.append(time.perf_counter() - start)
    writer.close()


def run_round(port: int, plan: list, clients: int) -> dict:
    """Send the plan over ``clients`` concurrent keep-alive connections; latencies in seconds."""
    latencies, errors = [], []

    async def main():
        start = time.perf_counter()
        await asyncio.gather(*[_client(port, plan[c::clients], latencies, errors) for c in range(clients)])
        return time.perf_counter() - start
    wall = asyncio.run(main())
    return {"wall": wall, "latencies": latencies, "errors": len(errors)}


def process_cpu_seconds(pid: int):
    """User + system CPU seconds of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def summarize(rounds: list) -> dict:
    lat = np.array([x for r in rounds for x in r["latencies"]])
    wall = sum(r["wall"] for r in rounds)
    return {"requests": len(lat), "rps": len(lat) / wall, "p50_ms": 1e3 * float(np.percentile(lat, 50)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99)), "max_ms": 1e3 * float(lat.max()),
            "errors": sum(r["errors"] for r in rounds),
            "rps_per_round": [len(r["latencies"]) / r["wall"] for r in rounds],
            "server_cpu_ms": (1e3 * sum(r["server_cpu"] for r in rounds) / len(lat)
                              if all(r.get("server_cpu") is not None for r in rounds) else None)}


def main():
    args = parse_args()
    dataset = "100k" if args.quick else "1m"
    requests = min(args.requests, 500) if args.quick else args.requests
    out = []

    def say(line=""):
        print(line, flush=True)
        out.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model_file:
            model_file = Path(args.model_file)
        else:
            started = time.perf_counter()
            model_file = train_model(Path(tmp), dataset, args.factors)
            print(f"trained ALS ({args.factors} factors, 5 iterations) on ML-{dataset.upper()} in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        from mfrec import Recommender
        model = Recommender.load(model_file)
        users, items = model.user_ids_.raw.tolist(), model.item_ids_.raw.tolist()
        say(f"Model: {type(model).__name__}, {model.item_factors_.shape[1]} factors, {len(users):,} users x "
            f"{len(items):,} items, {model.interactions_.nnz:,} training interactions ({model_file.name})")
        del model
        proc, port = start_server(model_file)
        try:
            rng = np.random.default_rng(42)
            for endpoint in ENDPOINTS:  # warm-up: connections, first calls
                run_round(port, request_plan(endpoint, 20 * args.clients, users, items, args.n, rng), args.clients)
            results = {e: [] for e in ENDPOINTS}
            for _ in range(args.rounds):
                for endpoint in ENDPOINTS:
                    plan = request_plan(endpoint, requests, users, items, args.n, rng)
                    before = process_cpu_seconds(proc.pid)
                    result = run_round(port, plan, args.clients)
                    after = process_cpu_seconds(proc.pid)
                    result["server_cpu"] = None if before is None or after is None else after - before
                    results[endpoint].append(result)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    figures = {e: summarize(r) for e, r in results.items()}
    health = figures["health"]["rps"]
    say()
    say(f"{args.clients} keep-alive clients (asyncio connections, one process) on 127.0.0.1, {args.rounds} rounds x "
        f"{requests:,} requests per endpoint, n={args.n}; server: one `mfrec serve` process (uvicorn).")
    say()
    say("| endpoint | requests | requests/s | vs /health | p50 ms | p99 ms | max ms | errors | requests/s per round "
        "| server CPU ms/request |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    labels = {"health": "GET /health", "recommend": "GET /models/als/recommend?user=U&n=10",
              "similar": "GET /models/als/similar?item=I&n=10",
              "fold-in": "POST /models/als/recommend {5 items}"}
    for endpoint, f in figures.items():
        per_round = ", ".join(f"{x:,.0f}" for x in f["rps_per_round"])
        say(f"| {labels[endpoint]} | {f['requests']:,} | {f['rps']:,.0f} | {f['rps'] / health:.2f}x | "
            f"{f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['max_ms']:.1f} | {f['errors']} | {per_round} | "
            f"{'?' if f['server_cpu_ms'] is None else format(f['server_cpu_ms'], '.3f')} |")
    rec = figures["recommend"]
    say()
    verdict = (rec["rps"] / health >= 0.5, rec["p99_ms"] <= 50, all(f["errors"] == 0 for f in figures.values()))
    say(f"Targets: recommend >= 0.5x /health: {rec['rps'] / health:.2f}x ({'met' if verdict[0] else 'NOT met'}); "
        f"p99 <= 50 ms: {rec['p99_ms']:.1f} ms ({'met' if verdict[1] else 'NOT met'}); "
        f"zero errors: {'met' if verdict[2] else 'NOT met'}.")
    say()
    say(f"Machine: {machine_info_markdown()}")
    if args.output:
        text = "\n".join(["# mfrec serve benchmark", "", f"Command: `{command_line()}` "
                          f"(interpreter: {sys.executable})", "", *out, ""])
        Path(args.output).write_text(text)
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
