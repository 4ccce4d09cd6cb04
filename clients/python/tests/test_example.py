"""The README's example is examples/helper.py, and it runs against a real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_example_file_unchanged():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert (ROOT / "examples" / "helper.py").read_text(encoding="utf-8") in blocks
    assert len((ROOT / "examples" / "helper.py").read_text().splitlines()) <= 22


def test_the_example_agent_answers_itself_and_publishes(broker):
    environment = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "helper.py"), broker.endpoint, broker.events],
                            capture_output=True, text=True, timeout=30, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'product': 42, 'for': 'py-helper'}", "published event #1"]
