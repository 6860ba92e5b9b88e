import runpy
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
generate_env = runpy.run_path(str(PROJECT_ROOT / "scripts" / "generate_env.py"))


def test_every_empty_secret_gets_a_distinct_value(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    assert generate_env["write_env_file"](PROJECT_ROOT / ".env.example", target)
    values = dict(
        line.split("=", 1)
        for line in target.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    secrets = {key: value for key, value in values.items() if generate_env["is_secret"](key)}
    assert secrets, "the example declares secrets"
    assert all(len(value) >= 32 for value in secrets.values())
    assert len(set(secrets.values())) == len(secrets)
    assert "admin" not in {value.lower() for value in secrets.values()}
    assert target.stat().st_mode & 0o077 == 0, ".env must be private to its owner"


def test_an_existing_env_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    target.write_text("POSTGRES_PASSWORD=kept\n")
    assert not generate_env["write_env_file"](PROJECT_ROOT / ".env.example", target)
    assert target.read_text() == "POSTGRES_PASSWORD=kept\n"


def test_fernet_keys_are_valid_fernet_keys() -> None:
    import base64

    key = generate_env["generate_secret"]("SERVICE_FERNET_KEY")
    assert len(base64.urlsafe_b64decode(key)) == 32
