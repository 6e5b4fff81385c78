"""The project's own files keep their promises: README table, Dockerfile, layer contract."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from trading_engine.infrastructure.config import Settings, flatten

ROOT = Path(__file__).resolve().parents[2]
# Structured keys set in a config file only (no single environment variable).
FILE_ONLY_KEYS = {"instruments"}


def settings_keys() -> set[str]:
    """Every dotted key the configuration model knows (a list of entries is one key)."""
    keys = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys |= {f"{section}.{info.alias or name}" for name, info in model.model_fields.items()}
        else:
            keys.add(section)
    return keys


def config_env_vars() -> dict[str, str]:
    document = yaml.safe_load((ROOT / "config.yml").read_text())
    found = {}
    for key, value in flatten(document):
        if key in FILE_ONLY_KEYS:
            continue
        match = re.search(r"\$\{([^}:]+)", str(value))
        assert match, f"{key} in config.yml has no ${{ENV_VAR:default}} override"
        found[key] = match.group(1)
    return found


def test_every_config_key_is_validated_and_has_an_env_override() -> None:
    assert set(config_env_vars()) | FILE_ONLY_KEYS == settings_keys()


def test_readme_configuration_table_matches_config_yml() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| `([A-Z_]+)` \|", readme, flags=re.M))
    assert rows == config_env_vars()


@pytest.mark.integration
def test_the_wheel_ships_the_repository_config_file(tmp_path: Path) -> None:
    """What a user installs holds trading_engine/config.yml with the repository's config.yml in it
    (the package's file is a link to it, so there is one file to edit)."""
    link = ROOT / "trading_engine" / "config.yml"
    assert link.is_symlink() and os.readlink(link) == "../config.yml"
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "config.yml"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "trading_engine", source / "trading_engine", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("trading_system_engine-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("trading_engine/config.yml") == (ROOT / "config.yml").read_bytes()


def test_dockerfile_is_slim_non_root_with_a_stdlib_healthcheck() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", dict(instructions)["FROM"])
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ("EXPOSE", "8083") in instructions
    healthcheck = dict(instructions)["HEALTHCHECK"]
    assert json.loads(healthcheck.split("CMD", 1)[1]) == ["python", "-m", "trading_engine.healthcheck"]
    assert json.loads(dict(instructions)["CMD"]) == ["trading-engine"]
    assert "setup.cfg" in dict(instructions)["RUN"] or any(
        "setup.cfg" in arg for op, arg in instructions if op == "RUN"
    )
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_layer_contract_fails_when_the_domain_imports_a_framework(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "trading_engine", tmp_path / "trading_engine", symlinks=True)
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    lint = Path(sys.executable).parent / "lint-imports"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(lint), "--no-cache", "--config", "setup.cfg"],
            cwd=tmp_path,
            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    clean = run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / "trading_engine" / "domain" / "leak.py").write_text("import aiohttp\n")
    broken = run()
    assert broken.returncode != 0
    assert "trading_engine.domain.leak -> aiohttp" in broken.stdout
