"""Merge quality on ../shared/corpus/dev: do articles that report the same meeting end up in one meeting?

    .venv/bin/python bench/merge_quality.py [--verbose]

Two runs, each through the real store code (``services.store.ingest.store_document``, a temporary SQLite
database migrated by Alembic):

1. **end to end**: the extractor's claims for each dev input (``communique extract``'s path);
2. **merge only**: the gold meetings themselves as claims (a perfect extractor), which isolates the merge;
3. **counterpart reports**: the dev corpus has no two articles about one meeting, so for every dated gold
   meeting of two or more parties a second report is derived from its labels (no text): the other side's
   view, published a day later in half the cases, naming only its own side's people, with the participants
   in the other order. The pair (article, its counterpart) must merge; nothing else may.

Gold relation: two articles belong together when one gold meeting of each has the same parties (the set of
countries and organisations) and the same date. Predicted relation: the two articles are sources of one
stored meeting. Printed: pairs merged correctly, missed merges, wrong merges (pairs put together that the gold
keeps apart), and precision / recall over pairs. The corpus is read at run time, never copied.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core import pipeline  # noqa: E402
from services.core.db import dispose_engines, session_factory  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.parser.errors import ParseError  # noqa: E402
from services.parser.extract import extract_meetings, record_for  # noqa: E402
from services.parser.extract_cli import article_from_input  # noqa: E402
from services.store.ingest import fingerprint_document, store_document  # noqa: E402
from services.store.models import DocumentRow  # noqa: E402
from services.store.uow import UnitOfWork  # noqa: E402

DEV = ROOT / ".." / "shared" / "corpus" / "dev"
NOW = datetime(2026, 11, 28, tzinfo=UTC)

Pair = tuple[str, str]


def _parties(meeting: dict[str, Any]) -> frozenset[str]:
    return frozenset(
        p.get("country") or f"ORG:{p['org']}"
        for p in meeting.get("participants") or []
        if p.get("country") or p.get("org")
    )


def gold_pairs(gold: list[dict[str, Any]]) -> set[Pair]:
    """Article pairs sharing a gold meeting (same parties, same date; at least two parties)."""
    by_key: dict[tuple[frozenset[str], str], set[str]] = defaultdict(set)
    for g in gold:
        for m in g.get("meetings") or []:
            parties = _parties(m)
            if len(parties) >= 2 and m.get("date"):
                by_key[(parties, m["date"])].add(g["id"])
    return {tuple(sorted(p)) for ids in by_key.values() for p in itertools.combinations(sorted(ids), 2)}  # type: ignore[misc]


def _gold_claims(g: dict[str, Any], inp: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in g.get("meetings") or []:
        out.append(
            {
                "status": m.get("status") or "held",
                "date": m.get("date"),
                "mode": m.get("mode") or "in_person",
                "location": m.get("location"),
                "participants": [
                    {
                        "name": p.get("name"),
                        "country": p.get("country"),
                        "org": p.get("org"),
                        "role": p.get("role") or "official",
                        "person_id": None,
                        "title": None,
                    }
                    for p in m.get("participants") or []
                ],
                "sidelines_of": m.get("sidelines_of"),
                "sources": [{"url": inp.get("url") or g["id"], "publisher": inp.get("publisher")}],
            }
        )
    return out


def _extracted_claims(inp: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    try:
        article = article_from_input(inp)
        return [record_for(c, article) for c in extract_meetings(article)], article.text
    except ParseError:
        return [], str(inp.get("text") or "")


def stored_pairs(claims: dict[str, tuple[list[dict[str, Any]], str]]) -> tuple[set[Pair], dict[str, int]]:
    """Store every article's claims through the real store code; the article pairs sharing a meeting."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/merge.db"
        pipeline.init_db(Settings(database_url=url))
        stats = {"articles": 0, "claims": 0, "copies": 0}
        doc_article: dict[int, str] = {}
        with UnitOfWork(session_factory(url)) as uow:
            for article_id, (records, text) in claims.items():
                doc = DocumentRow(
                    url=f"https://dev.example/{article_id}",
                    canonical_url=f"https://dev.example/{article_id}",
                    status="fetched",
                    parse_status="ok",
                    claims=records,
                    body=b"",
                    fetched_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                    delivery_count=0,
                )
                if text:
                    fingerprint_document(doc, text)
                uow.session.add(doc)
                uow.session.flush()
                doc_article[int(doc.id)] = article_id
                result = store_document(uow, int(doc.id), NOW, ())
                uow.commit()
                stats["articles"] += 1
                stats["claims"] += len(records)
                stats["copies"] += result.copy_of is not None
            members: dict[str, set[str]] = defaultdict(set)
            for meeting in uow.meetings.iter_records():
                for link in uow.merges.links_of_meeting(meeting["id"]):
                    members[meeting["id"]].add(doc_article[link.document_id])
            stats["meetings"] = len(members)
            # Two claims of one article in one meeting share a link: claims folded into another of the same
            # article (the article reports two meetings the merge could not tell apart).
            links = sum(len(uow.merges.links_of_document(d)) for d in doc_article)
            stats["claims_folded_within_article"] = stats["claims"] - links
        dispose_engines()
    pairs = {tuple(sorted(p)) for ids in members.values() for p in itertools.combinations(sorted(ids), 2)}
    return pairs, stats  # type: ignore[return-value]


def report(
    name: str, gold: set[Pair], pred: set[Pair], stats: dict[str, int], verbose: bool
) -> dict[str, Any]:
    good, missed, wrong = gold & pred, gold - pred, pred - gold
    precision = len(good) / len(pred) if pred else 1.0
    recall = len(good) / len(gold) if gold else 1.0
    print(f"\n== {name} ==  {stats}")
    print(f"gold pairs (same parties and date): {len(gold)}")
    print(f"pairs merged correctly: {len(good)}   missed merges: {len(missed)}   wrong merges: {len(wrong)}")
    print(f"pair precision {precision:.3f}   pair recall {recall:.3f}")
    if verbose:
        for label, pairs in (("missed", missed), ("wrong", wrong)):
            for p in sorted(pairs):
                print(f"  {label}: {p[0]} {p[1]}")
    return {
        "correct": len(good),
        "missed": len(missed),
        "wrong": len(wrong),
        "precision": precision,
        "recall": recall,
    }


def counterparts(gold: list[dict[str, Any]], inputs: dict[str, Any]) -> tuple[dict[str, Any], set[Pair]]:
    """Gold claims plus a derived counterpart report per dated multi-party meeting (see the docstring)."""
    import random
    from datetime import date, timedelta

    rng = random.Random(5)
    claims: dict[str, tuple[list[dict[str, Any]], str]] = {}
    extra: set[Pair] = set()
    for g in gold:
        claims[g["id"]] = (_gold_claims(g, inputs[g["id"]]), "")
    for g in gold:
        for i, rec in enumerate(claims[g["id"]][0]):
            people = rec["participants"]
            sides = sorted(
                {p.get("country") or p.get("org") for p in people if p.get("country") or p.get("org")}
            )
            if len(sides) < 2 or not rec.get("date"):
                continue
            reporter = rng.choice(sides)
            twin = dict(rec)
            twin["date"] = (date.fromisoformat(rec["date"]) + timedelta(days=rng.choice([0, 1]))).isoformat()
            twin["participants"] = [
                {**p, "name": p.get("name") if (p.get("country") or p.get("org")) == reporter else None}
                for p in reversed(people)
            ]
            twin_id = f"{g['id']}~{i}"
            claims[twin_id] = ([twin], "")
            extra.add(tuple(sorted((g["id"], twin_id))))  # type: ignore[arg-type]
    return claims, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list the missed and wrong pairs")
    args = parser.parse_args()
    inputs = {
        o["id"]: o for o in map(json.loads, (DEV / "inputs.jsonl").read_text(encoding="utf-8").splitlines())
    }
    gold = [json.loads(line) for line in (DEV / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    truth = gold_pairs(gold)

    extracted = {aid: _extracted_claims(inp) for aid, inp in inputs.items()}
    pred, stats = stored_pairs(extracted)
    report("end to end (extractor claims -> store)", truth, pred, stats, args.verbose)

    perfect = {
        g["id"]: (_gold_claims(g, inputs[g["id"]]), str(inputs[g["id"]].get("text") or "")) for g in gold
    }
    pred, stats = stored_pairs(perfect)
    report("merge only (gold meetings as claims -> store)", truth, pred, stats, args.verbose)

    claims, extra = counterparts(gold, inputs)
    pred, stats = stored_pairs(claims)
    # A counterpart of one article's meeting may also pair with the article's other reports of that meeting.
    want = truth | extra
    report(
        "counterpart reports (gold claims + derived other-side reports -> store)",
        want,
        pred,
        stats,
        args.verbose,
    )


if __name__ == "__main__":
    main()
