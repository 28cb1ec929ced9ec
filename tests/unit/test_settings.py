import logging

from otel_perf.settings import OPTIONS, Settings, load_settings, settings_table_markdown


def test_should_use_seed_defaults():
    s = load_settings({})
    assert s.slow_request_ms == 1000
    assert s.very_slow_request_ms == 5000
    assert s.slow_query_ms == 1000
    assert s.slow_db_ms == 500
    assert s.n_plus_one_threshold == 5
    assert s.max_queries_per_request == 10
    assert s.memory_per_request_mb == 50
    assert s.store == "./otel_perf_data"


def test_should_read_environment():
    s = load_settings({"OTEL_PERF_SLOW_REQUEST_MS": "250", "OTEL_PERF_EXCLUDE_PATHS": "/a, /b/"})
    assert s.slow_request_ms == 250
    assert s.exclude_paths == ("/a", "/b/")


def test_should_log_one_line_naming_the_variable_for_a_bad_value(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        s = load_settings({"OTEL_PERF_SLOW_REQUEST_MS": "abc"})
    assert s.slow_request_ms == 1000
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "OTEL_PERF_SLOW_REQUEST_MS" in lines[0] and "1000" in lines[0]


def test_should_reject_negative_and_unknown_choices(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        s = load_settings({"OTEL_PERF_N_PLUS_ONE_THRESHOLD": "-3", "OTEL_PERF_USER_IDS": "emails"})
    assert s.n_plus_one_threshold == 5 and s.user_ids == "pseudonymous"
    assert len(caplog.records) == 2


def test_should_let_the_environment_win_over_django_settings():
    s = load_settings(
        {"OTEL_PERF_SLOW_DB_MS": "100"},
        django_options={"slow_db_ms": 200, "n_plus_one_threshold": 3},
    )
    assert s.slow_db_ms == 100
    assert s.n_plus_one_threshold == 3


def test_should_warn_on_unknown_django_key(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_perf"):
        load_settings({}, django_options={"slow_request": 1})
    assert "slow_request" in caplog.records[0].getMessage()


def test_should_match_excluded_paths_by_segment():
    s = Settings(exclude_paths=("/health", "/static/"))
    assert s.is_excluded("/health")
    assert s.is_excluded("/health/db")
    assert not s.is_excluded("/healthcare")
    assert s.is_excluded("/static/app.css")
    assert not s.is_excluded("/books/")


def test_should_document_every_option():
    table = settings_table_markdown()
    for option in OPTIONS:
        assert option.env in table
    assert set(vars(Settings())) == {o.name for o in OPTIONS}


def test_settings_command_masks_secrets(monkeypatch, capsys):
    from otel_perf.cli import main

    monkeypatch.setenv("OTEL_PERF_API_TOKENS", "s3cret-token:admin")
    monkeypatch.setenv("OTEL_PERF_ALERT_SLACK_WEBHOOK_URL", "https://hooks.slack.com/T/B/s3cret")
    monkeypatch.setenv("OTEL_PERF_SLOW_REQUEST_MS", "1234")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "api_tokens = '(set)'" in out and "alert_slack_webhook_url = '(set)'" in out
    assert "slow_request_ms = 1234.0" in out


def test_bottleneck_interval_stays_below_the_quiet_period(caplog):
    settings = load_settings(
        {"OTEL_PERF_BOTTLENECK_INTERVAL_S": "900", "OTEL_PERF_ALERT_QUIET_PERIOD_S": "600"}
    )
    assert settings.bottleneck_interval_s == 300.0
    assert "OTEL_PERF_BOTTLENECK_INTERVAL_S is not below" in caplog.text
