"""Write `.env` from `.env.example`, filling every empty secret with a fresh random value.

A key is a secret when its name ends in _PASSWORD, _SECRET, _SECRET_KEY, _TOKEN or
_FERNET_KEY. An existing `.env` is never overwritten. Standard library only: the template's
post-generation hook and `make env` both run it before any virtualenv exists.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

SECRET_SUFFIXES = ("_PASSWORD", "_SECRET", "_SECRET_KEY", "_TOKEN")


def generate_secret(key: str) -> str:
    if key.endswith("_FERNET_KEY"):
        # Fernet wants 32 url-safe base64-encoded bytes.
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(32)


def is_secret(key: str) -> bool:
    return key.endswith((*SECRET_SUFFIXES, "_FERNET_KEY"))


def fill_secrets(example: str) -> str:
    lines = []
    for line in example.splitlines():
        key, separator, value = line.partition("=")
        if separator and not line.lstrip().startswith("#") and is_secret(key) and not value:
            line = f"{key}={generate_secret(key)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_env_file(example_path: Path, env_path: Path) -> bool:
    """Create `env_path`; returns False when it already existed and was left alone."""
    if env_path.exists():
        return False
    content = fill_secrets(example_path.read_text())
    env_path.touch(mode=0o600)
    env_path.write_text(content)
    return True


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    created = write_env_file(root / ".env.example", root / ".env")
    print(".env written with fresh secrets" if created else ".env already exists; left as it is")
    sys.exit(0)
