"""Show how the rendered file sets differ from tests/expected_files.py, per component.

For updating the expected lists after adding files to the template: it renders the
template with every component off and with each one on, and prints the files to add to
or remove from each list. Review the output; the lists themselves are edited by hand.

    uv run python tools/expected_files_diff.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import render
from tests.expected_files import COMMON, OPTIONAL

ALL_OFF = {"include_airflow": "no", "include_monitoring_stack": "no", "ci_provider": "none"}


def files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def report(name: str, actual: set[str], expected: set[str]) -> None:
    for path in sorted(actual - expected):
        print(f"{name}: add    {path}")
    for path in sorted(expected - actual):
        print(f"{name}: remove {path}")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        base = files(render(Path(folder) / "base", **ALL_OFF))
        report("COMMON", base, COMMON)
        for (option, value), expected in OPTIONAL.items():
            project = render(Path(folder) / f"{option}-{value}", **{**ALL_OFF, option: value})
            report(f"OPTIONAL[{option}={value}]", files(project) - base, expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
