"""Meta-tests against drift: lint is clean, every command has help, no flag is bound twice."""

from __future__ import annotations

import shutil
import subprocess
import sys

import click
import pytest
from conftest import REPO

from recon.cli import cli


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff_is_clean(args):
    proc = subprocess.run(
        [*_ruff(), *args, "recon", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _commands(group: click.Group):
    yield group
    for cmd in group.commands.values():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd)
        else:
            yield cmd


def test_every_command_has_help_text_and_unique_flags():
    for cmd in _commands(cli):
        assert cmd.help, f"{cmd.name} has no help text"
        flags = [o for p in cmd.params for o in (*p.opts, *p.secondary_opts)]
        assert len(flags) == len(set(flags)), f"{cmd.name} binds a flag twice: {flags}"
