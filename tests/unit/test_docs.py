"""Docs as contracts: every setting and every derived attribute is documented in the README,
and the README starts with the two commands CI and users run."""

from pathlib import Path

from otel_perf.settings import settings_table_markdown
from processors.attributes import attributes_table_markdown

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
CI = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()


def test_readme_has_the_generated_settings_table():
    assert settings_table_markdown() in README


def test_readme_has_the_generated_attributes_table():
    assert attributes_table_markdown() in README


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    block = README.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    assert block[0].endswith("otel-perf demo")
    assert "pytest" in block[1]
    assert block[1] in CI
