"""The production examples in deploy/ are configurations the real tools accept, and the example
alert spec compiles to rules Prometheus loads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shipyard.monitoring.rules import load_spec, prometheus_rules, rules_yaml

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is installed by `make services` (scripts/services.sh)"
    return found


def test_alertmanager_accepts_the_example_config() -> None:
    config = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
    checked = subprocess.run([_tool("amtool"), "check-config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


def test_prometheus_accepts_the_example_config_with_the_example_rules(tmp_path: Path) -> None:
    spec = load_spec((ROOT / "examples" / "alerts.yaml").read_text(), "examples/alerts.yaml")
    rules = prometheus_rules(spec, "default", {"canary-watch": "bikes"})
    (tmp_path / "shipyard.rules.yml").write_text(rules_yaml(rules, ["ask-latency-anomaly", "llm-cost-anomaly"]))
    shutil.copy(ROOT / "deploy" / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    checked = subprocess.run([_tool("promtool"), "check", "config", "prometheus.yml"], cwd=tmp_path,
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 3 SLOs × 7 rules, and the three rules Prometheus can evaluate (the two anomaly rules cannot).
    assert "SUCCESS: 24 rules found" in checked.stdout
