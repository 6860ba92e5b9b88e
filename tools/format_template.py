"""Apply `ruff format` and `ruff check --fix` to the template's Python files.

Renders the template with defaults, runs ruff on the rendered project with the project's
own configuration, and copies each fixed file back into the template when its template
source holds no Jinja (files with Jinja are listed for a hand edit instead).

    uv run python tools/format_template.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "{{cookiecutter.repo_name}}"
JINJA_MARKERS = ("{{", "{%", "{#")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=folder))
        before = {path: path.read_text() for path in project.rglob("*.py")}
        ruff = ["uv", "run", "--project", str(ROOT), "ruff"]
        subprocess.run([*ruff, "format", "."], cwd=project, check=False)
        subprocess.run([*ruff, "check", "--fix", "--quiet", "."], cwd=project, check=False)
        needs_hand_edit = []
        for rendered in project.rglob("*.py"):
            relative = rendered.relative_to(project)
            source = TEMPLATE / relative
            if not source.exists():
                continue
            text = source.read_text()
            if rendered.read_text() == before[rendered]:
                continue
            if any(marker in text for marker in JINJA_MARKERS):
                diff = subprocess.run(
                    ["diff", "-u", "-", str(rendered)],
                    input=before[rendered],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                needs_hand_edit.append(f"{relative}\n{diff.stdout}")
                continue
            shutil.copyfile(rendered, source)
            print(f"formatted {relative}")
        for relative in needs_hand_edit:
            print(f"differs but holds Jinja, edit by hand: {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
