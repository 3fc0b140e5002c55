"""Two writers superseding one fact at once, in two processes: the store's compare-and-set on the fact's version
sees the other's supersede (which changes the fact's metadata, not its text), so one current fact remains and
the history is one exact chain."""

from __future__ import annotations

from memory.conftest import other_process

from contextwise.memory import UnifiedMemory
from contextwise.testing import HashEmbedder


def test_two_processes_superseding_one_fact_at_once_leave_one_current_fact(shared):
    backend, target, store = shared
    mem = UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice")
    mem.semantic.learn("I live in Lyon.")
    (lyon,) = mem.semantic.facts()
    write, raced = mem.semantic.backend.write, []

    def racing_write(entries, *, expect=None):
        if not raced:  # between this commit's read of the Lyon fact and its write, another writer supersedes it
            raced.append(expect)
            if target is None:
                UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice").semantic.learn("I live in Oslo.")
            else:
                other_process(backend, target, 'mem.semantic.learn("I live in Oslo.")')
        return write(entries, expect=expect)

    mem.semantic.backend.write = racing_write
    mem.semantic.learn("I live in Rome.")
    assert raced and raced[0] == {lyon.id: 1}  # the commit required the version it had read
    assert [f.text for f in mem.semantic.facts()] == ["The user lives in Rome."]
    history = mem.semantic.history()
    moves = [c for c in history if c.op == "SUPERSEDE"]
    assert [(m.before, m.after) for m in sorted(moves, key=lambda m: m.at)] == [
        ("The user lives in Lyon.", "The user lives in Oslo."), ("The user lives in Oslo.", "The user lives in Rome.")]
    assert len({m.replaces for m in moves}) == 2  # no fact was superseded twice


def test_a_compare_and_set_on_a_version_fails_after_a_metadata_only_change(shared):
    import pytest

    from contextwise.stores import WriteConflictError
    from contextwise.types import Record

    _, _, store = shared
    store.upsert_partitions({"semantic": [Record("f1", "The user lives in Lyon.", None, {"current": True})]},
                            tenant="alice")
    (read,) = store.get(["f1"], tenant="alice")
    store.upsert_partitions({"semantic": [Record("f1", read.text, None, {"current": False})]}, tenant="alice")
    with pytest.raises(WriteConflictError):
        store.upsert_partitions({"semantic": [Record("f2", "x", None)]}, tenant="alice", expect={"f1": read.version})
    store.upsert_partitions({"semantic": [Record("f2", "x", None)]}, tenant="alice", expect={"f1": read.text})
    assert store.get(["f1"], tenant="alice")[0].version == read.version + 1  # text CAS still works; it is blind here
    assert store.count(tenant="alice") == 2
