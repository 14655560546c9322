"""What an install puts on a machine: one ``oversight`` package, protocol families inside it, nothing generic at
the top level, so a research folder with its own ``protocols/`` package runs the command unharmed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def research_folder(tmp_path: Path) -> Path:
    """A folder with a ``protocols`` package of its own whose ``debate`` module would break on import."""
    package = tmp_path / "protocols"
    package.mkdir()
    (package / "__init__.py").write_text("OWNER = 'the researcher'\n")
    (package / "debate.py").write_text("raise ImportError('the researcher\\'s own debate module')\n")
    return tmp_path


def test_a_run_from_a_folder_with_its_own_protocols_package(research_folder: Path) -> None:
    done = _python("-m", "oversight", "run", "debate", "--model", "scripted/auto", "--rounds", "1", "--limit", "2",
                   "--out", "run", cwd=research_folder)
    assert done.returncode == 0, done.stderr
    assert (research_folder / "run" / "summary.json").is_file()
    # the folder's own package is still the one its code imports
    mine = _python("-c", "import oversight.protocols.debate, protocols; print(protocols.OWNER)", cwd=research_folder)
    assert mine.stdout.strip() == "the researcher", mine.stderr


def test_the_install_exposes_no_top_level_protocols_module(tmp_path: Path) -> None:
    done = _python("-c", "import protocols", cwd=tmp_path)
    assert "No module named 'protocols'" in done.stderr


def test_the_wheel_puts_families_prompts_and_scenarios_inside_the_package(tmp_path: Path,
                                                                        research_folder: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(ROOT)], capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("oversight_sim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"oversight", wheel.name.split("-")[0] + "-"
                                                      + wheel.name.split("-")[1] + ".dist-info"}
    for expected in ("oversight/protocols/__init__.py", "oversight/protocols/debate/protocol.py",
                     "oversight/protocols/elk/scenarios/smartvault.toml", "oversight/_prompts/debate/judge.j2"):
        assert expected in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "debate = oversight.protocols.debate:Debate" in entry_points

    # the wheel's own copy plays a game, from a folder with its own protocols package
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    env = {"PYTHONPATH": str(site)}
    where = _python("-c", "import oversight.protocols.debate as d; print(d.__file__)", cwd=research_folder, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stderr
    done = _python("-m", "oversight", "run", "blind", "--model", "scripted/auto", "--limit", "2", "--out", "run",
                   cwd=research_folder, env=env)
    assert done.returncode == 0, done.stderr
