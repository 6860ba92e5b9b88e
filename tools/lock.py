"""Re-resolve the uv.lock of every structural variant of the generated project.

    uv run python tools/lock.py            # keep today's pins where pyproject.toml allows
    uv run python tools/lock.py --upgrade  # move every package to its newest allowed version

A variant is one combination of the options that change the generated pyproject.toml's
dependencies (`_lock_variant_options` in cookiecutter.json). Each variant's lock lives in
`{{cookiecutter.repo_name}}/.locks/`, with a token where the project's name goes; the
post-generation hook installs the right one as the project's uv.lock, so a render never
resolves dependencies. The tests fail when a lock is stale against its pyproject.toml.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
PROJECT_TEMPLATE = ROOT / "{{cookiecutter.repo_name}}"
LOCKS = PROJECT_TEMPLATE / ".locks"
# Kept in step with hooks/post_gen_project.py, which puts the project's name there.
LOCK_NAME_TOKEN = "__repo_name__"
RENDER_NAME = "mlops-project"


def variants() -> list[dict[str, str]]:
    """Every combination of the options that change the dependencies."""
    context = json.loads((ROOT / "cookiecutter.json").read_text())
    options: list[str] = context["_lock_variant_options"]
    return [
        dict(zip(options, values, strict=True))
        for values in itertools.product(*(context[option] for option in options))
    ]


def lock_file_name(variant: dict[str, str]) -> str:
    return "_".join(f"{option}-{value}" for option, value in variant.items()) + ".lock"


def render_pyproject(variant: dict[str, str], folder: Path) -> Path:
    """The variant's project files, rendered without hooks (no lock is needed to render)."""
    return Path(
        cookiecutter(
            str(ROOT),
            no_input=True,
            output_dir=str(folder),
            accept_hooks=False,
            extra_context={"project_name": RENDER_NAME, **variant},
        )
    )


def relock(variant: dict[str, str], upgrade: bool) -> Path:
    target = LOCKS / lock_file_name(variant)
    with tempfile.TemporaryDirectory() as folder:
        project = render_pyproject(variant, Path(folder))
        if target.is_file():
            # Today's lock is uv's preference: only what pyproject.toml forces moves.
            (project / "uv.lock").write_text(
                target.read_text().replace(LOCK_NAME_TOKEN, RENDER_NAME, 1)
            )
        command = ["uv", "lock", "--quiet", *(["--upgrade"] if upgrade else [])]
        subprocess.run(command, cwd=project, check=True)
        lock = (project / "uv.lock").read_text()
    token_line, render_line = f'name = "{LOCK_NAME_TOKEN}"', f'name = "{RENDER_NAME}"'
    if lock.count(render_line) != 1:
        raise SystemExit(f"{target.name}: expected one {render_line} line in the resolved lock")
    target.write_text(lock.replace(render_line, token_line))
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions")
    args = parser.parse_args()
    if shutil.which("uv") is None:
        raise SystemExit("uv is not on the PATH: run this through `make lock`")
    LOCKS.mkdir(exist_ok=True)
    wanted = {lock_file_name(variant) for variant in variants()}
    for stale in sorted(path for path in LOCKS.glob("*.lock") if path.name not in wanted):
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}: no such variant")
    for variant in variants():
        target = relock(variant, args.upgrade)
        print(f"locked {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
