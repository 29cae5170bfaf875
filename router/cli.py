"""The `lienthong` command."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import DomainError
from router import logs
from router.config import MIB, Config

if TYPE_CHECKING:
    from rich.progress import Progress


def _store_args(parser: argparse.ArgumentParser) -> None:
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--data", type=Path, help="data directory of the embedded SQLite store")
    store.add_argument(
        "--database",
        help="PostgreSQL URL (postgresql://user:pass@host:port/db); "
        "LIENTHONG_DATABASE_URL when neither flag is given",
    )


def _config(args: argparse.Namespace, **extra: object) -> Config:
    if not args.data and not args.database:
        args.database = os.environ.get("LIENTHONG_DATABASE_URL") or None
    if not args.database and not args.data:
        sys.exit("lienthong: give --data DIR or --database URL")
    return Config(data_dir=args.data, database_url=args.database, **extra)  # type: ignore[arg-type]


def serve(args: argparse.Namespace) -> None:
    """Runs the router until interrupted."""
    import uvloop
    from aiohttp import web

    from router import demo
    from router.app import create_app

    token = os.environ.get("LIENTHONG_OPERATOR_TOKEN") or None
    if token is not None and len(token) < 22:
        sys.exit("lienthong: LIENTHONG_OPERATOR_TOKEN must carry at least 128 bits (22+ chars)")
    if token is None:
        logging.warning("LIENTHONG_OPERATOR_TOKEN is not set: no operator can sign in")
    config = _config(
        args,
        operator_token=token,
        max_document_bytes=args.max_document_mib * MIB,
        max_attachment_bytes=args.max_attachment_mib * MIB,
        grace_days=args.grace_days,
        clock_interval=args.clock_seconds,
        read_timeout=args.read_timeout,
        **_axis_settings(args),
        trust_store=args.trust_store,
        router_key=args.router_key,
        router_cert=args.router_cert,
        checkpoint_seconds=args.checkpoint_seconds,
        checkpoint_events=args.checkpoint_events,
    )
    if (args.router_key is None) != (args.router_cert is None):
        sys.exit("lienthong: give both --router-key and --router-cert, or neither")
    if args.demo and args.trust_store is None and args.data is not None:
        from router.demo import demo_trust_store

        config = dataclasses.replace(config, trust_store=demo_trust_store(args.data))
    if args.workers > 1:
        sys.exit(_supervise(args, config))
    app = create_app(config)
    if args.demo:
        base_url = f"http://{args.host}:{args.port}"

        async def seed(app: web.Application) -> None:
            await demo.seed(app, base_url)

        app.on_startup.append(seed)
    app.on_startup.append(_freeze_heap)
    uvloop.install()
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        reuse_port=args.reuse_port or None,
        access_log=None,
        # Also closes a connection that has not sent whole headers by then (aiohttp starts
        # this timer when the connection opens and again after each answer).
        keepalive_timeout=config.read_timeout,
        print=lambda s: print(s, flush=True),
    )


async def _freeze_heap(_: object) -> None:
    """Leaves what start-up made (modules, classes, caches, a catch-up's leftovers) out of the
    garbage collector's full passes: they held the event loop for 50-80 ms every few seconds
    of sending."""
    gc.collect()
    gc.freeze()


def _axis_settings(args: argparse.Namespace) -> dict[str, object]:
    """The bridge's settings from `serve`'s flags (none without --axis-url)."""
    if not args.axis_url:
        return {}
    if not args.axis_system_id or args.axis_secret_file is None:
        sys.exit("lienthong: --axis-url needs --axis-system-id and --axis-secret-file")
    try:
        secret = args.axis_secret_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as e:
        sys.exit(f"lienthong: cannot read the axis secret: {e}")
    if not secret:
        sys.exit("lienthong: the axis secret file is empty")
    return {
        "axis_url": args.axis_url,
        "axis_system_id": args.axis_system_id,
        "axis_secret": secret,
        "axis_poll_interval": args.axis_poll_interval,
        "axis_max_attempts": args.axis_max_attempts,
        "axis_retry_deadline": args.axis_retry_deadline_hours * 3600.0,
    }


def _axis_argv(args: argparse.Namespace) -> list[str]:
    """The bridge's flags, for worker processes (each may take the lead)."""
    if not args.axis_url:
        return []
    return [
        "--axis-url", args.axis_url,
        "--axis-system-id", args.axis_system_id,
        "--axis-secret-file", str(args.axis_secret_file),
        "--axis-poll-interval", str(args.axis_poll_interval),
        "--axis-max-attempts", str(args.axis_max_attempts),
        "--axis-retry-deadline-hours", str(args.axis_retry_deadline_hours),
    ]  # fmt: skip


def axis_queue(args: argparse.Namespace) -> None:
    """Lists the bridge's queue, or retries or parks an item, straight on the store."""
    from router import axis_queue as queue
    from router import catalogue
    from router.services import write_lock

    config = _config(args)
    with catalogue.opened(config) as (exchange, views, projection):
        if args.action == "queue":
            rows, after = [], None
            while True:
                page = queue.queue_page(views, args.state, after, 500)
                rows += page.items
                if page.next_position is None:
                    break
                after = page.next_position
            _print_queue([queue.present(r) for r in rows], args.json)
            return
        if args.action == "retry":
            command = queue.retry_command(args.id, "operator (cli)")
        else:
            command = queue.park_command(args.id, args.reason, "operator (cli)")
        lock = write_lock(config, "events")
        try:
            with lock:
                exchange.execute(command)
        except DomainError as e:
            sys.exit(f"lienthong: {e.detail}")
        finally:
            lock.close()
        catalogue.catch_up(projection)
        document, item = queue.parse_item_id(args.id)
        row = views.axis_item(str(document), item)
        assert row is not None
        _print_queue([queue.present(row)], args.json)


def _print_queue(items: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "kind", "state", "attempts", "reason", "updated")
    for i in items:
        table.add_row(
            str(i["id"]),
            str(i["kind"]),
            str(i["state"]),
            str(i["attempts"]),
            str(i["reason"] or ""),
            str(i["updated_at"]),
        )
    Console().print(table)


def _supervise(args: argparse.Namespace, config: Config) -> int:
    """Prepares the store once, then runs args.workers children on one port."""
    from router.services import open_exchange
    from router.workers import supervise

    exchange, views = open_exchange(config)
    exchange.close()
    views.engine.dispose()
    # The URL travels in the environment, so that its password stays out of `ps`.
    store = ["--data", str(args.data)] if args.data else []
    env = {"LIENTHONG_DATABASE_URL": args.database} if args.database else {}
    argv = [
        sys.executable,
        "-m",
        "router.cli",
        "serve",
        "--host",
        args.host,
        "--port",
        str(args.port),
        *store,
        "--max-document-mib",
        str(args.max_document_mib),
        "--max-attachment-mib",
        str(args.max_attachment_mib),
        "--grace-days",
        str(args.grace_days),
        "--clock-seconds",
        str(args.clock_seconds),
        "--read-timeout",
        str(args.read_timeout),
        "--checkpoint-seconds",
        str(args.checkpoint_seconds),
        "--checkpoint-events",
        str(args.checkpoint_events),
        *(
            ["--router-key", str(args.router_key), "--router-cert", str(args.router_cert)]
            if args.router_key
            else []
        ),
        "--log-format",
        args.log_format,
        "--reuse-port",
        *(["--trust-store", str(config.trust_store)] if config.trust_store else []),
        *_axis_argv(args),
    ]
    print(f"lienthong: {args.workers} workers on {args.host}:{args.port}", flush=True)
    demo = ["--demo"] if args.demo else []
    return supervise([argv + (demo if i == 0 else []) for i in range(args.workers)], env)


def _progress_bar(*, stderr: bool = False) -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=stderr))


def rebuild(args: argparse.Namespace) -> None:
    """Drops the views and replays the whole history into them, with a progress bar."""
    from adapters.auditread import Source
    from adapters.eventstore import store_env, views_url
    from adapters.rebuild import rebuild_views
    from router.services import open_exchange

    config = _config(args)
    exchange, views = open_exchange(config)
    views.engine.dispose()
    with _progress_bar() as bar:
        task = bar.add_task("rebuilding views", total=None)

        def show(stage: str, position: int, head: int) -> None:
            bar.update(task, description=stage, completed=min(position, head), total=head)

        position = rebuild_views(
            exchange,
            store_env(config.database_url, config.data_dir),
            views_url(config.database_url, config.data_dir),
            Source.of(exchange.recorder, config.database_url, config.data_dir),
            workers=args.workers,
            progress=show,
        )
    print(f"views rebuilt up to event {position}")
    exchange.close()


def stats(args: argparse.Namespace) -> None:
    """Prints the on-time figures of a period as a table (or JSON)."""
    from rich.console import Console
    from rich.table import Table

    from router.services import open_exchange
    from router.stats import BUCKETS, summarize

    config = _config(args)
    exchange, views = open_exchange(config)
    today = config.today()
    rows = views.stats(
        root=args.agency, tier=args.tier, since=args.since, until=args.until, today=today
    )
    exchange.close()
    figures = summarize(rows)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return
    scope = f" under {args.agency}" if args.agency else ""
    table = Table(
        title=f"On time, documents sent {args.since} to {args.until}{scope} (as of {today})"
    )
    table.add_column("agency")
    table.add_column("name")
    for bucket in (*BUCKETS, "on-time rate"):
        table.add_column(bucket.replace("_", " "), justify="right")

    def cells(row: dict[str, object]) -> list[str]:
        rate = row["on_time_rate"]
        percent = f"{rate:.2%}" if isinstance(rate, float) else "n/a"
        return [f"{row[b]:,}" for b in BUCKETS] + [percent]

    for row in figures["agencies"]:
        table.add_row(str(row["code"]), str(row["name"]), *cells(row))
    table.add_row("total", "", *cells(figures["total"]), style="bold")
    Console().print(table)


def seed(args: argparse.Namespace) -> None:
    """Fills the store with synthetic documents (the views catch up later)."""
    from router.seed import seed as run

    position = run(_config(args), args.documents, args.sender, args.recipient, _progress_bar())
    print(f"the store holds {position:,} events; the views catch up at the next start")


def audit_verify(args: argparse.Namespace) -> None:
    """Recomputes the Merkle tree from the events table; exits 1 naming the first bad event."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from router.audit import run_verify

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=Console(stderr=True))
    with bar:
        task = bar.add_task("verifying events", total=None)
        outcome, origin = run_verify(
            _config(args),
            args.router_cert,
            lambda done, head: bar.update(task, completed=done, total=head),
            args.workers,
        )
    if outcome.failure:
        where = f" at position {outcome.bad_position}" if outcome.bad_position else ""
        print(f"audit verify: FAILED{where}: {outcome.failure}")
        sys.exit(1)
    rate = outcome.events / outcome.seconds if outcome.seconds else 0.0
    cpu_us = outcome.cpu_seconds / outcome.events * 1e6 if outcome.events else 0.0
    print(
        f"audit verify: OK: {outcome.events:,} events, {outcome.checkpoints:,} signed "
        f"checkpoints verified against {origin}; root {outcome.root} at size {outcome.size:,}"
        f" ({outcome.uncovered:,} newer events not yet in the tree); {rate:,.0f} events/s, "
        f"{cpu_us:.1f} µs CPU/event (workers included)"
    )


def audit_verify_bundle(args: argparse.Namespace) -> None:
    """Checks an evidence bundle offline; exits 1 naming the first failure, 2 if unreadable."""
    from router.verify_bundle import run

    code, message = run(args.file, args.router_cert)
    print(message, file=sys.stderr if code == 2 else sys.stdout)
    sys.exit(code)


def audit_rebuild(args: argparse.Namespace) -> None:
    """Recomputes the evidence (leaves, subtrees, receipts) from the events, with a progress bar."""
    from router.audit import rebuild as run

    with _progress_bar() as bar:
        task = bar.add_task("rebuilding the evidence", total=None)
        events, seconds = run(
            _config(args), lambda done, head: bar.update(task, completed=done, total=head)
        )
    rate = events / seconds if seconds else 0.0
    print(f"evidence rebuilt: {events:,} events in {seconds:.1f} s ({rate:,.0f} events/s)")


def _date(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _processes(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"not a number of processes (1 or more): {raw!r}")
    return int(raw)


def export_agencies(args: argparse.Namespace) -> None:
    """Writes every agency of the directory as CSV or JSON."""
    from router import catalogue

    config = _config(args)
    if args.output is None:
        catalogue.export(config, args.format, sys.stdout)
        return
    with args.output.open("w", encoding="utf-8", newline="") as out:
        catalogue.export(config, args.format, out)


def import_agencies(args: argparse.Namespace) -> None:
    """Makes the directory match a CSV or JSON file, showing the diff; exits 2 on any error."""
    from router import catalogue

    config = _config(args)
    sys.exit(
        catalogue.import_file(config, args.file, dry_run=args.dry_run, progress=_progress_bar())
    )


def axis_sim(args: argparse.Namespace) -> None:
    """Runs the national axis simulator until interrupted (docs/axis-sim.md)."""
    import uvloop
    from aiohttp import web

    from adapters.axis.faults import parse_faults
    from adapters.axis.simulator import create_simulator

    token = os.environ.get("LIENTHONG_AXIS_ADMIN_TOKEN") or None
    if token is not None and len(token) < 22:
        sys.exit("lienthong: LIENTHONG_AXIS_ADMIN_TOKEN must carry at least 128 bits (22+ chars)")
    if token is None:
        logging.warning("LIENTHONG_AXIS_ADMIN_TOKEN is not set: /admin/* refuses every call")
    try:
        faults = parse_faults(args.faults) if args.faults else None
    except ValueError as e:
        sys.exit(f"lienthong: {e}")
    uvloop.install()
    web.run_app(
        create_simulator(args.data, token, faults),
        host=args.host,
        port=args.port,
        access_log=None,
        print=lambda s: print(s, flush=True),
    )


def _instant(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time with a zone (…Z): {raw!r}")
    return moment.astimezone(UTC)


def _agency_code(raw: str) -> str:
    from domain.codes import AGENCY_CODE

    if not AGENCY_CODE.match(raw):
        raise argparse.ArgumentTypeError(f"not an agency code (DDD.DD.DD.LDD): {raw!r}")
    return raw


def audit_replay(args: argparse.Namespace) -> None:
    """Writes every document and inbox as of an instant, rebuilt from the events, as JSON Lines."""
    from router.replay import replay

    config = _config(args)
    if config.data_dir is not None and not config.data_dir.is_dir():
        sys.exit(f"lienthong: no data directory {config.data_dir}")
    progress = _progress_bar(stderr=True)
    if args.output is None:
        figures = replay(config, args.until, args.agency, sys.stdout.buffer, progress)
    else:
        with args.output.open("wb") as out:
            figures = replay(config, args.until, args.agency, out, progress)
    print(
        f"replayed {figures.events_read:,} events ({figures.events_kept:,} recorded by "
        f"{args.until.isoformat()}) in {figures.seconds:.1f} s, "
        f"{figures.events_per_second:,.0f} events/s; wrote {figures.documents:,} documents "
        f"and {figures.inboxes:,} inboxes",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="lienthong", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the router")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    _store_args(p)
    p.add_argument("--max-document-mib", type=int, default=50)
    p.add_argument("--max-attachment-mib", type=int, default=50)
    p.add_argument(
        "--grace-days",
        type=int,
        default=90,
        help="days a merged or retired agency's token may still read its history (90)",
    )
    p.add_argument(
        "--clock-seconds",
        type=float,
        default=60.0,
        help="how often the directory clock applies due moves and hand-overs (60)",
    )
    p.add_argument(
        "--read-timeout",
        type=float,
        default=60.0,
        help="seconds a client may take to send its headers, or pause while sending a body, "
        "and an idle connection stays open (60)",
    )
    p.add_argument(
        "--log-format",
        choices=("json", "console"),
        default="json",
        help="json: one object per line for log collectors (default); console: for people",
    )
    p.add_argument(
        "--trust-store",
        type=Path,
        help="PEM bundle of the CA certificates agency signing certificates must chain to "
        "(--demo makes a demo CA in the data directory when this is not given)",
    )
    p.add_argument("--demo", action="store_true", help="seed a demo province and print tokens")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="router processes sharing the port and the store (one per core; default 1)",
    )
    p.add_argument("--axis-url", help="the national axis (no bridge when omitted)")
    p.add_argument("--axis-system-id", help="this province's system id on the axis")
    p.add_argument("--axis-secret-file", type=Path, help="file holding the axis secret")
    p.add_argument(
        "--axis-poll-interval", type=float, default=10.0, help="seconds between polls (10)"
    )
    p.add_argument(
        "--axis-max-attempts",
        type=int,
        default=12,
        help="failed attempts after which an item is parked (12)",
    )
    p.add_argument(
        "--axis-retry-deadline-hours",
        type=float,
        default=24.0,
        help="hours after which an item's next failure parks it (24)",
    )
    p.add_argument(
        "--router-key", type=Path, help="the router's signing key (PEM: Ed25519 or P-256)"
    )
    p.add_argument("--router-cert", type=Path, help="the certificate of --router-key (PEM)")
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=10.0,
        help="sign a checkpoint of the history at least this often (10)",
    )
    p.add_argument(
        "--checkpoint-events",
        type=int,
        default=1000,
        help="or as soon as this many new events exist (1000)",
    )
    p.add_argument(
        "--reuse-port",
        action="store_true",
        help="listen with SO_REUSEPORT, beside other processes on the same port",
    )
    p.set_defaults(func=serve)

    views = commands.add_parser("views", help="manage the read models").add_subparsers(
        dest="action", required=True
    )
    p = views.add_parser("rebuild", help="drop and rebuild every view from the event history")
    _store_args(p)
    p.add_argument(
        "--workers", type=_processes, default=2, help="processes decoding events (default: 2)"
    )
    p.set_defaults(func=rebuild)

    p = commands.add_parser("stats", help="on-time figures of a period, by agency")
    _store_args(p)
    p.add_argument("--from", dest="since", type=_date, required=True, help="first day (Vietnam)")
    p.add_argument("--to", dest="until", type=_date, required=True, help="last day (Vietnam)")
    p.add_argument("--tier", choices=["central", "province", "district", "commune"])
    p.add_argument("--agency", help="an agency and its subtree (all agencies when omitted)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=stats)

    agencies = commands.add_parser(
        "agencies", help="export or import the directory"
    ).add_subparsers(dest="action", required=True)
    p = agencies.add_parser("export", help="write every agency as CSV or JSON")
    _store_args(p)
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--output", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=export_agencies)
    p = agencies.add_parser(
        "import", help="register, rename and move agencies so the directory matches a file"
    )
    p.add_argument("file", type=Path, help="a .csv or .json file (code,name,tier,parent,remote)")
    _store_args(p)
    p.add_argument("--dry-run", action="store_true", help="show the changes, record nothing")
    p.set_defaults(func=import_agencies)

    audit = commands.add_parser("audit", help="auditors' tools").add_subparsers(
        dest="action", required=True
    )
    p = audit.add_parser(
        "replay", help="every document and inbox as of an instant, from the events, as JSON Lines"
    )
    _store_args(p)
    p.add_argument(
        "--until", type=_instant, required=True, help="the instant (RFC 3339, e.g. …T17:00:00Z)"
    )
    p.add_argument("--agency", type=_agency_code, help="only what this agency sent or received")
    p.add_argument("--output", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=audit_replay)
    p = audit.add_parser(
        "verify",
        help="recompute every event's leaf and every checkpoint's root; exit 1 if any differ",
    )
    _store_args(p)
    p.add_argument("--router-cert", type=Path, help="the router certificate (PEM) to trust")
    p.add_argument("--workers", type=int, help="processes computing leaves (default: one per CPU)")
    p.set_defaults(func=audit_verify)
    p = audit.add_parser(
        "verify-bundle", help="check an evidence bundle (ZIP) offline; exit 1 if any piece fails"
    )
    p.add_argument("file", type=Path, help="the bundle from GET /v1/documents/{id}/evidence")
    p.add_argument("--router-cert", type=Path, help="the router certificate (PEM) to trust")
    p.set_defaults(func=audit_verify_bundle)
    p = audit.add_parser(
        "rebuild",
        help="recompute the Merkle leaves and receipts from the events (checkpoints are kept)",
    )
    _store_args(p)
    p.set_defaults(func=audit_rebuild)

    p = commands.add_parser(
        "seed", help="fill a store with synthetic documents (benchmarks, demonstrations)"
    )
    _store_args(p)
    p.add_argument("--documents", type=int, required=True, help="how many to send")
    p.add_argument("--sender", default="000.00.00.H41", help="sending agency (a province)")
    p.add_argument("--recipient", default="000.00.11.H41", help="receiving agency (under it)")
    p.set_defaults(func=seed)

    axis = commands.add_parser(
        "axis", help="the axis bridge's queue: list, retry or park items"
    ).add_subparsers(dest="action", required=True)
    p = axis.add_parser("queue", help="list the queue, oldest first")
    _store_args(p)
    p.add_argument("--state", choices=("queued", "forwarded", "parked", "cancelled"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=axis_queue)
    p = axis.add_parser("retry", help="send a parked item back to the queue")
    p.add_argument("id", help="the item's id, <document id>:<item>")
    _store_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=axis_queue)
    p = axis.add_parser("park", help="stop trying a queued item")
    p.add_argument("id", help="the item's id, <document id>:<item>")
    p.add_argument("--reason", required=True)
    _store_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=axis_queue)

    p = commands.add_parser("axis-sim", help="run the national axis simulator (docs/axis-sim.md)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--data", type=Path, required=True, help="data directory of its SQLite store")
    p.add_argument("--faults", help='fault probabilities as JSON, e.g. {"seed": 7, "error": 0.2}')
    p.add_argument("--log-format", choices=("json", "console"), default="json")
    p.set_defaults(func=axis_sim)

    from router import edxml_cli

    edxml_cli.register(commands, _store_args, _config)

    args = parser.parse_args(argv)
    logs.configure(getattr(args, "log_format", "console"))
    args.func(args)


if __name__ == "__main__":
    main()
