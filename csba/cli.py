"""The ``csba`` command: ingest data, search the index, serve every channel."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from base.clock import start_of_day
from base.jsonl import DataFileError
from base.settings import Settings
from csba.progress import EmbeddingProgress

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agent.db import Store
    from evals.conversation_runner import ConversationResult
    from evals.conversations import Conversation
    from evals.dataset import EvalCase
    from knowledge.index import KnowledgeIndex
    from seller.ingest import IngestInput

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Customer service for seller-fulfilled marketplace orders.")
console = Console(stderr=True)
out = Console()


# Run as if today were this day: CSBA_CLOCK_START for one run, given as a day.
Today = Annotated[datetime | None, typer.Option(
    formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", show_default=False,
    help="run as if today were this day: the service's clock starts at 00:00 UTC on it and runs "
         "on (overrides CSBA_CLOCK_START); the demo scenarios in data/demo/ORDERS.md hold on "
         "2026-11-25")]


def _settings(today: datetime | None = None) -> Settings:
    """The settings of the environment; ``today`` (``--today``) sets the clock's start."""
    try:
        if today is not None:
            return Settings(clock_start=start_of_day(today.date()))
        return Settings()
    except ValueError as exc:
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def ingest(
    catalog: Annotated[list[Path] | None, typer.Option(
        help="product pages: .jsonl (contract), .html page, SP-API .json, or a folder; repeatable")
    ] = None,
    orders: Annotated[Path | None, typer.Option(help="orders.jsonl")] = None,
    sellers: Annotated[Path | None, typer.Option(help="sellers.jsonl")] = None,
    seller_id: Annotated[str | None, typer.Option(
        help="seller of HTML/SP-API pages that do not name one")] = None,
    marketplace: Annotated[str | None, typer.Option(
        help="marketplace of HTML/SP-API pages that do not name one")] = None,
    prune: Annotated[bool, typer.Option(
        help="remove indexed pages that are not in the given catalog files")] = False,
) -> None:
    """Load data files; only new or changed page fields are embedded."""
    from agent.db import Store
    from knowledge.index import KnowledgeIndex
    from seller.ingest import ingest as run_ingest
    from seller.ingest import read_inputs

    if not (catalog or orders or sellers):
        console.print("[red]nothing to ingest:[/red] give --catalog, --orders or --sellers")
        raise typer.Exit(2)
    settings = _settings()
    try:
        data = read_inputs(catalogs=catalog or [], orders=orders, sellers=sellers,
                           seller_id=seller_id, marketplace=marketplace)
    except DataFileError as exc:
        console.print(f"[red]rejected, nothing was written:[/red] {exc}")
        raise typer.Exit(1) from exc
    store = Store.from_settings(settings)
    with console.status("loading the embedding model"):
        index = KnowledgeIndex.open(settings)
    try:
        with EmbeddingProgress(console, "embedding page fields") as progress:
            report = run_ingest(data, store, index, prune=prune, progress=progress,
                                now=settings.clock())
    finally:
        index.close()
    table = Table(title="ingest", show_header=False)
    for name, value in (("sellers", len(data.sellers)), ("orders", len(data.orders)),
                        ("pages", report.pages), ("chunks added", report.added),
                        ("chunks unchanged", report.unchanged),
                        ("chunks removed", report.removed), ("pages removed", report.pages_removed),
                        ("seconds", f"{report.seconds:.1f}")):
        table.add_row(name, str(value))
    out.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="a customer question")],
    marketplace: Annotated[str | None, typer.Option(help="DE, ES, UK, US, ...")] = None,
    asin: Annotated[list[str] | None, typer.Option(help="restrict to these ASINs")] = None,
    k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Show what the index retrieves for a question, with each hit's page field."""
    from knowledge.index import KnowledgeIndex

    index = KnowledgeIndex.open(_settings())
    try:
        hits = index.search(query, marketplace=marketplace, asins=asin, k=k)
    finally:
        index.close()
    table = Table("score", "asin", "field", "text", "dense", "lexical")
    for h in hits:
        table.add_row(f"{h.score:.4f}", h.asin, h.field, h.text[:80],
                      str(h.dense_rank or "-"), str(h.lexical_rank or "-"))
    out.print(table)


@app.command()
def chat(
    email: Annotated[str, typer.Option(
        help="your channel identity: the email address of the demo order you ask about")
    ] = "miriam.koch@example.de",
    channel: Annotated[str, typer.Option(help="email, chat, sms, whatsapp or voice")] = "email",
    marketplace: Annotated[str | None, typer.Option(help="DE, ES, UK, US, ...")] = None,
    today: Today = None,
) -> None:
    """Talk to the agent in the terminal (demo data loads if the database is empty)."""
    import uuid

    from agent.core import Agent
    from agent.db import Store
    from agent.messages import InboundMessage
    from knowledge.index import KnowledgeIndex

    settings = _settings(today)
    store = Store.from_settings(settings)
    with console.status("loading the embedding model"):
        index = KnowledgeIndex.open(settings)
    load_demo_if_empty(settings, store, index, EmbeddingProgress(console, DEMO_PROGRESS))
    agent = Agent.from_settings(settings, store, index)
    thread = uuid.uuid4().hex
    out.print(f"[dim]You are {email} on {channel}; today is {settings.clock().date()} here. "
              "Try: 'Wo ist meine Bestellung 028-4306213-9513237?'. Ctrl-D to leave.[/dim]",
              highlight=False)
    try:
        while True:
            text = out.input("[bold]you>[/bold] ").strip()
            if not text:
                continue
            reply = agent.handle(InboundMessage(
                channel=channel, sender=email, text=text, thread_key=thread,  # type: ignore[arg-type]
                received_at=settings.clock(), provider_message_id=uuid.uuid4().hex,
                # whoever runs this command on the service's machine is trusted with its data
                verified_contact=email,
                marketplace=marketplace))
            out.print(f"[bold green]agent>[/bold green] {reply.text}")
            extra = [reply.outcome, reply.intent]
            extra += [f"case {reply.case_id}"] if reply.case_id else []
            extra += [f"redirect {reply.redirect}"] if reply.redirect else []
            extra += [f"{c.kind}:{c.field or c.rule}" for c in reply.citations]
            out.print(f"[dim]({'; '.join(extra)})[/dim]")
    except (EOFError, KeyboardInterrupt):
        out.print()
    finally:
        index.close()


DEMO_PROGRESS = "embedding the demo pages"


def load_demo_if_empty(settings: Settings, store: Store, index: KnowledgeIndex,
                        progress: EmbeddingProgress,
                        warn: Callable[[str], None] | None = None) -> None:
    """The bundled demo data, dated for the service's today, when the database has no pages
    (a first start): ``progress`` shows its embedding, the longest part of a first start.
    Demo data loaded on an earlier start stays dated for that start's day: ``warn`` (default:
    the console) says so when that is not today, and how to run on that day."""
    from seller.ingest import load_demo_data

    today = settings.clock().date()
    if store.page_keys():
        warn_of_demo_day(settings, store, warn)
        return
    with progress:
        load_demo_data(store, index, today=today, progress=progress)


def warn_of_demo_day(settings: Settings, store: Store,
                     warn: Callable[[str], None] | None = None) -> None:
    """Say so when the demo data here was loaded for another day than the service's today."""
    from seller.ingest import demo_day_of

    today = settings.clock().date()
    loaded_for = demo_day_of(store)
    if loaded_for is not None and loaded_for != today:
        (warn or _warn)(
            f"the demo data here was dated for {loaded_for} when it was loaded, and today "
            f"is {today}: its orders are {abs((today - loaded_for).days)} days "
            f"{'older' if today > loaded_for else 'younger'} than the scenarios in "
            f"data/demo/ORDERS.md say. Run with --today {loaded_for}, or on an empty "
            "CSBA_DATA_DIR to load the demo for today.")


def _warn(message: str) -> None:
    console.print(f"[yellow]note:[/yellow] {message}", highlight=False)


@app.command("seller-token")
def seller_token(
    seller_id: Annotated[str, typer.Argument(help="the seller's id, e.g. A1LICHTWERK")],
) -> None:
    """Issue a token for a seller's portal and API access (shown once, stored hashed).

    The token alone goes to stdout (for a script); where to use it goes to stderr."""
    from agent.db import Store
    from portal.auth import SIGN_IN, issue_token

    settings = _settings()
    store = Store.from_settings(settings)
    if store.seller(seller_id) is None:
        console.print(f"[red]no seller {seller_id!r}[/red]: ingest sellers.jsonl first")
        raise typer.Exit(1)
    token = issue_token(store, seller_id)
    out.print(token, highlight=False, soft_wrap=True)
    base = str(settings.public_base_url).rstrip("/")
    for line in (
            f"A token for {seller_id}, shown this once: only its hash is kept, so pass it on "
            f"now (running this again issues another; the earlier ones stay valid).",
            f"  portal: sign in at {base}{SIGN_IN} with the token",
            f"  API:    send the header  Authorization: Bearer {token}",
            f"          e.g. curl -H 'Authorization: Bearer {token}' {base}/v1/seller/cases"):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("eval")
def eval_command(
    catalog: Annotated[list[Path], typer.Option(
        help="product pages (.jsonl, .html, SP-API .json or a folder); repeatable")],
    orders: Annotated[list[Path], typer.Option(help="orders.jsonl; repeatable")],
    sellers: Annotated[Path, typer.Option(help="sellers.jsonl")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for results and reports")],
    dataset: Annotated[list[Path] | None, typer.Option(
        help="eval cases, one JSON object per line; repeatable (ids must differ); without "
             "it only --conversations run")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="a previous run's --out directory: report deltas and flipped cases")] = None,
    min_score: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="exit 1 when the share of passed cases is below this")] = None,
    public: Annotated[str | None, typer.Option(
        help="also run this part of the public product questions (held-out or tune) on data "
             "of its own, reported beside the dataset")] = None,
    public_limit: Annotated[int | None, typer.Option(
        min=1, help="run only this many public questions (a fixed sample over every file)")
    ] = None,
    conversations: Annotated[list[Path] | None, typer.Option(
        help="whole conversations (JSON lines) played turn by turn through the service's "
             "channels, reported beside the dataset; repeatable")] = None,
) -> None:
    """Run a dataset against a fresh agent on exactly the given data and report its quality."""
    from evals.conversations import fill_conversation_customers, read_all_conversations
    from evals.dataset import fill_customers, read_datasets
    from evals.metrics import HEADLINE
    from evals.pqa import PARTS
    from evals.report import PublicRun, load_previous, write_conversation_reports, write_reports
    from evals.runner import CaseRun, run_dataset
    from seller.ingest import read_inputs

    if public is not None and public not in PARTS:
        console.print(f"[red]--public {public!r}: give one of {', '.join(PARTS)}[/red]")
        raise typer.Exit(2)
    dataset = dataset or []
    conversations = conversations or []
    if not dataset and not conversations:
        console.print("[red]give --dataset, --conversations or both[/red]")
        raise typer.Exit(2)
    settings = _settings()
    try:
        data = read_inputs(catalogs=catalog, orders=orders, sellers=sellers)
        cases = fill_customers(read_datasets(dataset), data.orders,
                               source=Path(", ".join(map(str, dataset)))) if dataset else []
        played = fill_conversation_customers(
            read_all_conversations(conversations), data.orders,
            source=Path(", ".join(map(str, conversations)))) if conversations else []
        public_input = _public_input(public, public_limit, out_dir) if public else None
    except DataFileError as exc:
        # Unwrapped: the file:line: field of each error must stay whole to be found again.
        console.print(f"[red]rejected, no case was run:[/red] {exc}", soft_wrap=True,
                      markup=True, highlight=False)
        raise typer.Exit(2) from exc
    if baseline is not None and not (baseline / "metrics.json").is_file():
        console.print(f"[red]--baseline {baseline}: no metrics.json there[/red]")
        raise typer.Exit(2)

    def run(label: str, cases: list[EvalCase], data: IngestInput, where: Path) -> list[CaseRun]:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("[red]{task.fields[failing]} failing"), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task(f"{label}loading the data", total=len(cases), failing=0)
            failing = 0

            def advance(run: CaseRun) -> None:
                nonlocal failing
                failing += not run.agent.passed
                bar.update(task, advance=1, failing=failing)

            return run_dataset(cases, data, where, settings=settings, on_case=advance,
                               on_stage=lambda s: bar.update(task, description=label + s))

    section = _conversation_section(played, data, out_dir, settings) if played else None
    if not dataset:
        write_conversation_reports(cast("dict[str, Any]", section), out_dir, conversations)
        _print_conversations(cast("dict[str, Any]", section))
        out.print(f"reports: {out_dir / 'report.html'}, {out_dir / 'report.md'}")
        return
    runs = run("", cases, data, out_dir)
    public_run = None
    if public_input is not None:
        public_cases, public_data, public_dir = public_input
        public_run = PublicRun(str(public), public_dir,
                               run(f"public {public}: ", public_cases, public_data, public_dir))
    previous = load_previous(baseline, runs) if baseline is not None else None
    metrics = write_reports(runs, out_dir, dataset, previous, public_run, section)
    agent, base = metrics["agent"], metrics["baseline"]
    table = Table("metric", "agent", "plain retrieval", title=f"eval: {len(cases)} cases")
    for name in HEADLINE:
        table.add_row(name, *(f"{v:.3f}" if isinstance(v, float) else str(v)
                              for v in (agent[name], base[name])))
    out.print(table)
    if "public" in metrics:
        _print_public(metrics["public"])
    if section is not None:
        _print_conversations(section)
    out.print(f"reports: {out_dir / 'report.html'}, {out_dir / 'report.md'}")
    if min_score is not None and (agent["score"] or 0.0) < min_score:
        console.print(f"[red]score {agent['score']:.3f} is below --min-score {min_score}[/red]")
        raise typer.Exit(1)


def _conversation_section(played: list[Conversation], data: IngestInput, out_dir: Path,
                          settings: Settings) -> dict[str, Any]:
    """Play the conversations through the whole app on data of their own; their metrics."""
    from channels.app import create_app
    from evals.conversation_metrics import conversation_section
    from evals.conversation_runner import run_conversations

    def make_app(here: Settings, index: KnowledgeIndex) -> FastAPI:
        return create_app(here, index=index, smtp_server=False, outbox_worker=False)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("[red]{task.fields[failing]} failing"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("conversations: loading the data", total=len(played), failing=0)
        failing = 0

        def advance(conv: Conversation, result: ConversationResult) -> None:
            nonlocal failing
            failing += not result.passed
            bar.update(task, advance=1, failing=failing,
                       description="conversations: playing")

        pairs = run_conversations(played, data, out_dir, settings=settings,
                                  make_app=make_app, on_done=advance)
    return conversation_section(pairs)


def _print_conversations(section: dict[str, Any]) -> None:
    table = Table("", "conversations", "pass rate", "turns", "turn pass rate",
                  title="conversations")
    rows = [("all", section["overall"]), *section["by_language"].items(),
            *section["by_channel"].items()]
    for name, v in rows:
        table.add_row(name, str(v["conversations"]), _rate(v["pass_rate"]), str(v["turns"]),
                      _rate(v["turn_pass_rate"]))
    out.print(table)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _public_input(part: str, limit: int | None,
                  out_dir: Path) -> tuple[list[EvalCase], IngestInput, Path]:
    """The public part's data files written under ``out_dir/public/data`` and read back
    through the same loaders as any dataset."""
    from evals.dataset import read_dataset
    from evals.pqa import Part, questions_of
    from evals.pqa_cases import CASES, CATALOG, ORDERS, SELLERS, convert_all, sample, write_files
    from seller.ingest import read_inputs

    where = out_dir / "public"
    chosen = sample(questions_of(cast(Part, part)), limit)
    files = write_files(convert_all(chosen), where / "data")
    data = read_inputs(catalogs=[files[CATALOG]], orders=files[ORDERS], sellers=files[SELLERS])
    return read_dataset(files[CASES]), data, where


def _print_public(section: dict[str, Any]) -> None:
    from evals.public_metrics import METRICS

    table = Table("metric", "agent", "plain retrieval",
                  title=f"public questions ({section['part']}): "
                        f"{section['agent']['cases']} cases")
    for name in (*METRICS, "answered", "escalated"):
        table.add_row(name, *(f"{v:.3f}" if isinstance(v, float) else str(v)
                              for v in (section["agent"][name], section["baseline"][name])))
    out.print(table)


@app.command()
def pqa(
    part: Annotated[str, typer.Option(help="tune (to tune on) or held-out (only to report)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the four data files")],
    limit: Annotated[int | None, typer.Option(
        min=1, help="only this many questions (a fixed sample over every file)")] = None,
) -> None:
    """Write a part of the public product questions as eval data: cases.jsonl, catalog.jsonl,
    orders.jsonl and sellers.jsonl (run them with csba eval)."""
    from evals.pqa import PARTS, questions_of
    from evals.pqa_cases import convert_all, sample, write_files

    if part not in PARTS:
        console.print(f"[red]--part {part!r}: give one of {', '.join(PARTS)}[/red]")
        raise typer.Exit(2)
    chosen = sample(questions_of(part), limit)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console) as bar:
        task = bar.add_task(f"converting the {part} questions", total=len(chosen))
        converted = convert_all(chosen, on_question=lambda n: bar.update(task, completed=n))
    files = write_files(converted, out_dir)
    for name, path in files.items():
        out.print(f"{name}: {path}")
    out.print(f"{len(converted)} cases; run them with: csba eval --dataset {files['cases.jsonl']} "
              f"--catalog {files['catalog.jsonl']} --orders {files['orders.jsonl']} "
              f"--sellers {files['sellers.jsonl']} --out DIR")


@app.command()
def statement(
    seller: Annotated[str, typer.Option(help="the seller's id, e.g. A1LICHTWERK")],
    month: Annotated[str, typer.Option(help="the month billed, YYYY-MM")],
    marketplace: Annotated[str | None, typer.Option(
        help="one marketplace (default: every one the seller was active in)")] = None,
    output: Annotated[str, typer.Option(
        "--format", help="table, json or csv")] = "table",
) -> None:
    """Print a seller's monthly fee statement (units, contacts, CPU, tier, fee, total)."""
    import json

    from agent.db import Store
    from seller.months import Month
    from seller.statements import StatementError, statements_csv, statements_for

    if output not in ("table", "json", "csv"):
        console.print(f"[red]--format must be table, json or csv, got {output!r}[/red]")
        raise typer.Exit(2)
    settings = _settings()
    try:
        found = statements_for(Store.from_settings(settings), seller, Month.parse(month),
                               today=settings.clock().date(),
                               marketplace=marketplace.upper() if marketplace else None,
                               uk_table=settings.uk_fee_table)
    except StatementError as exc:
        console.print(f"[red]{exc.rule}:[/red] {exc}")
        raise typer.Exit(1) from exc
    except ValueError as exc:  # a malformed month or an unknown marketplace
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if output == "json":
        out.print_json(json.dumps([s.model_dump(mode="json") for s in found.statements]))
        return
    if output == "csv":
        sys.stdout.write(statements_csv(found.statements))
        return
    if not found.statements:
        out.print(f"{seller} {month}: no units shipped and no contacts")
    for s in found.statements:
        b = s.cpu_basis
        table = Table(title=f"{seller} {s.marketplace} {s.month}"
                      + ("" if s.final else " (provisional)"), show_header=False)
        for name, value in (
                ("units shipped", s.units_shipped), ("in free trial", s.units_in_trial),
                ("contacts this month", s.contacts),
                (f"CPU {b.from_month}..{b.to_month}",
                 f"{b.contacts}/{b.units} = {b.cpu if b.cpu is not None else 'unknown'}"),
                ("tier", s.tier_label),
                ("fee per unit", f"{s.fee_per_unit} {s.currency} ({s.fee_table} table)"),
                ("subtotal", f"{s.subtotal} {s.currency}"),
                *((f"discount {d.rule}", f"-{d.amount} {s.currency}: {d.reason}")
                  for d in s.discounts),
                ("total", f"{s.total} {s.currency}")):
            table.add_row(name, str(value))
        out.print(table)
        for note in s.notes:
            out.print(f"[dim]{note}[/dim]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="server processes on the port, each with its own model process "
                            "[default: CSBA_SERVE_WORKERS, else one per core on PostgreSQL, "
                            "one on SQLite]")] = None,
    today: Today = None,
) -> None:
    """Run the HTTP server; loads the bundled demo data when the database holds none."""
    import logging

    import torch
    import uvicorn

    from base.logs import configure_logging
    from csba.serving import default_workers, open_app, run_workers
    from knowledge.embedding_process import EmbeddingProcessDied

    settings = _settings(today)
    configure_logging(settings.log_format)
    log = logging.getLogger("csba.serve")
    count = workers or settings.serve_workers or default_workers(settings.database_url)
    # Before the server starts, so its first start is not a silent minute: a bar on a
    # terminal, a log line at the start and the end of the embedding otherwise.
    progress = EmbeddingProgress(console, DEMO_PROGRESS,
                                 bar=console.is_terminal and settings.log_format == "text",
                                 say=log.info)

    def load_demo(store: Store, index: KnowledgeIndex) -> None:
        load_demo_if_empty(settings, store, index, progress, warn=log.warning)

    try:
        if count > 1:
            # Once, here, before the workers start: N workers would each find the database
            # empty and load it N times.
            _load_demo_before_workers(settings, load_demo,
                                      warn=lambda store: warn_of_demo_day(settings, store,
                                                                          log.warning))
            if not run_workers(settings, host=host, port=port, workers=count):
                console.print("[red]csba serve could not start:[/red] a worker failed to "
                              "start; its log lines above say why", highlight=False)
                raise typer.Exit(1)
            return
        torch.set_num_threads(settings.serve_torch_threads)
        served, close = open_app(settings, before_serving=load_demo)
    except EmbeddingProcessDied as exc:
        console.print(f"[red]csba serve could not start:[/red] {exc}", soft_wrap=True,
                      highlight=False)
        raise typer.Exit(1) from exc
    try:
        uvicorn.run(served, host=host, port=port, log_config=None)
    finally:
        close()


def _load_demo_before_workers(settings: Settings,
                              load_demo: Callable[[Store, KnowledgeIndex], None], *,
                              warn: Callable[[Store], None]) -> None:
    """The demo data when the database is empty, embedded by a model process that ends with
    it (the workers start their own); nothing is opened beyond the store when it is not."""
    from agent.db import Store
    from knowledge.embedding_process import ProcessEmbeddings
    from knowledge.index import KnowledgeIndex

    store = Store.from_settings(settings)
    try:
        if store.page_keys():
            warn(store)
            return
        embeddings = ProcessEmbeddings(settings.embedding_model,
                                       batch_size=settings.embedding_batch_size,
                                       threads=os.cpu_count() or 1)
        try:
            index = KnowledgeIndex.open(settings, embeddings)
            try:
                load_demo(store, index)
            finally:
                index.close()
        finally:
            embeddings.close()
    finally:
        store.engine.dispose()


if __name__ == "__main__":
    app()
