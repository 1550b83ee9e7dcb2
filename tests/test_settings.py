"""Settings precedence: flag > DPO_* environment > TOML file > defaults; bad config exits 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliInvoker
from tests.test_sync import setup_org


def windows_of_first_sync(cli: CliInvoker, *config: str) -> int:
    setup_org(cli, "woo")
    cli.ok(*config, "sync", "demo")
    return int(json.loads(cli.ok("jobs", "list", "--json").stdout)[0]["windows"])


def test_defaults(cli: CliInvoker) -> None:
    assert windows_of_first_sync(cli) == 30


def test_toml_file_beats_defaults(cli: CliInvoker, tmp_path: Path) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text("[sync]\ninitial_days = 4\n")
    assert windows_of_first_sync(cli, "--config", str(config)) == 4


def test_dpo_config_names_the_file(
    cli: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text("[sync]\ninitial_days = 6\n")
    monkeypatch.setenv("DPO_CONFIG", str(config))
    assert windows_of_first_sync(cli) == 6


def test_environment_beats_toml(
    cli: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text("[sync]\ninitial_days = 4\n")
    monkeypatch.setenv("DPO_SYNC__INITIAL_DAYS", "2")
    assert windows_of_first_sync(cli, "--config", str(config)) == 2


def test_flag_beats_environment(cli: CliInvoker, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_org(cli, "woo", settings=("latency_seconds=0.05",))
    monkeypatch.setenv("DPO_SYNC__MAX_SECONDS", "0.01")
    assert cli("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03").exit_code == 75
    cli.ok("sync", "demo", "--since", "2026-01-01", "--until", "2026-01-03", "--max-seconds", "60")


def test_database_url_from_toml_and_environment(
    cli: CliInvoker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "from-toml.db"}"\n')
    cli.ok("--config", str(config), "orgs", "list")
    assert (tmp_path / "from-toml.db").exists()
    monkeypatch.setenv("DPO_DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    cli.ok("--config", str(config), "orgs", "list")
    assert (tmp_path / "from-env.db").exists()


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[sync\n", {}, "cannot read config file"),
        ("[sync]\ninitial_days = 0\n", {}, "invalid setting sync.initial_days"),
        ("", {"DPO_SYNC__INITIAL_DAYS": "many"}, "invalid setting sync.initial_days"),
        ('[sync]\ncolour = "blue"\n', {}, "invalid setting sync.colour"),
    ],
)
def test_bad_configuration_exits_3_with_one_line(
    cli: CliInvoker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    env: dict[str, str],
    message: str,
) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text(content)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli("--config", str(config), "orgs", "list")
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_missing_config_file_named_on_the_command_line(cli: CliInvoker, tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "nope.toml"), "orgs", "list")
    assert result.exit_code == 3
    assert "does not exist" in result.stderr


def test_connector_sections_are_typed_and_checked(cli: CliInvoker, tmp_path: Path) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text('[meta]\nrestatement_days = "many"\n')
    result = cli("--config", str(config), "sync", "meta")
    assert result.exit_code == 3
    assert "invalid setting meta.restatement_days" in result.stderr


def test_the_example_configuration_documents_every_connector_setting() -> None:
    from dpo.connectors import connector_classes

    text = (Path(__file__).parent.parent / "config.example.toml").read_text()
    for kind, cls in connector_classes().items():
        assert f"\n[{kind}]\n" in text, f"config.example.toml has no [{kind}] section"
        for name in cls.settings_model.model_fields:
            assert f"# {name} = " in text or f"#   {name} = " in text, (kind, name)


def test_an_unknown_section_in_the_config_file_is_an_error(cli: CliInvoker, tmp_path: Path) -> None:
    config = tmp_path / "dpo.toml"
    config.write_text("[shopify]\nlookback_days = 2\n")
    result = cli("--config", str(config), "orgs", "list")
    assert result.exit_code == 3
    assert f"unknown setting 'shopify' in {config}" in result.stderr
