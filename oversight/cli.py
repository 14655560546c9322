"""The ``oversight`` command. Its command names, flags and file formats are a public contract."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from oversight import __version__
from oversight.defaults import MAX_CONNECTIONS, REPORT_GAMES, SHOWN_GAMES
from oversight.errors import UserError, first_error
from oversight.secrets import load_dotenv_file

# for type hints only: each command imports the engine it needs when it runs, so that --help and the listings
# start at once
if TYPE_CHECKING:
    from oversight.ratings import GameResult
    from oversight.records import RunSummary
    from oversight.runner import Execution, RunPlan, RunResult

F = TypeVar("F", bound=Callable[..., Any])

EXIT_AUDIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: how a command that plays games ends, by the run's status
RUN_EXIT_CODES: dict[str, int] = {"complete": 0, "incomplete": 3, "failed": 4, "interrupted": EXIT_INTERRUPTED}
RUN_EXIT_HELP = """\b
Exit codes:
  0    every game is complete
  2    bad input, or something that would fail every game (a rejected
       API key, a broken template, the human judge's input closed):
       nothing more is played; one line on stderr says why
  3    some games failed: rerunning the same command plays them again
  4    every game failed (rerunning the same command plays them again)
  130  stopped by Ctrl-C or SIGTERM: rerunning the same command resumes
"""


def _parse_roles(values: tuple[str, ...]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for value in values:
        role, sep, spec = value.partition("=")
        if not sep or not role or not spec:
            raise UserError(f"--role {value!r}: expected ROLE=SPEC, e.g. judge=openai/gpt-4o-mini")
        roles[role] = spec
    return roles


def _parse_settings(values: tuple[str, ...], **flags: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise UserError(f"--set {value!r}: expected KEY=VALUE, e.g. max_tokens=200")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    options.update({key: value for key, value in flags.items() if value is not None})
    return options


class GameCount(click.ParamType):
    """A number of games, or ``all`` (given to the command as None)."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value == "all":
            return None
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = -1
        if count < 0:
            self.fail(f"{value!r} is neither a number of games nor 'all'", param, ctx)
        return count


def execution_options(max_connections_default: int | None) -> Callable[[F], F]:
    """--max-connections, --no-cache, --timeout and --max-attempts: how to run, not what to play."""

    def decorate(command: F) -> F:
        for option in reversed([
            click.option("--max-connections", type=click.IntRange(min=1, max=MAX_CONNECTIONS),
                         default=max_connections_default,
                         show_default=max_connections_default is not None,
                         help="Most model requests in flight to one endpoint (each starts at 4 and adapts up to it)."),
            click.option("--no-cache", is_flag=True, help="Do not read or write the response cache."),
            click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
                         help="Seconds of the server's work per model call (not counting time queued behind "
                              "our own requests) before it is retried."),
            click.option("--max-attempts", type=click.IntRange(min=1), default=6, show_default=True,
                         help="Attempts per model call (429, 5xx, timeouts, connection errors)."),
        ]):
            command = option(command)
        return command

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oversight")
@click.option("-v", "--verbose", is_flag=True, help="Log every retried model call, not only the run's summary of them.")
def cli(verbose: bool) -> None:
    """Run scalable-oversight protocols between LLM agents and a judge, and score the transcripts."""
    if verbose:
        # our own loggers only: the HTTP clients log every request at INFO
        logging.getLogger("oversight").setLevel(logging.INFO)


@cli.command(epilog=RUN_EXIT_HELP)
@click.argument("protocol")
@click.option("--task", help="Built-in task name or a JSONL/CSV file (default: the protocol's own, e.g. mini-stories).")
@click.option("--limit", type=click.IntRange(min=1), help="Play only the first N items.")
@click.option("--model", help="Model spec for every role, e.g. openai/gpt-4o-mini or scripted/debater.")
@click.option("--role", "roles", multiple=True, metavar="ROLE=SPEC", help="Model spec for one role (repeatable).")
@click.option("--judge", "judges", multiple=True,
              help="Judge: a model spec, 'human', module:attr or file.py:attr; repeat for an ensemble.")
@click.option("--rounds", type=click.IntRange(min=1), help="Rounds per game (protocol default if omitted).")
@click.option("--iterations", type=click.IntRange(min=1), help="Iterations, for protocols that iterate (ida).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Any other protocol setting (repeatable); VALUE is read as JSON when it parses.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: results/<protocol>-<task>-<hash>).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for generated tasks.")
@click.option("--prompts", type=click.Path(path_type=Path), help="Folder of templates overriding built-ins by name.")
@execution_options(max_connections_default=64)
def run(
    protocol: str,
    task: str,
    limit: int | None,
    model: str | None,
    roles: tuple[str, ...],
    judges: tuple[str, ...],
    rounds: int | None,
    iterations: int | None,
    settings: tuple[str, ...],
    out: Path | None,
    max_connections: int,
    no_cache: bool,
    seed: int,
    prompts: Path | None,
    timeout: float,
    max_attempts: int,
) -> None:
    """Play PROTOCOL on every item of a task and score it."""
    from pydantic import ValidationError

    from oversight.runner import RunConfig, plan

    if "web" in judges:
        raise UserError("--judge web judges stored games in the browser: play the run, then 'oversight judge RUN --judge web'")
    try:
        config = RunConfig(
            protocol=protocol,
            task=task,
            limit=limit,
            model=model,
            roles=_parse_roles(roles),
            judge=list(judges),
            options=_parse_settings(settings, rounds=rounds, iterations=iterations),
            seed=seed,
            out=out,
            max_connections=max_connections,
            cache=not no_cache,
            prompts=prompts,
            timeout=timeout,
            max_attempts=max_attempts,
        )
    except ValidationError as exc:
        raise UserError(first_error(exc)) from None
    _play(plan(config), config)  # a run's config says how to run it too


@cli.command(epilog=RUN_EXIT_HELP)
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Play only the first N items (overrides the config).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: results/tournament-<name>-<hash>).")
@execution_options(max_connections_default=None)
@click.option("--print-config", is_flag=True, help="Print the config (the built-in demo if none is given) and exit.")
def tournament(
    config_path: Path | None,
    limit: int | None,
    out: Path | None,
    max_connections: int | None,
    no_cache: bool,
    timeout: float,
    max_attempts: int,
    print_config: bool,
) -> None:
    """Play a tournament from a TOML CONFIG (default: the built-in demo) and print the ratings."""
    from oversight.runner import Execution
    from oversight.tournament import add_ratings, config_text, load_config, plan_tournament

    if print_config:
        click.echo(config_text(config_path), nl=False)
        return
    config, _ = load_config(config_path)
    run_plan = plan_tournament(config, limit)
    execution = Execution(
        out=out,
        max_connections=max_connections or config.max_connections,
        cache=not no_cache,
        timeout=timeout,
        max_attempts=max_attempts,
    )
    _play(run_plan, execution, summarise=add_ratings)


def server_options(port: int) -> Callable[[F], F]:
    """--host, --port (default ``port``) and --allow-remote: where the web pages listen."""

    def decorate(command: F) -> F:
        for option in reversed([
            click.option("--host", default="127.0.0.1", show_default=True,
                         help="Address to listen on; beyond this machine only with --allow-remote."),
            click.option("--port", type=click.IntRange(min=0, max=65535), default=port, show_default=True,
                         help="Port to listen on (0: any free port)."),
            click.option("--allow-remote", is_flag=True,
                         help="Allow a --host other machines can reach (anyone who reaches it can open the pages)."),
        ]):
            command = option(command)
        return command

    return decorate


WEB_JUDGE_HELP = """\b
With --judge web, people judge in the browser: the command serves the
judging pages, prints one invite link per judge (judges may also sign
in with a name at the printed address) and ends when every assigned
game is judged. --judges N places, each given up to --per-judge K
games by a balancing rule (README, "Human judges in the browser").
"""


@cli.command("judge", epilog=WEB_JUDGE_HELP + "\n" + RUN_EXIT_HELP)
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--judge", "judges", multiple=True, metavar="SPEC",
              help="The new judge: a model spec, 'human', 'web', module:attr or file.py:attr; repeat for an ensemble.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: RUN-judged-<hash>).")
@click.option("--judges", "panel", type=click.IntRange(min=1, max=1000), metavar="N",
              help="With --judge web: how many judges (invite links) [default: 1].")
@click.option("--per-judge", type=click.IntRange(min=1), metavar="K",
              help="With --judge web: the most games each judge gets [default: as many as the rule allows].")
@server_options(port=8766)  # beside `oversight serve` on 8765: judging and watching are separate servers
@execution_options(max_connections_default=64)
def judge_command(
    run_dir: Path,
    judges: tuple[str, ...],
    out: Path | None,
    panel: int | None,
    per_judge: int | None,
    host: str,
    port: int,
    allow_remote: bool,
    max_connections: int,
    no_cache: bool,
    timeout: float,
    max_attempts: int,
) -> None:
    """Judge the stored games of RUN again with another judge, into a new run folder (no debater calls)."""
    from oversight.runner import Execution
    from oversight.tournament import add_ratings

    execution = Execution(
        out=out, max_connections=max_connections, cache=not no_cache, timeout=timeout, max_attempts=max_attempts
    )
    if "web" in judges:
        if len(judges) > 1:
            raise UserError("--judge web: people judge alone, not in an ensemble with other judges")
        _judge_on_the_web(run_dir, execution, panel or 1, per_judge, host, port, allow_remote)
    web_only = {"--judges": panel, "--per-judge": per_judge}
    if given := [flag for flag, value in web_only.items() if value is not None]:
        raise UserError(f"{given[0]}: only with --judge web")
    from oversight.rejudge import plan_rejudge

    _play(plan_rejudge(run_dir, list(judges)), execution, summarise=add_ratings)


def _judge_on_the_web(
    run_dir: Path, execution: Execution, judges: int, per_judge: int | None, host: str, port: int, allow_remote: bool
) -> NoReturn:
    """Play a web judging session: its pages served in the run's own process and event loop."""
    from oversight.tournament import add_ratings
    from oversight.web.planning import plan_web_judging
    from oversight.web.server import listen

    plan = plan_web_judging(run_dir, judges, per_judge, execution.out)
    listener = listen(host, port, allow_remote)
    if listener.remote:
        click.echo(f"oversight: warning: serving on {host}:{listener.port}: anyone who can reach it can open the "
                   "judging pages", err=True)

    def judge_in_browser(command: list[str]) -> Coroutine[Any, Any, RunResult]:
        from oversight.web.judging import run_web_judging

        return run_web_judging(plan, execution, command, add_ratings, listener)

    _play(plan.run, execution, summarise=add_ratings, execute=judge_in_browser)


@cli.command()
@click.argument("paths", metavar="[PATHS]...", nargs=-1, type=click.Path(path_type=Path))
@server_options(port=8765)
def serve(paths: tuple[Path, ...], host: str, port: int, allow_remote: bool) -> None:
    """Serve the pages that watch the run folders under PATHS (default: results/) in the browser: their progress,
    tables, plots and transcripts. Stop with Ctrl-C."""
    import asyncio

    from oversight.web.app import create_app
    from oversight.web.server import listen

    roots = list(paths) or [Path("results")]
    if missing := [root for root in roots if not root.is_dir()]:
        raise UserError(f"{missing[0]}: no such folder")
    listener = listen(host, port, allow_remote)
    if listener.remote:
        click.echo(f"oversight: warning: serving on {host}:{listener.port}: anyone who can reach it can read the "
                   "runs under " + ", ".join(map(str, roots)), err=True)
    server = listener.server(create_app(roots=roots, hosts=listener.hosts))
    click.echo(f"serving {', '.join(map(str, roots))} at {listener.url}/ (Ctrl-C to stop)")
    sys.stdout.flush()
    asyncio.run(server.serve(sockets=[listener.socket]))


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.argument("game_id", required=False)
@click.option("--prompts", "with_prompts", is_flag=True,
              help="With GAME_ID: also print the messages each model call sent, from the response cache.")
@click.option("--games", type=GameCount(), default=SHOWN_GAMES, show_default=True,
              help="Without GAME_ID: list the first N games of the run ('all' for every game).")
@click.option("--json", "as_json", is_flag=True,
              help="Without GAME_ID: print the run's summary.json (every figure under its key) instead of the tables.")
def show(run_dir: Path, game_id: str | None, with_prompts: bool, games: int | None, as_json: bool) -> None:
    """Read a run's summary and games in the terminal; with GAME_ID (an id prefix is enough), one game's transcript."""
    from oversight.runfolder import RunFolder
    from oversight.show import find_game, print_game, print_prompts, print_run, print_summary_json

    folder = RunFolder.open_existing(run_dir)
    if game_id is None:
        if with_prompts:
            raise UserError("show --prompts: give the GAME_ID whose calls to print")
        if as_json:
            print_summary_json(folder)
        else:
            print_run(folder, games)
        return
    if as_json:
        raise UserError("show --json: prints the run's summary; leave out the GAME_ID")
    record = find_game(folder, game_id)
    print_game(record)
    if with_prompts:
        print_prompts(record)


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
def repair(run_dir: Path) -> None:
    """Drop the unreadable lines of RUN's transcript log (a write cut short), keeping every whole game record."""
    from oversight.runfolder import RunFolder
    from oversight.runlock import RunLock

    folder = RunFolder.open_existing(run_dir)
    with RunLock.acquire(folder.path, hint="wait for it to finish"):
        kept, dropped = folder.repair()
    records = f"{kept} game record{'' if kept == 1 else 's'}"
    click.echo(f"{run_dir}: kept {records}, dropped {dropped} unreadable line{'' if dropped == 1 else 's'}")


@cli.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), help="HTML file to write (default: RUN/report.html).")
@click.option("--games", type=GameCount(), default=REPORT_GAMES, show_default=True,
              help="Transcripts of a fixed sample of N games, spread over the protocols ('all' for every game).")
def report(run_dir: Path, out: Path | None, games: int | None) -> None:
    """Write one self-contained HTML report of a run: summary and ratings of every game, and transcripts."""
    from oversight.report import write_report

    click.echo(write_report(run_dir, out, games))


@cli.command("export")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["sft", "dpo", "csv"]), required=True,
              help="sft: chat rows of turns; dpo: preference pairs (the judge's pick against the rejected argument); "
                   "csv: one row per game.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="File to write (default: RUN/export-sft.jsonl, RUN/export-dpo.jsonl or RUN/export-games.csv).")
@click.option("--role", help="sft: only this role's turns (debater_a, consultant, judge, answerer, …).")
@click.option("--keep", type=click.Choice(["winner", "loser", "correct", "all"]),
              help="sft: the turns of the side the judge picked (winner) or did not (loser), those that argued for or "
                   "gave the correct answer (correct), or every turn (all, the default); dpo: correct or all.")
def export_command(run_dir: Path, fmt: str, out: Path | None, role: str | None, keep: str | None) -> None:
    """Write RUN's games as training data (JSON lines for TRL's SFT and DPO trainers) or as a CSV table.

    Prompts are rebuilt from the records in one neutral layout: a system message saying who the role is and what
    it can see, then the question, the choices, the passage where the role read it, and the transcript it had
    seen (see README, "Exporting training data").

    \b
    Exit codes:
      0  written; the last line says how many rows and where
      2  bad input: not a run folder, an unknown format or role, a filter
         the format or the run's protocols cannot apply
    """
    from oversight.export import describe, export_run

    result = export_run(run_dir, fmt, out=out, role=role, keep=keep)
    for note in result.notes:
        click.echo(f"oversight: {note}", err=True)
    click.echo(describe(result, fmt))


@cli.command()
def models() -> None:
    """List the model aliases usable as llamacpp/ALIAS or local/ALIAS: size, source and licence."""
    from oversight.defaults import EMBEDDED_MODEL
    from oversight.show import print_listing
    from oversight.weights import model_rows

    rows = [
        (
            row.alias + (" (default)" if EMBEDDED_MODEL.endswith("/" + row.alias) else ""),
            row.description, row.size, row.source, row.licence, "yes" if row.present else "on first use",
        )
        for row in model_rows()
    ]
    print_listing("models", ("alias", "model", "size", "source", "licence", "assembled"), rows)


@cli.command()
def protocols() -> None:
    """List the registered protocols."""
    from oversight.protocol import PROTOCOLS
    from oversight.show import print_listing

    rows = []
    for name in PROTOCOLS.names():
        cls = PROTOCOLS.get(name)
        protocol = cls(cls.options_model())
        rows.append((name, ", ".join(protocol.roles), cls.description))
    print_listing("protocols", ("name", "roles", "description"), rows)


@cli.command()
def tasks() -> None:
    """List the built-in task sets with their sizes."""
    from oversight.show import print_listing
    from oversight.tasks import TASKS

    rows = []
    for name in TASKS.names():
        task = TASKS.get(name)(0)
        rows.append((name, str(len(task.items)), task.description))
    print_listing("tasks", ("name", "items", "description"), rows)


@cli.command()
@click.argument("task")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for generated tasks and for the draws that settle items a shortcut cannot decide.")
@click.option("--limit", type=click.IntRange(min=1), help="Audit only the first N multiple-choice items.")
def audit(task: str, as_json: bool, seed: int, limit: int | None) -> None:
    """Check that no shortcut judge beats chance on TASK, a built-in task name or a JSONL/CSV/QuALITY file.

    Each shortcut (answer position, length, numbers, overlap with the question, where the supporting sentence
    sits in the passage, cross-validated bag-of-words regressions) picks one choice per multiple-choice item;
    its accuracy and 95% Wilson interval are compared with chance. A protocol result on TASK means something
    only if the task passes.

    \b
    Exit codes:
      0  the task passes: no shortcut's 95% interval excludes chance
      1  some shortcut beats chance (or falls below it)
      2  bad input: an unknown task, a malformed file, no multiple-choice items
    """
    from oversight.audit import audit_task, print_audit
    from oversight.tasks import load_task

    result = audit_task(load_task(task, seed=seed), seed=seed, limit=limit)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        print_audit(result)
    if not result.passes:
        sys.exit(EXIT_AUDIT_FAILED)


@cli.command()
@click.argument("runs", metavar="RUN[:PROTOCOL] [RUN[:PROTOCOL]]", nargs=-1, required=True)
@click.option("--by", type=click.Choice(["protocol", "judge", "player"]), default="protocol", show_default=True,
              help="With one RUN: compare its protocols, or its judges or players within each protocol.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the bootstrap's resamples.")
@click.option("--resamples", type=click.IntRange(min=100, max=1_000_000), default=10_000, show_default=True,
              help="Bootstrap resamples for the 95% interval of the difference.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the tables.")
def compare(runs: tuple[str, ...], by: str, seed: int, resamples: int, as_json: bool) -> None:
    """Compare judge accuracy between two runs, or between groups of one run, on paired games or items.

    With two RUNs, A is the first and B the second: compared directly when each holds one protocol (or is narrowed
    to one as RUN:PROTOCOL), else protocol by protocol. With one RUN, every two of its protocols (or, with --by,
    its judges or players within each protocol) are compared. Each comparison gives both accuracies, A − B with a
    95% paired bootstrap interval, the discordant pairs with McNemar's exact test, and the items only one side
    played.

    \b
    Exit codes:
      0  compared
      2  bad input: not a run folder, a protocol the run does not hold, one
         run with nothing in it to compare, more than two runs
    """
    from oversight.compare import compare_runs, print_report

    report = compare_runs(runs, by=by, seed=seed, resamples=resamples)  # type: ignore[arg-type]
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)


def _play(
    run_plan: RunPlan,
    execution: Execution,
    summarise: Callable[[RunSummary, list[GameResult]], None] | None = None,
    execute: Callable[[list[str]], Coroutine[Any, Any, RunResult]] | None = None,
) -> NoReturn:
    """Play a plan into its run folder, print the run's tables and last line, and exit with the code of how the run
    ended. ``summarise`` may add figures to the summary (as a tournament adds ratings); ``execute`` plays the plan
    in place of the plain runner (a web judging session serves its pages meanwhile)."""
    import asyncio  # here, not at the top: only the commands that play games need it

    from oversight.runner import execute_plan
    from oversight.show import print_run_result

    # the command line goes into run.json: the arguments ``main`` was given, which are not always sys.argv
    command = ["oversight", *click.get_current_context().obj]
    if execute is None:
        result = asyncio.run(execute_plan(run_plan, execution, command, summarise=summarise))
    else:
        result = asyncio.run(execute(command))
    print_run_result(result)
    sys.exit(RUN_EXIT_CODES[result.status])


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """The ``oversight`` command with ``argv`` (default: the process's own arguments): every error ends as one line
    on stderr and an exit code (2 for bad input, 130 for Ctrl-C)."""
    args = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING, format="oversight: %(message)s")
    # Ctrl-C and SIGTERM stop at once wherever they land (exit 130); while games play, the orchestrator takes them
    # over to cancel the games in flight and keep every finished record
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    load_dotenv_file()
    try:
        cli.main(args=args, prog_name="oversight", standalone_mode=False, obj=args)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        ctx_hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            ctx_hint = f" (see '{exc.ctx.command_path} --help')"
        print(f"oversight: error: {exc.format_message()}{ctx_hint}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except UserError as exc:
        print(f"oversight: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
