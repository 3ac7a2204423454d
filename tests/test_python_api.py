"""The Python API as documented: every ```python block of docs/python-api.md and
docs/attacks.md runs, in order, and the API prints and writes nothing unless asked."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(page: str) -> list[str]:
    return BLOCK.findall((REPO / "docs" / page).read_text())


@pytest.mark.parametrize("page", ["python-api.md", "attacks.md"])
def test_documented_blocks_run(page, data_dir, tmp_path, monkeypatch, capsys) -> None:
    blocks = python_blocks(page)
    assert blocks, f"no python blocks in docs/{page}"
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands here, and is checked below
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"docs/{page} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the documented examples are the test
    assert list(tmp_path.iterdir()) == []
    if page == "python-api.md":
        out = capsys.readouterr().out
        assert "attacks pgd need epsilons or eps_steps" in out
        assert "unknown model 'no-such-model'" in out


def test_api_prints_and_writes_nothing_unless_asked(data_dir, tmp_path, monkeypatch, capfd) -> None:
    """In this process (stdout captured at the file descriptor, C libraries included); a print
    at import time fails test_importing_host_api_does_not_load_tensorflow's fresh process."""
    from host.api import evaluate, run_campaign

    monkeypatch.chdir(tmp_path)
    capfd.readouterr()
    evaluate("cifar10-resnet8", backends=["tflm-int8"], n=2)
    run_campaign("cifar10-resnet8", ["fgsm"], [0.004], backends=["tflm-int8"], n=2)
    assert capfd.readouterr().out == "" and list(tmp_path.iterdir()) == []


def test_importing_host_api_does_not_load_tensorflow() -> None:
    script = "import sys, host, host.api; print('tensorflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "False", done.stderr[-2000:]
