"""The HTTP ceiling of the stack: aiohttp + uvloop + msgspec, decoding a JSON POST, answering 201.

Run by ops.bench as `python -m ops.bench_hello --port PORT`.
"""

from __future__ import annotations

import argparse

import msgspec
import uvloop
from aiohttp import web

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_ANSWER = {"id": "00000000-0000-0000-0000-000000000000", "status": "created"}


async def hello(request: web.Request) -> web.Response:
    """POST /hello: decodes the body and answers 201 with a small JSON body."""
    body = _decode(await request.read())
    return web.Response(
        status=201, body=_encode(_ANSWER | {"n": len(body)}), content_type="application/json"
    )


async def healthz(_: web.Request) -> web.Response:
    """GET /healthz."""
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def main() -> None:
    """Serves until interrupted."""
    parser = argparse.ArgumentParser(prog="bench_hello")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.add_routes([web.post("/hello", hello), web.get("/healthz", healthz)])
    uvloop.install()
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
