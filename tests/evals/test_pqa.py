"""The public product questions: reading, the split, and their conversion into eval data."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.messages import Citation, Reply
from base.jsonl import DataFileError
from csba.cli import app
from evals.dataset import read_dataset, read_datasets
from evals.pqa import (
    FILES,
    FOLDER,
    PqaFormatError,
    PqaQuestion,
    attribute_candidate,
    load_questions,
    normalise_question,
    part_of,
    read_file,
)
from evals.pqa_cases import (
    CASES,
    CATALOG,
    NOW,
    ORDERS,
    SELLERS,
    asin_for,
    convert_all,
    sample,
    write_files,
)
from evals.public_metrics import compute_public
from evals.runner import CaseResult
from evals.scoring import check_reply
from seller.ingest import DEMO_DATA_DIR, read_inputs
from tests.support.browser import headless_chromium
from tests.support.scenarios import DELIVERED_BEDDING_DE, DELIVERED_DESK_LAMP_DE

# Questions per file, counted from the files with a plain TSV reader (distinct qids).
QUESTIONS = {"semipqa-dev": 954, "semipqa-testseen": 680, "semipqa-testunseen": 692,
             "hetpqa-dev": 286}


@pytest.fixture(scope="module")
def questions() -> list[PqaQuestion]:
    return load_questions()


def test_every_question_of_every_file_is_read_once(questions: list[PqaQuestion]) -> None:
    prefixes = Counter(q.qid.rsplit("-", 1)[0] for q in questions)
    assert prefixes == QUESTIONS
    assert len({q.qid for q in questions}) == len(questions)
    assert {q.source for q in questions} == {name.removesuffix(".tsv") for name in FILES}


def test_hetpqa_keeps_only_the_page_candidates(questions: list[PqaQuestion]) -> None:
    # A qid with only offer, Q&A or review candidates asks nothing of a page: it is not read.
    with (FOLDER / "hetpqa_evidence_ranking_dev.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, dialect="excel-tab"))
    page_rows = [r for r in rows if r["source"] in {"attribute", "bullet", "Desc"}]
    other = {" ".join(r["candidate"].split()) for r in rows
             if r["source"] in {"OSP", "CQA", "review"}}
    other -= {" ".join(r["candidate"].split()) for r in page_rows}
    het = [q for q in questions if q.source == "hetpqa_evidence_ranking_dev"]
    assert {q.qid for q in het} == {f"hetpqa-dev-{r['qid']}" for r in page_rows}
    assert len({r["qid"] for r in rows}) > len(het)
    fields = Counter(c.field.split("[")[0].split(".")[0] for q in het for c in q.candidates)
    assert set(fields) == {"attributes", "bullet_points", "description"}
    assert len(other) > 500 and not other & {c.text for q in het for c in q.candidates}


def test_the_split_is_by_normalised_text_and_about_sixty_forty(
        questions: list[PqaQuestion]) -> None:
    assert normalise_question("What’s the  AGE-range?") == \
        normalise_question("what's the age range") == "what s the age range"
    assert part_of("Is it waterproof?") == part_of("is it   WATERPROOF") == \
        part_of("Is it waterproof?")
    parts: dict[str, set[str]] = {}
    for q in questions:
        parts.setdefault(normalise_question(q.question), set()).add(q.part)
        assert q.part == part_of(q.question)
    assert all(len(p) == 1 for p in parts.values()), "a question in both parts"
    repeated = Counter(normalise_question(q.question) for q in questions)
    assert any(n > 1 for n in repeated.values())  # the rule is exercised on real repeats
    tune = sum(q.part == "tune" for q in questions)
    assert 0.55 < tune / len(questions) < 0.65
    again = load_questions()
    assert [(q.qid, q.part, q.candidates) for q in again] == \
        [(q.qid, q.part, q.candidates) for q in questions]


def test_counts_per_part_and_file(questions: list[PqaQuestion]) -> None:
    counts = Counter((q.source, q.part) for q in questions)
    assert counts == {
        ("semipqa_attribute_ranking_dev", "tune"): 580,
        ("semipqa_attribute_ranking_dev", "held-out"): 374,
        ("semipqa_attribute_ranking_testseen", "tune"): 408,
        ("semipqa_attribute_ranking_testseen", "held-out"): 272,
        ("semipqa_attribute_ranking_testunseen", "tune"): 397,
        ("semipqa_attribute_ranking_testunseen", "held-out"): 295,
        ("hetpqa_evidence_ranking_dev", "tune"): 185,
        ("hetpqa_evidence_ranking_dev", "held-out"): 101,
    }


def test_attribute_notation_reads_as_text() -> None:
    assert attribute_candidate('age_range_description:  { value:"little kid" }') == \
        ("age_range_description", "little kid")
    assert attribute_candidate("batteries_included:  { value:false }") == \
        ("batteries_included", "no")
    assert attribute_candidate('compatible_devices:  { value:"apple ipad 3" }; '
                               '{ value:"apple ipad" }') == \
        ("compatible_devices", "apple ipad 3, apple ipad")
    assert attribute_candidate("item_weight:  { unit:pounds, normalized_value:{ unit:pounds, "
                               "value:13. }, value:13. }") == ("item_weight", "13 pounds")
    assert attribute_candidate('display_size:  { value:"17.3\\"" }') == \
        ("display_size", '17.3"')
    assert attribute_candidate("num_batteries:  { quantity:4, type:c }; { quantity:1, "
                               "type:lithium_ion }") == \
        ("num_batteries", "quantity: 4, type: c; quantity: 1, type: lithium ion")
    with pytest.raises(PqaFormatError, match="expected ','"):
        attribute_candidate('color:  { value:"red" value:"blue" }')


def test_a_bad_row_is_named_by_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "semipqa_attribute_ranking_dev.tsv"
    bad.write_text("qid\tqa_pair_id\tquestion\tcandidate\tlabel\n"
                   "1\t2\tis it red?\tcolor:  { value:\"red\" }\t1\n"
                   "1\t3\tis it red?\tcolor  { value }\t0\n", encoding="utf-8")
    with pytest.raises(PqaFormatError, match=r"semipqa_attribute_ranking_dev.tsv:3: not an "
                                             r"attribute"):
        read_file(bad)
    with pytest.raises(PqaFormatError, match="not one of the public question files"):
        read_file(tmp_path / "other.tsv")


def test_the_conversion_is_valid_data_of_the_contracts(tmp_path: Path,
                                                       questions: list[PqaQuestion]) -> None:
    chosen = sample(questions, 120)
    assert len(chosen) == 120 and len({q.source for q in chosen}) == 4
    assert [q.qid for q in sample(questions, 120)] == [q.qid for q in chosen]
    files = write_files(convert_all(chosen), tmp_path)
    cases = read_dataset(files[CASES])
    data = read_inputs(catalogs=[files[CATALOG]], orders=files[ORDERS], sellers=files[SELLERS])
    assert (tmp_path / "LICENSE").read_bytes() == (FOLDER / "LICENSE").read_bytes()
    assert "contextual-product-qa" in (tmp_path / "NOTICE.md").read_text("utf-8")
    pages = {p.asin: p for p in data.pages}
    orders = {o.order_id: o for o in data.orders}
    sellers = {s.seller_id: s for s in data.sellers}
    by_qid = {q.qid: q for q in chosen}
    assert len(pages) == len(orders) == len(cases) == 120
    variants = Counter()
    for case in cases:
        question = by_qid[case.id]
        block = (case.model_extra or {})["public"]
        variants[block["variant"]] += 1
        order = orders[case.order_id or ""]
        page = pages[order.items[0].asin]
        assert page.asin == asin_for(case.id) and page.marketplace == "US"
        assert order.customer.email == case.customer.email and order.status == "delivered"
        assert order.fulfillment_channel == "MFN" and order.delivery_date is not None
        assert case.now.date() - order.delivery_date < timedelta(days=30)
        assert sellers[page.seller_id].csba.status == "active"
        assert sellers[page.seller_id].csba.enrolled_on < date(2026, 11, 1)
        assert case.turns == [question.question]
        relevant_texts = {c.text for c in question.relevant}
        assert case.expect is not None
        if block["variant"] == "answerable":
            assert case.expect.outcome == "answered"
            assert case.expect.citations_any == block["relevant"] != []
            for ref in block["relevant"]:
                asin, field = ref.split(":", 1)
                assert asin == page.asin and page.field_text(field) in relevant_texts
        else:
            assert case.expect.outcome == "escalated" and block["relevant"] == []
            page_texts = {text for _, text in page.fields()}
            assert not relevant_texts & page_texts, "the answer stayed on a silent page"
    assert variants["answerable"] > 30 and variants["relevant_removed"] > 30
    assert NOW == "2026-11-20T10:00:00Z"


def test_datasets_from_several_files_keep_ids_apart(tmp_path: Path) -> None:
    line = {"id": "a", "now": NOW, "channel": "chat", "turns": ["hi"]}
    one = tmp_path / "one.jsonl"
    two = tmp_path / "two.jsonl"
    one.write_text(json.dumps(line) + "\n", "utf-8")
    two.write_text(json.dumps({**line, "id": "b"}) + "\n", "utf-8")
    assert [c.id for c in read_datasets([one, two])] == ["a", "b"]
    with pytest.raises(DataFileError, match=r"two.jsonl: field 'id': 'a' is already used in"):
        two.write_text(json.dumps(line) + "\n", "utf-8")
        read_datasets([one, two])


def _reply(outcome: str, *fields: str, asin: str = "B0AAAAAAAA", case: bool = False) -> Reply:
    return Reply(conversation_id="c", text="t", language="en", outcome=outcome,  # type: ignore[arg-type]
                 intent="product_question",
                 citations=[Citation(kind="product_page", asin=asin, field=f, text="x")
                            for f in fields], case_id="case-1" if case else None)


def test_public_metrics_count_answers_by_their_first_page_citation(tmp_path: Path) -> None:
    def case(case_id: str, variant: str, relevant: list[str]) -> str:
        expect = ({"outcome": "answered", "citations_any": relevant}
                  if variant == "answerable" else {"outcome": "escalated"})
        return json.dumps({"id": case_id, "now": NOW, "channel": "email", "turns": ["q"],
                           "expect": expect,
                           "public": {"source": "s", "variant": variant, "relevant": relevant}})

    ref = "B0AAAAAAAA:attributes.color"
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([case("right", "answerable", [ref]),
                               case("second", "answerable", [ref]),
                               case("silent-answered", "relevant_removed", []),
                               case("silent-escalated", "none_relevant", [])]) + "\n", "utf-8")
    cases = read_dataset(path)
    replies = [_reply("answered", "attributes.color", "attributes.size"),
               _reply("answered", "attributes.size", "attributes.color"),
               _reply("answered", "attributes.size"),
               _reply("escalated", case=True)]
    pairs = [(c, CaseResult(c.id, True, [], [r], [1.0])) for c, r in zip(cases, replies,
                                                                         strict=True)]
    m = compute_public(pairs)
    assert m["answer_or_escalate_accuracy"] == 0.5  # "right" and "silent-escalated"
    assert m["answer_precision"] == 1 / 3 and m["answered"] == 3
    assert m["answer_recall"] == 0.5 and m["escalation_recall"] == 0.5
    assert m["expect_answer"] == 2 and m["expect_escalation"] == 2
    # The case's own expectation: any one relevant field cited passes, none fails.
    assert cases[1].expect is not None
    assert all(c.passed for c in check_reply(cases[1].expect, replies[1]))
    assert not all(c.passed for c in check_reply(cases[1].expect, replies[2]))


def test_eval_refuses_an_unknown_public_part(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "eval", "--dataset", str(tmp_path / "none.jsonl"), "--catalog", str(tmp_path),
        "--orders", str(tmp_path / "o.jsonl"), "--sellers", str(tmp_path / "s.jsonl"),
        "--out", str(tmp_path / "out"), "--public", "test"])
    assert result.exit_code == 2
    assert "--public 'test': give one of tune, held-out" in result.output
    assert not (tmp_path / "out").exists()


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture(scope="module")
def public_eval(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(output dir, command output) of csba eval on two small datasets over two order files,
    with 20 held-out public questions beside them."""
    tmp_path = tmp_path_factory.mktemp("public-eval")
    demo = [json.loads(raw) for raw in (DEMO_DATA_DIR / "orders.jsonl").read_text(
        "utf-8").splitlines() if raw.strip()]
    bed, lamp = DELIVERED_BEDDING_DE.order_id, DELIVERED_DESK_LAMP_DE.order_id
    # Two order files and two datasets: each case's order is in a different file.
    first = _jsonl(tmp_path / "orders-1.jsonl", [o for o in demo if o["order_id"] != bed])
    second = _jsonl(tmp_path / "orders-2.jsonl", [o for o in demo if o["order_id"] == bed])
    pages = [json.loads(raw) for raw in (DEMO_DATA_DIR / "catalog.jsonl").read_text(
        "utf-8").splitlines() if raw.strip()]
    catalog = _jsonl(tmp_path / "catalog.jsonl",
                     [p for p in pages if p["asin"] in {"B0DE4LT7K2", "B0DE6BW3R9"}])

    def case(case_id: str, order: str, email: str, text: str, **expect: Any) -> dict[str, Any]:
        return {"id": case_id, "now": "2026-11-25T10:00:00Z", "channel": "email",
                "marketplace": "DE", "order_id": order, "customer": {"email": email},
                "turns": [text], "expect": expect}

    status = _jsonl(tmp_path / "a.jsonl", [case(
        "status", bed, DELIVERED_BEDDING_DE.customer_email, "Wo ist meine Bestellung?",
        outcome="answered", citations=[bed])])
    weight = _jsonl(tmp_path / "b.jsonl", [case(
        "weight", lamp, DELIVERED_DESK_LAMP_DE.customer_email,
        "Wie schwer ist die Schreibtischlampe?",
        outcome="answered", citations=["B0DE4LT7K2:attributes.item_weight"])])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "eval", "--dataset", str(status), "--dataset", str(weight), "--catalog", str(catalog),
        "--orders", str(first), "--orders", str(second),
        "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl"), "--out", str(out),
        "--public", "held-out", "--public-limit", "20"])
    return out, result.output if result.exit_code == 0 else f"exit {result.exit_code}: " \
        f"{result.output}"


@pytest.mark.slow
def test_eval_reports_the_held_out_part_beside_the_dataset(
        public_eval: tuple[Path, str]) -> None:
    out, output = public_eval
    assert not output.startswith("exit "), output
    assert "public questions (held-out): 20 cases" in output
    metrics = json.loads((out / "metrics.json").read_text("utf-8"))
    assert metrics["agent"]["cases"] == 2
    assert metrics["agent"]["score"] == 1.0, metrics["failing"]  # both order files were read
    public = metrics["public"]
    assert public["part"] == "held-out" and public["dir"] == str(out / "public")
    held_out = {q.qid for q in load_questions() if q.part == "held-out"}
    ran = [json.loads(raw)["id"] for raw in
           (out / "public" / "results.jsonl").read_text("utf-8").splitlines()]
    assert len(ran) == 20 and set(ran) <= held_out
    assert len((out / "public" / "baseline_results.jsonl").read_text("utf-8").splitlines()) == 20
    for who in ("agent", "baseline"):
        section = public[who]
        assert section["cases"] == 20
        assert section["expect_answer"] + section["expect_escalation"] == 20
        for name in ("answer_or_escalate_accuracy", "answer_recall", "escalation_recall"):
            assert 0.0 <= section[name] <= 1.0
        assert sum(s[who]["cases"] for s in public["by_source"].values()) == 20
    # Plain retrieval answers everything and never opens a case.
    assert public["baseline"]["answered"] == 20 and public["baseline"]["escalated"] == 0
    assert public["baseline"]["escalation_recall"] == 0.0
    assert 0.0 <= public["baseline"]["answer_precision"] <= 1.0
    assert "## Public product questions (held-out)" in (out / "report.md").read_text("utf-8")
    html = (out / "report.html").read_text("utf-8")
    assert 'data-chart="public-metrics"' in html and 'data-chart="public-by-source"' in html
    assert (out / "public" / "data" / "LICENSE").is_file()


@pytest.mark.slow
@pytest.mark.browser
def test_the_public_section_renders_offline(public_eval: tuple[Path, str]) -> None:
    out, output = public_eval
    assert not output.startswith("exit "), output
    report = out / "report.html"
    with headless_chromium(1280, 900) as context:
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        page.goto(report.as_uri())
        for name, bars in (("public-metrics", 4), ("public-by-source", 1)):
            chart = page.locator(f'svg.chart[data-chart="{name}"]')
            box = chart.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, name
            # The baseline's bars at least (its escalation recall is 0: a 1-pixel bar).
            assert chart.locator("rect.bar").count() >= bars, name
        assert page.locator("#public-metrics tr").count() == 11  # header and 10 rows
        assert page.locator("#public-by-source tr").count() >= 2
    assert requests == [report.as_uri()]
