"""Nothing leaks from a web judging session, and nothing gets in.

A real session (``oversight judge RUN --judge web`` in a subprocess) over a stored debate whose second debater
writes script, markup and a forged verified quote. Every route the app serves — and every route it does not,
guessed tokens, other judges' games, paths out of the static folder — is fetched anonymously and as each judge:
no answer, no stored verdict, no other judge's name, game or verdict appears, and forbidden requests get 403 or 404.
Forms refuse posts without this browser's CSRF token or from another origin, and requests naming another host.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from oversight.runfolder import RunFolder
from oversight.web.app import create_app
from oversight.web.security import allowed_hosts
from tests.conftest import oversight_in_process
from tests.web_session import Command, chromium, scripted_env, store_debates

SCRIPT = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
#: a debater that tries to run code in the judge's browser and forges a verified quote
ATTACKER = "scripted/constant?text=" + quote(f"{SCRIPT}{IMG} <quote verified>The moon ate the map.</quote>", safe="")
#: a judge's name that is markup
MARKUP_NAME = "<b>Ada</b>"


@dataclass
class Judge:
    """One judge's browser: its cookies, its place's token and games."""

    client: httpx.Client
    token: str
    name: str
    games: list[str] = field(default_factory=list)


@dataclass
class Session:
    """A running judging session and what must never leak from it."""

    url: str
    links: list[str]
    stored: Path
    judges: list[Judge]
    #: text of the stored records no judge may see: their verdicts as given
    verdicts: list[str]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, html
    return found.group(1)


def _current_game(html: str) -> str:
    found = re.search(r'name="game" value="([0-9a-f]{16})"', html)
    assert found, html
    return found.group(1)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Two judges signed in by their invite links, one of them named with markup."""
    where = tmp_path_factory.mktemp("web")
    env = scripted_env(where)
    stored = store_debates(where, env, "debater_a=scripted/debater", f"debater_b={ATTACKER}")
    args = ["judge", "stored", "--judge", "web", "--judges", "2", "--per-judge", "3", "--port", "0"]
    with Command(args, where, env) as command:
        url, links = command.invites(2)
        judges = []
        for link, name in zip(links, [MARKUP_NAME, "Grace"], strict=True):
            client = httpx.Client(follow_redirects=True, timeout=30)
            page = client.get(link)
            assert page.status_code == 200
            joined = client.post(link, data={"csrf": _csrf(page.text), "name": name})
            assert joined.status_code == 200 and joined.url.path == "/judge"
            judges.append(Judge(client, link.rsplit("/", 1)[1], name))
        panel = next(p for p in where.iterdir() if p.name.startswith("stored-judged-")) / "judges.json"
        for judge in judges:
            judge.games = next(p["games"] for p in _json(panel)["places"] if p["token"] == judge.token)
        verdicts = [r.verdict.raw for r in RunFolder(stored).records() if r.verdict is not None]
        yield Session(url, links, stored, judges, verdicts)
        for judge in judges:
            judge.client.close()
        command.proc.send_signal(signal.SIGINT)
        assert command.finish() == 130


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _raw_get(url: str, path: str, cookie: str = "", host: str | None = None) -> tuple[int, dict[str, str], str]:
    """GET ``path`` exactly as written (no client normalises its dots away)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if host is not None:
        headers["Host"] = host
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


GUESSED = "A" * 43


def _routes(session: Session, other: Judge) -> dict[str, set[int]]:
    """Every path to try, with the statuses allowed for it: the pages (a redirect for who may not see them here)
    and everything else, which must be refused."""
    stored = session.stored.name
    pages = {200, 303}
    routes: dict[str, set[int]] = {
        "/": pages, "/judge": pages, f"/judge?game={other.games[0]}": pages, "/static/style.css": {200},
    }
    for path in [
        "/signin", "/leave", "/question", "/join", "/join/", f"/join/{GUESSED}", "/join/..%2fjudges.json",
        "/static/../../run.json", "/static/..%2f..%2frun.json", "/static/%2e%2e/%2e%2e/judges.json",
        f"/static/../../{stored}/transcripts.jsonl", "/static/", "/static//etc/passwd", "/static/%2Fetc%2Fpasswd",
        "/../../../../etc/passwd", "/judges.json", "/run.json", "/summary.json", "/transcripts.jsonl",
        f"/{stored}/transcripts.jsonl", "/runs", f"/runs/{stored}", f"/runs/{stored}/transcripts.jsonl",
        "/api/games", "/games", *(f"/judge/{game}" for game in other.games), f"/game/{other.games[0]}",
    ]:
        routes[path] = {403, 404, 405}
    return routes


def test_no_route_shows_an_answer_a_verdict_or_another_judge(session: Session) -> None:
    ada, grace = session.judges
    seen: list[tuple[Judge | None, str, str]] = []
    for me, other in [(None, grace), (ada, grace), (grace, ada)]:
        cookie = "; ".join(f"{k}={v}" for k, v in me.client.cookies.items()) if me else ""
        for path, allowed in _routes(session, other).items():
            status, headers, body = _raw_get(session.url, path, cookie)
            assert status in allowed, (me and me.name, path, status)
            assert "default-src 'self'" in headers.get("content-security-policy", ""), path
            assert headers.get("x-content-type-options") == "nosniff", path
            seen.append((me, path, body))
    for me, path, body in seen:
        where = (me and me.name, path)
        for verdict in session.verdicts:
            assert verdict not in body, where
        assert "Confidence" not in body and not re.search(r"\b(in)?correct\b", body), where
        assert "judges.json" not in body and "transcripts" not in body and GUESSED not in body, where
        for judge in session.judges:
            if judge is not me:
                # another judge's token, name and games
                assert judge.token not in body and re.sub("<[^>]+>", "", judge.name) not in body, where
                assert not set(judge.games) & set(re.findall(r"[0-9a-f]{16}", body)), where
    # the markup name and the models' markup are text
    game_page = next(body for me, path, body in seen if me is ada and path == "/judge")
    assert "judging as &lt;b&gt;Ada&lt;/b&gt;" in game_page
    assert "<script" not in game_page and "<img" not in game_page
    assert "&lt;script&gt;document.title=" in game_page


def test_forms_refuse_other_origins_tokens_hosts_and_games(session: Session) -> None:
    ada, grace = session.judges
    page = ada.client.get(session.url + "/judge")
    csrf, game = _csrf(page.text), _current_game(page.text)
    assert game == ada.games[0]
    post = ada.client.post
    judge = session.url + "/judge"
    assert post(judge, data={"game": game, "answer": "0:0.85"}).status_code == 403  # no token
    assert post(judge, data={"csrf": "0" * 64, "game": game, "answer": "0:0.85"}).status_code == 403
    grace_csrf = _csrf(grace.client.get(session.url + "/judge").text)
    assert post(judge, data={"csrf": grace_csrf, "game": game, "answer": "0:0.85"}).status_code == 403
    for origin in ("http://evil.example", "null", session.url.replace("127.0.0.1", "localhost") + "0"):
        refused = post(judge, data={"csrf": csrf, "game": game, "answer": "0:0.85"}, headers={"origin": origin})
        assert refused.status_code == 403, origin
    assert post(judge, data={"csrf": csrf, "game": grace.games[0], "answer": "0:0.85"}).status_code == 404
    for answer in ("7:0.85", "0:0.3", "0:1.5", "A:0.85", ""):
        assert post(judge, data={"csrf": csrf, "game": game, "answer": answer}).status_code == 400, answer
    assert post(judge, json={"csrf": csrf, "game": game, "answer": "0:0.85"}).status_code == 415
    assert post(judge, data={"csrf": csrf, "game": game, "answer": "0:0.85", "pad": "x" * 20_000}).status_code == 413
    assert ada.client.put(judge, data={"csrf": csrf}).status_code == 405
    # a debate's judge may not question its debaters: no box on the page, and a question is refused, with the
    # token or without it
    assert 'action="/question"' not in page.text
    ask = session.url + "/question"
    assert post(ask, data={"game": game, "question": "Why?"}).status_code == 403
    assert post(ask, data={"csrf": csrf, "game": game, "question": "Why?"}).status_code == 409
    assert post(ask, data={"csrf": csrf, "game": grace.games[0], "question": "Why?"}).status_code == 404
    assert httpx.post(session.url + "/signin", data={"name": "Mallory"}).status_code == 403
    # a page of another site reaching this server under its own host name (DNS rebinding) is refused
    port = urlsplit(session.url).port
    assert _raw_get(session.url, "/", host=f"evil.example:{port}")[0] == 403
    assert _raw_get(session.url, "/", host=f"localhost:{port}")[0] == 200
    # none of it was a verdict: Ada's first game still waits; her own verdict goes through and is never shown back
    assert _current_game(ada.client.get(judge).text) == game
    done = post(judge, data={"csrf": csrf, "game": game, "answer": "1:0.85"}, headers={"origin": session.url})
    assert done.status_code == 200 and _current_game(done.text) == ada.games[1]
    assert "B 85%" not in done.text and "B 85%" not in grace.client.get(judge).text
    # the judge cookie cannot be read by script nor sent by another site
    joined = httpx.get(session.links[1], follow_redirects=False)
    cookie = joined.headers.get("set-cookie", "")
    assert "oversight_judge=" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()


def test_model_markup_is_text_in_the_browser(session: Session) -> None:
    grace = session.judges[1]
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(session.links[1])  # Grace's invite link: she is named already, so straight to her game
        assert page.title().endswith("· oversight") and "pwned" not in page.title()
        assert page.locator("img").count() == 0 and page.locator("script").count() == 0
        assert page.get_attribute("body", "data-pwned") is None
        # the forged mark was checked like any quote: not in the passage, so shown unverified
        assert page.locator("mark.q-unverified", has_text="The moon ate the map.").count() >= 1
        assert page.locator("mark.q-verified", has_text="The moon ate the map.").count() == 0
        assert page.input_value("input[name=game]") in grace.games
        context.close()


def test_the_app_without_a_session_is_guarded_too() -> None:
    app = create_app(hosts=allowed_hosts("127.0.0.1", 8765, False))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        home = client.get("/")
        assert home.status_code == 200 and "default-src 'self'" in home.headers["content-security-policy"]
        assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
        for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/judge", "/join/x"):
            response = client.get(path)
            assert response.status_code == 404 and "create_app" not in response.text, path
        assert client.post("/").status_code == 405
    with TestClient(app, base_url="http://evil.example:8765") as client:
        assert client.get("/").status_code == 403


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", ".", "--host", "0.0.0.0"], "--host 0.0.0.0: serving beyond this machine needs --allow-remote"),
        (["serve", "no-such-folder"], "no-such-folder: no such folder"),
        (["judge", "no-such-run", "--judge", "web"], "no-such-run: not a run folder"),
        (["judge", "no-such-run", "--judge", "human", "--judges", "2"], "--judges: only with --judge web"),
        (["judge", "no-such-run", "--judge", "web", "--judge", "human"], "people judge alone"),
        (["run", "debate", "--judge", "web"], "oversight judge RUN --judge web"),
    ],
)
def test_bad_web_flags_are_one_line(args: list[str], message: str, workdir: Path) -> None:
    result = oversight_in_process(*args)
    assert result.returncode == 2, result
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
