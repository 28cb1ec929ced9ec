"""What the run enabled, from the command line first and the ini file second."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

N_PLUS_ONE_MODES = ("fail", "warn", "off")
DEFAULT_BUDGET_FILE = "perf-budget.toml"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("otel-perf", "otel-perf: N+1 detection and per-test query budgets")
    group.addoption(
        "--perf",
        action="store_true",
        default=None,
        help="measure each test's DB queries and GraphQL operations (the 'perf' fixture, "
        "the 'perf' marker, the end-of-run summary).",
    )
    group.addoption(
        "--perf-n-plus-one",
        choices=N_PLUS_ONE_MODES,
        default=None,
        help="what a detected N+1 does to the test: fail, warn (default once enabled) or off.",
    )
    group.addoption(
        "--perf-budget",
        metavar="PATH",
        default=None,
        help="the budget file (TOML) to check each test against; new tests are added to it.",
    )
    group.addoption(
        "--perf-budget-update",
        action="store_true",
        default=False,
        help=f"rewrite the budget file (default {DEFAULT_BUDGET_FILE}) from this run.",
    )
    group.addoption(
        "--perf-budget-db-time",
        action="store_true",
        default=None,
        help="also budget each test's DB time (noisy: checked with perf_db_time_tolerance).",
    )
    group.addoption(
        "--perf-report",
        metavar="PATH",
        default=None,
        help="write a machine-readable JSON report of every measured test.",
    )
    parser.addini("perf", type="bool", default=False, help="otel-perf: measure every test.")
    parser.addini("perf_n_plus_one", default="", help="otel-perf: fail, warn or off.")
    parser.addini("perf_budget_file", default="", help="otel-perf: the budget file (TOML).")
    parser.addini(
        "perf_budget_db_time", type="bool", default=False, help="otel-perf: budget DB time too."
    )
    parser.addini(
        "perf_db_time_tolerance",
        default="2.0",
        help="otel-perf: a test fails when its DB time exceeds budget x this factor.",
    )
    parser.addini("perf_report", default="", help="otel-perf: JSON report path.")


@dataclasses.dataclass(frozen=True)
class PerfOptions:
    n_plus_one: str  # fail | warn | off
    budget_file: Path | None
    update: bool
    db_time: bool
    db_time_tolerance: float
    report_file: Path | None


def resolve(config: pytest.Config) -> PerfOptions | None:
    """The enabled options, or None when nothing enables the plugin (then it does nothing)."""
    opt = config.option
    cli_dir = config.invocation_params.dir
    ini_dir = config.rootpath

    def path(cli_value, ini_name) -> Path | None:
        if cli_value:
            return cli_dir / cli_value
        ini_value = config.getini(ini_name)
        return ini_dir / ini_value if ini_value else None

    mode = opt.perf_n_plus_one or config.getini("perf_n_plus_one").strip().lower() or None
    budget_file = path(opt.perf_budget, "perf_budget_file")
    update = bool(opt.perf_budget_update)
    report_file = path(opt.perf_report, "perf_report")
    enabled = (
        bool(opt.perf)
        or bool(config.getini("perf"))
        or mode is not None
        or budget_file is not None
        or update
        or report_file is not None
    )
    if not enabled:
        return None
    if mode is not None and mode not in N_PLUS_ONE_MODES:
        raise pytest.UsageError(
            f"perf_n_plus_one = {mode!r}: expected one of {', '.join(N_PLUS_ONE_MODES)}"
        )
    if update and budget_file is None:
        budget_file = ini_dir / DEFAULT_BUDGET_FILE
    raw_tolerance = config.getini("perf_db_time_tolerance")
    try:
        tolerance = float(raw_tolerance)
        if tolerance < 1.0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            f"perf_db_time_tolerance = {raw_tolerance!r}: expected a number >= 1"
        ) from None
    return PerfOptions(
        n_plus_one=mode or "warn",
        budget_file=budget_file,
        update=update,
        db_time=bool(opt.perf_budget_db_time) or bool(config.getini("perf_budget_db_time")),
        db_time_tolerance=tolerance,
        report_file=report_file,
    )
