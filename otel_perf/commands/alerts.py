"""``otel-perf alerts``: list alerts, acknowledge them, silence a (type, subject), see deliveries.

Reads open the store read-only (they work while the app runs); acknowledge and silence append
one row to ``alert_actions`` through a short-lived writer session, like the API does.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta

from otel_perf.cli import add_store, format_table, open_read

DELIVERIES = """
SELECT timestamp, alert_id, alert_type, severity, event, handler, outcome, attempts, error
FROM alert_deliveries
ORDER BY timestamp DESC
LIMIT $limit
"""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _actor(args) -> str:
    if args.actor:
        return args.actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name (some containers)
        return "cli"


def _write(store: str, rows: list[dict]) -> None:
    from otel_perf.alerting.actions import write_actions
    from otel_perf.storage import StoreUnavailable, parse_address
    from otel_perf.storage.session import ERRORS

    address = parse_address(store)
    if address.kind == "none":
        raise SystemExit("otel-perf: no store (OTEL_PERF_STORE=none)")
    try:
        write_actions(address, rows)
    except (StoreUnavailable, *ERRORS) as exc:
        raise SystemExit(f"otel-perf: cannot write to the store: {exc}") from None


def cmd_list(args: argparse.Namespace) -> int:
    from otel_perf.settings import load_settings
    from query_api.params import Params
    from query_api.reports.alerts import recent

    con = open_read(args.store)
    try:
        params = Params(hours=args.hours, limit=args.limit, severity=args.severity)
        data = recent(con, params, load_settings(), _now())
    finally:
        con.close()
    alerts = data["alerts"]
    if args.open:
        alerts = [a for a in alerts if not a["resolved"]]
    if args.format == "json":
        print(json.dumps(alerts, indent=2))
        return 0
    columns = ["id", "type", "severity", "state", "ack", "silenced_until", "last_seen", "message"]
    rows = [
        (
            a["id"],
            a["type"],
            a["severity"],
            "resolved" if a["resolved"] else "open",
            "yes" if a["acknowledged"] else "",
            a["silenced_until"],
            a["timestamp"],
            a["message"],
        )
        for a in alerts
    ]
    print(format_table(columns, rows))
    return 0


def cmd_ack(args: argparse.Namespace, action: str = "acknowledge") -> int:
    from otel_perf.alerting import actions as A

    con = open_read(args.store)
    try:
        alert = A.find_alert(con, args.alert_id)
    finally:
        con.close()
    if alert is None:
        print(f"otel-perf: no alert with id {args.alert_id}", file=sys.stderr)
        return 1
    now = _now()
    _write(args.store, [A.action_row(action, now, _actor(args), alert["id"], note=args.note)])
    verb = "acknowledged" if action == "acknowledge" else "unacknowledged"
    print(f"otel-perf: {verb} {alert['id']} ({alert['type']} {alert['subject']})")
    return 0


def cmd_unack(args: argparse.Namespace) -> int:
    return cmd_ack(args, "unacknowledge")


def _until(args, now: datetime) -> datetime:
    if args.until:
        from query_api.envelope import ApiError
        from query_api.parsing import parse_datetime

        try:
            until = parse_datetime("until", args.until)
        except ApiError:
            raise SystemExit(f"otel-perf: --until {args.until!r} is not an ISO date") from None
        if until <= now:
            raise SystemExit("otel-perf: --until is in the past")
        return until
    if args.minutes is not None:
        return now + timedelta(minutes=args.minutes)
    return now + timedelta(hours=args.hours if args.hours is not None else 1.0)


def cmd_silence(args: argparse.Namespace) -> int:
    from otel_perf.alerting import actions as A

    now = _now()
    until = _until(args, now)
    row = A.action_row(
        "silence", now, _actor(args), None, args.type, args.subject, until, args.note
    )
    _write(args.store, [row])
    what = f"{args.type} {args.subject}" if args.subject else f"every {args.type}"
    print(f"otel-perf: silenced {what} until {until.isoformat(timespec='seconds')}Z")
    return 0


def cmd_unsilence(args: argparse.Namespace) -> int:
    from otel_perf.alerting import actions as A

    row = A.action_row("unsilence", _now(), _actor(args), None, args.type, args.subject)
    _write(args.store, [row])
    what = f"{args.type} {args.subject}" if args.subject else f"every {args.type}"
    print(f"otel-perf: lifted the silence of {what}")
    return 0


def cmd_silences(args: argparse.Namespace) -> int:
    from otel_perf.alerting import actions as A

    con = open_read(args.store)
    try:
        silences = A.active_silences(con, _now())
    finally:
        con.close()
    rows = [(s.alert_type, s.subject or "(all)", s.until, s.actor, s.note) for s in silences]
    print(format_table(["type", "subject", "until", "actor", "note"], rows))
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    con = open_read(args.store)
    try:
        result = con.execute(DELIVERIES, {"limit": args.limit})
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
    finally:
        con.close()
    print(format_table(columns, rows))
    return 0


def _common(parser: argparse.ArgumentParser, note: bool = True) -> None:
    add_store(parser)
    parser.add_argument("--actor", help="who does it (default cli:<your user name>)")
    if note:
        parser.add_argument("--note", help="a note kept with the action")


def register(sub) -> None:
    alerts = sub.add_parser("alerts", help="list, acknowledge and silence alerts")
    cmds = alerts.add_subparsers(dest="alerts_command", required=True)

    p = cmds.add_parser("list", help="recent alerts with their acknowledgement and silence")
    add_store(p)
    p.add_argument("--hours", type=float, default=24.0, help="look back (default 24)")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--severity", choices=["info", "warning", "error", "critical"])
    p.add_argument("--open", action="store_true", help="only alerts not resolved")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("ack", help="acknowledge an alert")
    p.add_argument("alert_id")
    _common(p)
    p.set_defaults(func=cmd_ack)

    p = cmds.add_parser("unack", help="withdraw an acknowledgement")
    p.add_argument("alert_id")
    _common(p)
    p.set_defaults(func=cmd_unack)

    p = cmds.add_parser(
        "silence", help="stop delivering alerts of a type (and subject) for a while"
    )
    p.add_argument("type", help="alert type, e.g. slow_query")
    p.add_argument("--subject", help="one subject (default: every subject of the type)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--minutes", type=float)
    when.add_argument("--hours", type=float, help="(default 1 hour)")
    when.add_argument("--until", help="ISO date-time (UTC when no zone)")
    _common(p)
    p.set_defaults(func=cmd_silence)

    p = cmds.add_parser("unsilence", help="lift a silence")
    p.add_argument("type")
    p.add_argument("--subject")
    _common(p, note=False)
    p.set_defaults(func=cmd_unsilence)

    p = cmds.add_parser("silences", help="the silences in force")
    add_store(p)
    p.set_defaults(func=cmd_silences)

    p = cmds.add_parser("deliveries", help="the latest delivery attempts and their outcomes")
    add_store(p)
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_deliveries)
