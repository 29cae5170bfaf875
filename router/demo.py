"""A small demo province for `make run`: registers it once, then rotates its tokens each start."""

from __future__ import annotations

import json
import shlex

from aiohttp import web

from domain.codes import Tier
from domain.commands import RegisterAgency, RotateToken
from domain.errors import Conflict
from router.auth import new_token
from router.services import SERVICES

PROVINCE = [
    ("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An", Tier.PROVINCE, None, False),
    ("000.00.11.H41", "Sở Nội vụ tỉnh Nghệ An", Tier.PROVINCE, "000.00.00.H41", False),
    ("000.00.12.H41", "Sở Tài chính tỉnh Nghệ An", Tier.PROVINCE, "000.00.00.H41", False),
    ("000.01.00.H41", "Ủy ban nhân dân huyện Nghi Lộc", Tier.DISTRICT, "000.00.00.H41", False),
    ("000.01.01.H41", "Ủy ban nhân dân xã Nghi Phong", Tier.COMMUNE, "000.01.00.H41", False),
    ("000.01.02.H41", "Ủy ban nhân dân xã Nghi Thái", Tier.COMMUNE, "000.01.00.H41", False),
    ("000.00.00.G09", "Bộ Nội vụ", Tier.CENTRAL, None, True),
]


async def seed(app: web.Application, base_url: str) -> None:
    """Registers the demo agencies (or rotates their tokens) and prints how to use them."""
    writer = app[SERVICES].writer
    tokens: dict[str, str] = {}
    for code, name, tier, parent, remote in PROVINCE:
        token, digest = new_token()
        try:
            await writer.execute(RegisterAgency(code, name, tier, parent, remote, digest))
        except Conflict:
            if remote:
                continue
            await writer.execute(RotateToken(code, digest))
        if not remote:
            tokens[code] = token
    app[SERVICES].auth.forget()
    lines = ["", "lienthong demo province (tokens are new at every start):"]
    if app[SERVICES].config.operator_token:
        lines.append(f"  operator       {app[SERVICES].config.operator_token}")
    lines += [f"  {code}  {token}" for code, token in tokens.items()]
    body = {
        "external_id": "DEMO-1",
        "to": ["000.01.01.H41"],
        "code_number": "1",
        "code_notation": "UBND-VX",
        "document_type": "cong-van",
        "subject": "Về việc đẩy mạnh dịch vụ công trực tuyến",
        "promulgated_on": "2026-11-24",
        "place": "Nghệ An",
        "priority": "normal",
    }
    curl = (
        f"curl -s -X POST {base_url}/v1/documents "
        f"-H 'Authorization: Bearer {tokens['000.00.00.H41']}' "
        "-H 'Content-Type: application/json' -d "
        + shlex.quote(json.dumps(body, ensure_ascii=False))
    )
    lines += ["", "Send a document from the province to a commune:", "  " + curl, ""]
    print("\n".join(lines), flush=True)
