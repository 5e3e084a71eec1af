"""Settings come from SHIPYARD_* variables or a .env file, validated with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.settings import Settings, get_settings


def test_defaults_are_the_embedded_platform(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.home == Path(".shipyard")
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / '.shipyard' / 'shipyard.db')}"
    assert settings.store.redis_url is None and settings.jobs.worker_in_process


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SHIPYARD_RATE_LIMIT_PER_MINUTE=42\nSHIPYARD_PLUGINS=a.b, c.d\n")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "data"))
    settings = Settings()
    assert settings.api.rate_limit_per_minute == 42
    assert settings.process.plugins == ["a.b", "c.d"]
    assert settings.home == tmp_path / "data"
    monkeypatch.setenv("SHIPYARD_RATE_LIMIT_PER_MINUTE", "7")  # environment beats .env
    assert Settings().api.rate_limit_per_minute == 7


@pytest.mark.parametrize("given", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgres_urls_are_normalised_to_psycopg(given: str) -> None:
    assert Settings(database_url=given).resolved_database_url == "postgresql+psycopg://u@h/db"


def test_unsupported_database_url_says_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="must start with sqlite:/// or postgresql"):
        Settings(database_url="mysql://root@localhost/db")


def test_bad_environment_value_is_one_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_JOB_LEASE_SECONDS", "soon")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="SHIPYARD_JOB_LEASE_SECONDS: Input should be a valid number"):
        get_settings()
    get_settings.cache_clear()


def test_redis_url_is_a_secret() -> None:
    settings = Settings(redis_url="redis://:hunter2@localhost:6379/0")
    assert "hunter2" not in repr(settings)


def test_unknown_redis_scheme_is_a_config_error_listing_the_valid_ones() -> None:
    from shipyard.ratelimit import build_rate_limiter

    with pytest.raises(ConfigError, match=r"must start with one of redis://, rediss://, unix://; got http://"):
        build_rate_limiter("http://cache:6379", key_prefix="x")


def test_sections_keep_the_flat_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grouping settings changed no deployment's configuration: each field is still set by the
    variable it always was, and the constructor still takes that name."""
    monkeypatch.setenv("SHIPYARD_JOB_POLL_SECONDS", "0.25")
    monkeypatch.setenv("SHIPYARD_LLM_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("SHIPYARD_WORKER_IN_PROCESS", "false")
    settings = Settings(rag_top_k=9)
    assert settings.jobs.poll_seconds == 0.25 and settings.llm.timeout_seconds == 7.0
    assert settings.jobs.worker_in_process is False and settings.rag.top_k == 9
    assert Settings(llm_timeout_seconds=3).llm.timeout_seconds == 3.0  # the constructor beats the environment
    copy = settings.replace(worker_in_process=True)
    assert copy.jobs.worker_in_process is True and copy.jobs.poll_seconds == 0.25
    with pytest.raises(ConfigError, match="no setting named 'job_poll'"):
        settings.replace(job_poll=1)


def test_a_bad_value_names_its_variable_inside_a_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_LLM_MAX_RETRIES", "-1")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="SHIPYARD_LLM_MAX_RETRIES: Input should be greater than or equal to 0"):
        get_settings()
    get_settings.cache_clear()
