"""The pytest hooks. Module level: options, the marker, the ``perf`` fixture — always registered
and inert. Everything else lives on ``PerfPlugin``, registered only when the run enables it."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_perf.pytest_plugin import options as _options

MARKER = (
    "perf(max_queries=None, max_complexity=None, max_db_time_ms=None, allow_n_plus_one=False): "
    "otel-perf limits for this test (checked when the otel-perf plugin is enabled)"
)
MARKER_KEYS = ("max_queries", "max_complexity", "max_db_time_ms", "allow_n_plus_one")
PLUGIN_NAME = "otel_perf_session"


class PerfWarning(pytest.PytestWarning):
    """An N+1 found with ``--perf-n-plus-one=warn``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    _options.add_options(parser)


@pytest.hookimpl(trylast=True)  # after pytest-django has set Django up
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    resolved = _options.resolve(config)
    if resolved is not None:
        config.pluginmanager.register(PerfPlugin(config, resolved), PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is not None:
        plugin.close()


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> PerfRun:
    """What the test has run so far: queries, fingerprints, N+1 findings, GraphQL operations."""
    plugin = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is None or plugin.pipeline is None:
        pytest.fail(
            "the 'perf' fixture needs the otel-perf plugin enabled: run pytest with --perf "
            "(or set perf = true in the pytest ini file)",
            pytrace=False,
        )
    return PerfRun(plugin)


class PerfRun:
    """Live facts of the running test (its call phase), recomputed on each read."""

    def __init__(self, plugin: PerfPlugin) -> None:
        self._plugin = plugin

    def facts(self) -> dict:
        return self._plugin.current_facts()

    queries = property(lambda self: self.facts()["queries"], doc="DB statements run so far")
    db_time_ms = property(lambda self: self.facts()["db_time_ms"])
    statements = property(lambda self: self.facts()["statements"])
    fingerprints = property(lambda self: [s["fingerprint"] for s in self.facts()["statements"]])
    n_plus_one = property(lambda self: self.facts()["n_plus_one"])
    operations = property(lambda self: self.facts()["operations"])
    graphql_complexity = property(lambda self: self.facts()["graphql_complexity"])
    requests = property(lambda self: self.facts()["requests"])


_RESULT = pytest.StashKey[dict]()


class PerfPlugin:
    def __init__(self, config: pytest.Config, opts: _options.PerfOptions) -> None:
        from otel_perf.pytest_plugin import budget

        self.config = config
        self.options = opts
        self.results: dict[str, dict] = {}
        self.budget_note = ""
        try:
            self.budgets = budget.load(opts.budget_file) if opts.budget_file else {}
        except budget.BudgetFileError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.is_worker = hasattr(config, "workerinput")
        is_controller = getattr(config.option, "dist", "no") != "no" and not self.is_worker
        self.pipeline = None
        if not is_controller:  # the xdist controller runs no test
            from otel_perf.pytest_plugin.pipeline import Pipeline

            self.pipeline = Pipeline(config.rootpath)

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None

    def current_facts(self) -> dict:
        from otel_perf.pytest_plugin.collector import Recording

        recording = self.pipeline.collector.current if self.pipeline is not None else None
        return self._facts_of(recording or Recording(0, 0))

    # -- per test ------------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.pipeline is not None:
            self.pipeline.instrument_django()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        if self.pipeline is None:
            return (yield)
        from processors.attributes import OPERATION_KIND

        marker_limits = _marker_limits(item)  # a bad marker fails before the test runs
        span, token, recording = self.pipeline.start_test(
            item.nodeid,
            {OPERATION_KIND: "test", "code.function": item.name, "code.filepath": str(item.path)},
        )
        try:
            result = yield
        finally:
            self.pipeline.end_test(span, token)
            item.stash[_RESULT] = self._judge(item, self._facts_of(recording), marker_limits)
        outcome = item.stash[_RESULT]
        for message in outcome["warnings"]:
            item.warn(PerfWarning(message))
        if outcome["facts"]["internal_errors"]:
            # Swallowed so the test ran undisturbed; said here so that it is not lost.
            item.warn(
                PerfWarning(
                    f"otel-perf: {outcome['facts']['internal_errors']} internal error(s) while "
                    "recording this test: its figures may be incomplete"
                )
            )
        problems = outcome["n_plus_one_failures"] + [
            f"otel-perf: {item.nodeid}: {problem}" for problem in outcome["violations"]
        ]
        if problems:
            outcome["perf_failed"] = True
            pytest.fail("\n\n".join(problems), pytrace=False)
        return result

    def _facts_of(self, recording) -> dict:
        from otel_perf.pytest_plugin.facts import build_facts
        from otel_perf.settings import get_settings

        settings = self.pipeline.settings if self.pipeline is not None else get_settings()
        return build_facts(recording, settings.n_plus_one_threshold, settings.slow_db_ms)

    def _judge(self, item: pytest.Item, facts: dict, marker_limits: dict) -> dict:
        from otel_perf.pytest_plugin.budget import limits_of
        from otel_perf.pytest_plugin.facts import limit_problems, n_plus_one_message

        opts = self.options
        nodeid = item.nodeid
        messages = [n_plus_one_message(nodeid, f) for f in facts["n_plus_one"]]
        allowed = marker_limits.get("allow_n_plus_one") or opts.n_plus_one == "off"
        violations = limit_problems(facts, marker_limits, "its @pytest.mark.perf limit")
        entry = self.budgets.get(nodeid) if opts.budget_file is not None else None
        if entry is not None and not opts.update:
            if not opts.db_time:
                entry = {k: v for k, v in entry.items() if k != "db_time_ms"}
            name = opts.budget_file.name
            for problem in limit_problems(
                facts, limits_of(entry), f"its budget in {name}", opts.db_time_tolerance
            ):
                violations.append(
                    f"{problem} (if the rise is intended: pytest --perf-budget-update)"
                )
        return {
            "facts": facts,
            "budget": entry,
            "violations": violations,
            "n_plus_one_failures": [] if allowed or opts.n_plus_one != "fail" else messages,
            "warnings": [] if allowed or opts.n_plus_one != "warn" else messages,
            "perf_failed": False,
        }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        report = yield
        outcome = item.stash.get(_RESULT, None)
        if call.when == "call" and outcome is not None:
            # A plain attribute survives xdist's report serialization to the controller.
            report.otel_perf = {
                **outcome["facts"],
                "budget": outcome["budget"],
                "violations": outcome["violations"],
                "perf_failed": outcome["perf_failed"],
            }
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "otel_perf", None)
        if report.when == "call" and isinstance(data, dict):
            self.results[report.nodeid] = {**data, "outcome": report.outcome}

    # -- end of run ------------------------------------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return  # the controller writes, from every worker's reports
        opts = self.options
        if opts.budget_file is not None:
            self._write_budget(opts.budget_file)
        if opts.report_file is not None:
            from otel_perf.pytest_plugin.report import write_report

            write_report(opts.report_file, self.document())

    def _write_budget(self, path: Path) -> None:
        from otel_perf.pytest_plugin import budget

        measured = {
            test_id: budget.entry_for(data, self.options.db_time)
            for test_id, data in self.results.items()
            if data["outcome"] == "passed" or data["perf_failed"]
        }
        new = budget.merged(self.budgets, measured, self.options.update)
        changed = sorted(k for k in new if new[k] != self.budgets.get(k))
        if changed or (self.options.update and not path.exists()):
            budget.write(path, new)
            verb = "rewritten" if self.options.update else "added (new tests)"
            self.budget_note = f"budget file {path}: {len(changed)} entries {verb}"
        else:
            self.budget_note = f"budget file {path}: unchanged"

    def document(self) -> dict:
        from otel_perf.pytest_plugin.report import report_document

        return report_document(self.results, self.options.budget_file, self.budget_note)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.is_worker or not self.results and not self.budget_note:
            return
        from otel_perf.pytest_plugin.report import summary_lines

        terminalreporter.write_sep("=", "otel-perf")
        for line in summary_lines(self.document()):
            terminalreporter.write_line(line)
        if self.options.report_file is not None:
            terminalreporter.write_line(f"report: {self.options.report_file}")


def _marker_limits(item: pytest.Item) -> dict:
    limits: dict = {}
    for marker in reversed(list(item.iter_markers("perf"))):  # the closest marker wins
        if marker.args:
            pytest.fail("@pytest.mark.perf takes keyword arguments only", pytrace=False)
        unknown = set(marker.kwargs) - set(MARKER_KEYS)
        if unknown:
            pytest.fail(
                f"@pytest.mark.perf: unknown argument(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(MARKER_KEYS)}",
                pytrace=False,
            )
        limits.update(marker.kwargs)
    return limits
