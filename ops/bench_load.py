"""The load generator of ops.bench: wrk with a generated Lua script, or aiohttp as a fallback.

Either runs in its own process and prints one `BENCH-RESULT {json}` line: 2xx answers, other
answers, transport errors, the run's length and latency percentiles. POST bodies are
`body_head + unique id + body_tail`, so every request carries its own external_id.
The fallback runs as `python -m ops.bench_load SPEC_JSON`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec

MARK = "BENCH-RESULT "


class Spec(msgspec.Struct, frozen=True):
    """One load run: a GET when body_head is None, else a POST of unique bodies."""

    url: str
    duration: float
    concurrency: int
    headers: dict[str, str]
    body_head: str | None = None
    body_tail: str = ""
    prefix: str = "run"
    timeout: float = 10.0
    # Requests per second offered on a fixed schedule (open loop), instead of as fast as the
    # connections allow; each latency counts from the request's scheduled time, so a server
    # that falls behind shows it (no coordinated omission). Python generator only.
    rate: float | None = None


class Result(msgspec.Struct, frozen=True):
    """What a run measured; latencies in milliseconds over every answer."""

    ok: int
    bad: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    tool: str = "wrk"

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0


_LUA = """
local threads = {}
wrk.method = %(method)s
%(headers)s
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  prefix = args[1] or "run"
  n, ok, bad = 0, 0, 0
end
%(request)s
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok"); bad = bad + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"ok":%%d,"bad":%%d,"errors":%%d,"seconds":%%f,"p50_ms":%%f,"p99_ms":%%f}\\n',
    ok, bad, e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""

_LUA_REQUEST = """
local head, tail = %s, %s
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. prefix .. "-" .. tid .. "-" .. n .. tail)
end
"""


def _lua_string(text: str) -> str:
    level = next(i for i in itertools.count() if f"]{'=' * i}]" not in text)
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(spec: Spec) -> str:
    """Returns the wrk script of a spec."""
    headers = "\n".join(
        f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in spec.headers.items()
    )
    post = spec.body_head is not None
    request = _LUA_REQUEST % (_lua_string(spec.body_head or ""), _lua_string(spec.body_tail))
    return _LUA % {
        "method": '"POST"' if post else '"GET"',
        "headers": headers,
        "request": request if post else "",
        "mark": MARK,
    }


def _argv(spec: Spec, wrk: str | None, workdir: Path) -> list[str]:
    if wrk is None:
        return [sys.executable, "-m", "ops.bench_load", msgspec.json.encode(spec).decode()]
    script = workdir / "load.lua"
    script.write_text(lua_script(spec), encoding="utf-8")
    return [
        wrk,
        "-t1",
        f"-c{spec.concurrency}",
        f"-d{max(1, math.ceil(spec.duration))}s",
        f"--timeout={math.ceil(spec.timeout)}s",
        "-s",
        str(script),
        spec.url,
        "--",
        spec.prefix,
    ]


async def run(spec: Spec, stop: asyncio.Event | None = None) -> Result:
    """Runs one load in a separate process; setting stop ends it early (SIGINT)."""
    wrk = None if spec.rate else shutil.which("wrk")
    with tempfile.TemporaryDirectory(prefix="lienthong-load-") as tmp:
        proc = await asyncio.create_subprocess_exec(
            *_argv(spec, wrk, Path(tmp)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await _collect(proc, stop)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(MARK):
            result = msgspec.json.decode(line[len(MARK) :], type=Result)
            return msgspec.structs.replace(result, tool="wrk" if wrk else "python")
    msg = f"load generator printed no result (exit {proc.returncode}): {err.decode()[-2000:]}"
    raise RuntimeError(msg)


async def _collect(
    proc: asyncio.subprocess.Process, stop: asyncio.Event | None
) -> tuple[bytes, bytes]:
    talk = asyncio.ensure_future(proc.communicate())
    if stop is not None:
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({talk, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not talk.done():
            proc.send_signal(signal.SIGINT)
    return await talk


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class _Tally:
    def __init__(self) -> None:
        self.ok = self.bad = self.errors = 0
        self.latencies: list[float] = []


async def _worker(
    spec: Spec,
    session: aiohttp.ClientSession,
    tally: _Tally,
    ids: itertools.count[int],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        body = (
            None
            if spec.body_head is None
            else (f"{spec.body_head}{spec.prefix}-{next(ids)}{spec.body_tail}".encode())
        )
        await _request(spec, session, tally, body, time.perf_counter())


async def _request(
    spec: Spec, session: aiohttp.ClientSession, tally: _Tally, body: bytes | None, since: float
) -> None:
    """Makes one request and tallies it; its latency counts from `since`."""
    method = "GET" if body is None else "POST"
    try:
        async with session.request(method, spec.url, data=body, headers=spec.headers) as r:
            await r.read()
    except (aiohttp.ClientError, TimeoutError):
        tally.errors += 1
        return
    tally.latencies.append((time.perf_counter() - since) * 1000)
    if 200 <= r.status < 300:
        tally.ok += 1
    else:
        tally.bad += 1


async def _offer(spec: Spec, session: aiohttp.ClientSession, tally: _Tally) -> None:
    """Starts request i at i / rate seconds, whatever the answers before it did."""
    assert spec.rate is not None
    start = time.perf_counter()

    async def one(i: int, due: float) -> None:
        body = (
            None
            if spec.body_head is None
            else f"{spec.body_head}{spec.prefix}-{i}{spec.body_tail}".encode()
        )
        await _request(spec, session, tally, body, due)

    tasks = []
    for i in range(int(spec.duration * spec.rate)):
        due = start + i / spec.rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)


async def _drive(spec: Spec) -> Result:
    loop, stop, tally = asyncio.get_running_loop(), asyncio.Event(), _Tally()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.call_later(spec.duration, stop.set)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=spec.concurrency)
    timeout = aiohttp.ClientTimeout(total=spec.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if spec.rate:
            await _offer(spec, session, tally)
        else:
            ids = itertools.count(1)
            await asyncio.gather(
                *(_worker(spec, session, tally, ids, stop) for _ in range(spec.concurrency))
            )
    return Result(
        tally.ok,
        tally.bad,
        tally.errors,
        time.perf_counter() - started,
        percentile(tally.latencies, 50),
        percentile(tally.latencies, 99),
        "python",
    )


def main() -> None:
    """The fallback load generator's entry point."""
    import uvloop

    spec = msgspec.json.decode(sys.argv[1], type=Spec)
    result = uvloop.run(_drive(spec))
    print(MARK + msgspec.json.encode(result).decode(), flush=True)


if __name__ == "__main__":
    main()
