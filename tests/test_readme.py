"""The README's quick start runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_exactly_the_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make (\w+)", setup, flags=re.M)
    assert commands == ["demo", "test"]


@pytest.mark.parametrize("block", _python_blocks())
def test_readme_quick_start_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    assert "points" in capsys.readouterr().out


def _cli_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.strip()]


def test_every_readme_cli_line_runs_as_written(tmp_path: Path) -> None:
    """Each line in a shell, in order, in a folder laid out like the repository after ``make demo``
    (its grids, and ``.venv/bin/cotation``: the repository's own when it is there, else this
    interpreter's ``cotation``)."""
    lines = _cli_lines()
    assert len(lines) >= 10 and all(line.startswith(".venv/bin/cotation ") for line in lines)
    (tmp_path / "grids").symlink_to(ROOT / "grids")
    command = tmp_path / ".venv" / "bin" / "cotation"
    command.parent.mkdir(parents=True)
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cotation "$@"\n', encoding="utf-8")
    command.chmod(0o755)
    for line in lines:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    for name in ["demandes.csv", "logements.csv", "scores.parquet", "scores.csv", "scores.jsonl"]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "scores.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "positions.xlsx.meta.json").is_file() and (tmp_path / "cal.html").is_file()
