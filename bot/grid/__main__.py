"""Staff command line for grid tickets: `python -m bot.grid COMMAND`.

    migrate                          create/upgrade the grid tables (DATABASE_URL): the
                                     booking store's one migration chain, which holds them
    list [--stage STAGE]             tickets, newest first
    show CODE                        one ticket and its audit trail
    advance CODE --actor NAME [--to STAGE] [--note TEXT]
                                     next stage (受理 → 分流交办 → 处置 → 核实反馈), audited;
                                     the citizen is notified on their channel
    contact CODE --actor NAME        the reporter's phone for a call-back (audited)
    notify                           retry WeChat notices that could not be sent
    eval [FILE]                      routing accuracy on labelled reports (default: held-out)

Who may run it is whoever may reach the database: it is a staff tool on the server, like
`python -m bot.serve migrate`. Output is for staff (ids and masked values); exit status 1
on a refusal, 2 when the database is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from bot.booking.db import BookingUnavailable
from bot.settings import PROJECT_ROOT

HELD_OUT = PROJECT_ROOT / "tests" / "data" / "grid_reports_heldout.yml"


def _print(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _ticket_dict(ticket: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(ticket)


def evaluate(path: Path) -> dict[str, Any]:
    """Category and routing (platform) accuracy of the classifier on a labelled file."""
    from bot.grid.classify import get_classifier
    from bot.grid.kb import load_reports

    classifier = get_classifier()
    pairs = load_reports(path, classifier.kb)
    misses = []
    category_ok = platform_ok = 0
    for text, expected in pairs:
        got = classifier.classify(text)
        category_ok += got.category == expected
        routed = got.platform == classifier.kb.categories[expected].platform
        platform_ok += routed
        if got.category != expected:
            misses.append(
                {"text": text, "expected": expected, "got": got.category, "routed": routed}
            )
    n = max(1, len(pairs))
    return {
        "reports": len(pairs),
        "category_accuracy": round(category_ok / n, 4),
        "routing_accuracy": round(platform_ok / n, 4),
        "misses": misses,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; the exit status says refused (1) or unreachable (2)."""
    parser = argparse.ArgumentParser(prog="python -m bot.grid", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate")
    p_list = sub.add_parser("list")
    p_list.add_argument("--stage")
    p_show = sub.add_parser("show")
    p_show.add_argument("code")
    p_adv = sub.add_parser("advance")
    p_adv.add_argument("code")
    p_adv.add_argument("--actor", default=None)
    p_adv.add_argument("--to", dest="to_stage", default=None)
    p_adv.add_argument("--note", default=None)
    p_contact = sub.add_parser("contact")
    p_contact.add_argument("code")
    p_contact.add_argument("--actor", default=None)
    sub.add_parser("notify")
    p_eval = sub.add_parser("eval")
    p_eval.add_argument("file", nargs="?", default=str(HELD_OUT))
    args = parser.parse_args(argv)

    from bot.privacy import install_log_masking

    install_log_masking()
    if args.command == "eval":
        _print(evaluate(Path(args.file)))
        return 0
    from bot.grid.repository import GridRepository

    try:
        if args.command == "migrate":
            from bot.booking.db import upgrade_schema

            upgrade_schema()
            print("grid schema up to date")
            return 0
        repo = GridRepository()
        if args.command == "list":
            _print([_ticket_dict(t) for t in repo.tickets(stage=args.stage)])
            return 0
        if args.command == "show":
            ticket = repo.get(args.code)
            if ticket is None:
                print(f"no ticket {args.code}", file=sys.stderr)
                return 1
            _print({"ticket": _ticket_dict(ticket), "trail": repo.trail(ticket.code)})
            return 0
        actor = f"cli:{args.actor or getpass.getuser()}" if hasattr(args, "actor") else "cli"
        if args.command == "advance":
            from bot.grid.notify import deliver, wechat_sender

            result = repo.advance(args.code, actor=actor, to_stage=args.to_stage, note=args.note)
            if not result.ok:
                print(f"refused: {result.error}", file=sys.stderr)
                return 2 if result.error == "unavailable" else 1
            assert result.ticket is not None and result.notice is not None
            outcome = asyncio.run(deliver(repo, result.notice, wechat_sender()))
            _print(
                {
                    "code": result.ticket.code,
                    "from": result.from_stage,
                    "to": result.ticket.stage,
                    "notice": outcome,
                }
            )
            return 0
        if args.command == "contact":
            phone = repo.reveal_contact(args.code, actor=actor)
            if phone is None:
                print("no contact left for this ticket", file=sys.stderr)
                return 1
            print(phone)
            return 0
        if args.command == "notify":
            from bot.grid.notify import deliver_pending, wechat_sender

            _print(asyncio.run(deliver_pending(repo, wechat_sender())))
            return 0
    except BookingUnavailable as exc:  # GridUnavailable too, and a failed migration
        print(f"grid database unavailable: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
