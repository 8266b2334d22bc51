"""The README's examples run as written: the "Try it" commands and every Python block."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from memcap.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_try_it_commands_run_as_written(tmp_path, monkeypatch):
    section = README.split("## Try it", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].splitlines() if line.strip()]
    assert len(commands) >= 8
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing of the checkout is at hand
    runner = CliRunner()
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "memcap"
        r = runner.invoke(app, args[1:])
        assert r.exit_code == 0, (line, r.output)
    assert (tmp_path / "stream.png").exists() and (tmp_path / "pred.npy").exists() and (tmp_path / "text.mc" / "model.json").exists()


def test_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 2
    for block in blocks:  # in order: the API tour saves model.mc, the next block loads its weights
        exec(block, {})


def test_the_docs_loading_lines_run(tmp_path, monkeypatch):
    import memcap

    monkeypatch.chdir(tmp_path)
    ds = memcap.Dataset.random_ids(N=200, n=6, vocab=50, C=10)
    memcap.save(memcap.compile(ds, bit_budget=48), "model.mc")
    doc = (ROOT / "docs" / "file-formats.md").read_text()
    scope: dict = {}
    exec(re.findall(r"```python\n(.*?)```", doc, flags=re.S)[0], scope)
    import torch

    out = scope["net"](torch.from_numpy(ds.tokens))[:, -1, 0]
    assert torch.equal(out, torch.from_numpy(ds.labels).double())
