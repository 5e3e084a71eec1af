"""The gateway's configuration: three variables or a YAML file; keys from env or files; clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.llm import load_config
from shipyard.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return path


FILE = """
providers:
  openai:
    base_url: https://api.example.com/v1/
    api_key_env: EXAMPLE_KEY
    models:
      gpt-x: {input_per_million: 0.15, output_per_million: 0.6, context_window: 128000}
  local:
    base_url: http://vllm:8000/v1
    api_key_file: KEYFILE
    models:
      llama/3.1-8b: {}
routes:
  chat: [[local/llama/3.1-8b], openai/gpt-x]
"""


def test_a_file_with_keys_from_the_environment_and_a_secret_file(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text("sk-from-file\n")
    path = write(tmp_path, FILE.replace("KEYFILE", str(keyfile)))
    config = load_config(config_file=path, base_url=None, api_key=None, model=None, environ={"EXAMPLE_KEY": "sk-env"})
    assert config.upstreams["openai"].api_key == "sk-env" and config.upstreams["local"].api_key == "sk-from-file"
    assert config.upstreams["openai"].base_url == "https://api.example.com/v1"
    assert "sk-env" not in repr(config.upstreams["openai"])  # keys never reach logs through repr
    (first,), (second,) = config.routes["chat"]
    assert (first.provider, first.model) == ("local", "llama/3.1-8b")  # model names may contain '/'
    assert second.cost(1_000_000, 1_000_000) == pytest.approx(0.75) and second.spec.context_window == 128000


def test_three_variables_add_a_default_provider_and_route(tmp_path: Path) -> None:
    config = load_config(config_file=None, base_url="http://127.0.0.1:8080/v1", api_key="k", model="qwen",
                         environ={})  # fmt: skip
    ((deployment,),) = config.routes["qwen"]
    assert deployment.id == "default/qwen" and config.upstreams["default"].api_key == "k"
    settings = Settings(llm_base_url="http://127.0.0.1:8080/v1", llm_model="qwen")  # type: ignore[call-arg]
    assert settings.llm.model == "qwen"


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        (FILE.replace("api_key_file: KEYFILE", ""), {}, "environment variable EXAMPLE_KEY is not set"),
        ("routes: {chat: [nope/x]}", {}, "unknown provider model 'nope/x'; configured: none"),
        ("providers: {a: {base_url: ftp://x, models: {m: {}}}}", {}, "base_url must start with http"),
        ("providers: {a: {base_url: 'http://x', models: {m: {price: 1}}}}", {}, "providers.a.models.m.price"),
        ("providers: [unclosed", {}, "is not valid YAML (line 1, column 21)"),
        ("routes: {chat: []}", {}, "route 'chat' has no steps"),
    ],
)
def test_mistakes_stop_startup_with_one_clear_line(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(config_file=write(tmp_path, text), base_url=None, api_key=None, model=None, environ=environ)
    assert "\n" not in caught.value.message


def test_half_of_the_three_variables_is_an_error() -> None:
    with pytest.raises(ConfigError, match="set together"):
        load_config(config_file=None, base_url="http://x/v1", api_key=None, model=None, environ={})
