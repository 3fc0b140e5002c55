"""The cache plan of a build takes its provider's rules from the Context's own catalog, not the default one."""

from __future__ import annotations

from contextwise.budget import Context
from contextwise.models import Catalog, default_catalog


def _ctx(catalog):
    ctx = Context("claude-sonnet-4-5", catalog=catalog)
    ctx.system("Rules of the house. " * 400)
    ctx.history([{"role": "user", "content": "earlier question"}, {"role": "assistant", "content": "answer"}])
    return ctx.user("now?").build()


def test_cache_plan_reads_the_contexts_own_catalog():
    info = default_catalog().get("claude-sonnet-4-5")
    assert len(_ctx(None).report.cache_plan.breakpoints) == 2  # system and history, as the default allows 4
    mine = Catalog([info], provider_defaults={"anthropic": {"cache_kind": "explicit", "cache_breakpoints_max": 1}})
    assert len(_ctx(mine).report.cache_plan.breakpoints) == 1
