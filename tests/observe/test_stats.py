"""Aggregates per tenant and user in SQLite and PostgreSQL, and spend limits that alert."""

from __future__ import annotations

import pytest

from contextwise import observe
from contextwise.observe import SpendLimit, UsageStats
from contextwise.observe._bus import Scope
from contextwise.types import Usage


def _call(tenant, user, cost, *, at_s, cached=0, model="gpt-4o"):
    return observe.ModelCall(provider="openai", model=model, usage=Usage(1000, 10, cached), cost_usd=cost,
                             at_s=at_s, scope=Scope(tenant, user))


def _built_event(tenant, prompt, available, *, at_s):
    from contextwise.budget.report import Report

    report = Report("gpt-4o", 1000, 0, available, prompt, True, (), ())
    return observe.ContextBuilt(report=report, at_s=at_s, scope=Scope(tenant, None))


def _fill(stats):
    for e in (_call("acme", "u1", 0.5, at_s=100, cached=500), _call("acme", "u2", 0.25, at_s=200),
              _call("beta", "u3", 0.1, at_s=4000), _built_event("acme", 500, 1000, at_s=150),
              _built_event("acme", 900, 1000, at_s=160),
              observe.CacheLookup(cache="sqlite", hit=True, at_s=170, scope=Scope("acme")),
              observe.CacheLookup(cache="sqlite", hit=False, at_s=171, scope=Scope("acme")),
              observe.ContextOverflow(provider="openai", model="gpt-4o", counted_tokens=9, limit_tokens=5,
                                      at_s=180, scope=Scope("beta"))):
        stats.export(e)


@pytest.fixture(params=["sqlite", "postgres"])
def stats(request, tmp_path):
    if request.param == "sqlite":
        store = UsageStats(tmp_path / "stats.sqlite3")
    else:
        dsn = request.getfixturevalue("pg_dsn")
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS observe_events")
        store = UsageStats(dsn)
    yield store
    store.close()


def test_stats_summary_per_tenant(stats):
    _fill(stats)
    rows = {r.key: r for r in stats.summary(by="tenant")}
    acme, beta = rows["acme"], rows["beta"]
    assert (acme.calls, acme.builds, acme.cost_usd) == (2, 2, pytest.approx(0.75))
    assert acme.utilisation == pytest.approx(0.7)
    assert acme.prompt_cache_ratio == pytest.approx(500 / 2000)
    assert acme.cache_hit_rate == pytest.approx(0.5)
    assert (beta.overflows, beta.calls, beta.cache_hit_rate) == (1, 1, None)
    assert [r.key for r in stats.summary()] == ["acme", "beta"]  # most expensive first


def test_stats_summary_per_user_and_window(stats):
    _fill(stats)
    users = {r.key: r.cost_usd for r in stats.summary(by="user", since_s=0, until_s=1000) if r.key}
    assert users == {"u1": pytest.approx(0.5), "u2": pytest.approx(0.25)}


def test_stats_series_buckets_over_time(stats):
    _fill(stats)
    series = stats.series(bucket_s=3600)
    assert [(r.bucket_start_s, r.key) for r in series] == [(0.0, "acme"), (0.0, "beta"), (3600.0, "beta")]
    assert stats.count() == 8 and len(list(stats.iter_rows(batch=3))) == 8


def test_stats_spend_limit_alerts_once_per_window(stats):
    limited = UsageStats(":memory:", limits=[SpendLimit(0.6, window_s=1000, tenant="acme")])
    alerts = []
    with observe.subscribe(alerts.append, kinds=observe.SpendAlert):
        for at in (100, 200, 300):
            limited.export(_call("acme", "u1", 0.5, at_s=at))
        for at in (1500, 1600):  # a later window goes over again
            limited.export(_call("acme", "u1", 0.5, at_s=at))
    assert [(a.tenant, round(a.spent_usd, 2)) for a in alerts] == [("acme", 1.0), ("acme", 1.0)]
    assert alerts[0].limit_usd == 0.6 and alerts[0].at_s > 0
    assert limited.spent_usd("acme", window_s=1000, now_s=1600) == pytest.approx(1.0)


def test_stats_rejects_bad_arguments():
    from contextwise.errors import UsageError

    with pytest.raises(UsageError):
        SpendLimit(0)
    with pytest.raises(UsageError):
        UsageStats().summary(by="planet")


def test_stats_series_read_in_slices_is_the_same(stats):
    _fill(stats)
    for at in range(0, 40_000, 3600):
        stats.export(_call("gamma", "u9", 0.01, at_s=at + 5))
    calls = []
    sliced = stats.series(bucket_s=3600, progress=lambda done, total: calls.append((done, total)))
    assert sliced == stats.series(bucket_s=3600)
    assert calls[-1][0] == calls[-1][1] > 1
    assert sum(r.calls for r in sliced) == 3 + 12
