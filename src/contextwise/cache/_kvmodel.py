"""The local model resuming from saved KV states, and precomputed scenarios (the design's ContextPrecomputeService).

A call looks for the tenant's saved state sharing the longest prefix with its prompt; when that beats what the
model's own cache still holds from the previous call, the state is restored and only the rest of the prompt is
evaluated. After the answer, the prompt's prefix is saved when enough of it was new. Greedy answers are the same
bits with and without a restore: see `_Engine.evaluate` for the one batch shape that would break that.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from collections.abc import Iterator, Sequence
from typing import Any

from contextwise._deprecated import UNSET, output_cap
from contextwise.cache._kv import HEAD_TOKENS, KVStateCache, Scenario
from contextwise.errors import ContextLengthError, StoreError, UsageError
from contextwise.llm._local import LlamaCppModel, _Engine, final_completion, local_model
from contextwise.observe import _bus
from contextwise.observe._emit import emit_cache_lookup
from contextwise.stores._core import check_tenant
from contextwise.types import ChatOptions, Completion, Message


@dataclass(frozen=True)
class PrecomputedScenario:
    """A scenario's prefix in the KV cache: its tokens, the saved state's real bytes, the seconds it took, and
    whether a saved state already covered it (nothing was evaluated)."""

    scenario_id: str
    tokens: int
    state_bytes: int
    seconds: float
    reused: bool


class KVCachedModel:
    """A LlamaCppModel whose calls resume from KV states saved on disk, for one tenant.

    >>> model = KVCachedModel(local_model(), KVStateCache(), tenant="acme")  # doctest: +SKIP
    >>> model.precompute("support", "You answer from the manual.", manual_text)  # doctest: +SKIP
    >>> answer = model.complete_scenario("support", [Message.user("How do I reset it?")])  # doctest: +SKIP
    >>> answer.usage.cached_input_tokens  # the scenario's prefix, restored  # doctest: +SKIP
    2012
    """

    def __init__(self, model: LlamaCppModel | None = None, states: KVStateCache | None = None, *, tenant: str,
                 save_min_new_tokens: int = 256, min_reuse_tokens: int = HEAD_TOKENS) -> None:
        """Args:
            model: the local model; default the shared SmolLM2 (`local_model()`).
            states: where states are saved; default `KVStateCache()` (under `cache_dir()/kv`).
            tenant: whose states these are: a call restores only states this tenant saved.
            save_min_new_tokens: save a prompt's prefix after an answer only when at least this many of its
                tokens are not in a saved state already (each state costs about 23 kB per token for SmolLM2).
            min_reuse_tokens: restore a saved state only when it covers at least this many more tokens than
                the model's own cache still holds.

        Raises:
            UsageError: a bad tenant or threshold.
        """
        if save_min_new_tokens < 1 or min_reuse_tokens < 1:
            raise UsageError("save_min_new_tokens and min_reuse_tokens must be at least 1")
        self.model = model or local_model()
        self.states = states if states is not None else KVStateCache()
        self.tenant = check_tenant(tenant)
        self.name = self.model.name
        self.save_min_new_tokens, self.min_reuse_tokens = save_min_new_tokens, min_reuse_tokens

    @property
    def fingerprint(self) -> str:
        """What this model's saved states depend on (model file hash, window, batch sizes, build)."""
        return self.model._engine.fingerprint()

    def complete(self, messages: Sequence[Message], max_output_tokens: int | None = None,
                 options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Completion:
        """Generate the assistant's answer (resuming from the longest saved prefix)."""
        cap = output_cap(type(self).__name__, max_output_tokens, max_tokens)
        return final_completion(self._stream(messages, cap, options))

    def stream(self, messages: Sequence[Message], max_output_tokens: int | None = None,
               options: ChatOptions | None = None, *, max_tokens: Any = UNSET) -> Iterator[str | Completion]:
        """Yield text deltas, then the Completion; `usage.cached_input_tokens` counts the tokens resumed."""
        return self._stream(messages, output_cap(type(self).__name__, max_output_tokens, max_tokens), options)

    def _stream(self, messages: Sequence[Message], cap: int | None,
                options: ChatOptions | None) -> Iterator[str | Completion]:
        return self.model._run(messages, cap, options, tenant=self.tenant, states=self._resume())

    # -- scenarios --------------------------------------------------------------------------------------------

    def precompute(self, scenario_id: str, system: str, common_context: str = "") -> PrecomputedScenario:
        """Evaluate a scenario's prefix (the system prompt and the common context, as one system message) and
        save its state, so every call of the scenario, in this process or a later one, starts after it.

        Raises:
            UsageError: an empty id or a non-text system prompt or context.
            ContextLengthError: the prefix does not fit the model's window.
        """
        scenario = _scenario(scenario_id, system, common_context)
        model, engine = self.model, self.model._engine
        prefix = model._tokens(model.template.prefix([Message.system(scenario.system_text)]))
        if len(prefix) >= model.n_ctx:
            raise ContextLengthError(f"scenario {scenario_id!r} has {len(prefix)} tokens; the window is "
                                     f"{model.n_ctx}", backend="local", needed_tokens=len(prefix),
                                     available_tokens=model.n_ctx - 1)
        if len(prefix) < HEAD_TOKENS:
            raise UsageError(f"scenario {scenario_id!r} is {len(prefix)} tokens; precompute at least "
                             f"{HEAD_TOKENS}")
        started = time.perf_counter()
        fingerprint = engine.fingerprint()
        with engine.hold():
            found = self.states.find(self.tenant, fingerprint, prefix)
            if found is not None and found.entry.n_tokens == len(prefix) == found.common_tokens:
                self.states.put_scenario(self.tenant, scenario)
                return PrecomputedScenario(scenario_id, len(prefix), found.entry.bytes, time.perf_counter() - started,
                                   True)
            kept = engine.reuse(prefix, tenant=self.tenant)
            kept = self._resume().resume(engine, prefix, kept, prompt_tokens=len(prefix))
            engine.evaluate(prefix, kept)
            entry = self.states.save(self.tenant, fingerprint, prefix, engine.save_state(len(prefix)))
        self.states.put_scenario(self.tenant, scenario)
        return PrecomputedScenario(scenario_id, len(prefix), entry.bytes if entry else 0, time.perf_counter() - started,
                           False)

    def scenario_messages(self, scenario_id: str, messages: Sequence[Message]) -> list[Message]:
        """A scenario's system message, then `messages`.

        Raises:
            UsageError: this tenant has no scenario of that id (precompute it first).
        """
        scenario = self.states.scenario(self.tenant, scenario_id)
        if scenario is None:
            raise UsageError(f"tenant {self.tenant!r} has no scenario {scenario_id!r}; precompute() it first")
        return [Message.system(scenario.system_text), *messages]

    def complete_scenario(self, scenario_id: str, messages: Sequence[Message],
                          max_output_tokens: int | None = None, options: ChatOptions | None = None) -> Completion:
        """Answer `messages` in a precomputed scenario (its state restored, only `messages` evaluated)."""
        return self.complete(self.scenario_messages(scenario_id, messages), max_output_tokens, options)

    def stream_scenario(self, scenario_id: str, messages: Sequence[Message], max_output_tokens: int | None = None,
                        options: ChatOptions | None = None) -> Iterator[str | Completion]:
        """`stream` in a precomputed scenario."""
        return self.stream(self.scenario_messages(scenario_id, messages), max_output_tokens, options)

    def _resume(self) -> _Resume:
        return _Resume(self, self.model._engine.fingerprint())

    def __repr__(self) -> str:
        return f"KVCachedModel({self.model!r}, {self.states!r}, tenant={self.tenant!r})"


class _Resume:
    """One call's use of the saved states (the PrefixStates the local model's generation calls back)."""

    def __init__(self, owner: KVCachedModel, fingerprint: str) -> None:
        self.owner, self.fingerprint = owner, fingerprint
        self.saved = 0  # the longest prefix of this prompt a saved state holds

    def restore(self, engine: _Engine, prompt: Sequence[int], kept: int) -> int:
        """Resume the prompt's cached part (all but its last token) from the best saved state."""
        return self.resume(engine, prompt[:-1], kept, prompt_tokens=len(prompt))

    def resume(self, engine: _Engine, tokens: Sequence[int], kept: int, *, prompt_tokens: int) -> int:
        """Restore the tenant's saved state sharing the longest prefix with `tokens` when it beats `kept`;
        the tokens now cached."""
        owner, started = self.owner, time.perf_counter()
        try:
            found = owner.states.find(owner.tenant, self.fingerprint, tokens)
        except StoreError as exc:  # the index cannot be read: evaluate the prompt, as without a cache
            warnings.warn(f"the KV state cache was not consulted: {exc}", RuntimeWarning, stacklevel=2)
            found = None
        self.saved = found.common_tokens if found else 0
        if found is None or found.common_tokens < kept + owner.min_reuse_tokens:
            self._report(False, started, 0)
            return kept
        state = owner.states.load(found.entry)
        if state is not None and engine.restore_state(state.tokens, state.data, found.common_tokens,
                                                      prompt_tokens=prompt_tokens):
            self._report(True, started, found.common_tokens)
            return found.common_tokens
        if state is not None:  # llama.cpp refused bytes that passed every check of ours
            owner.states.remove(found.entry)
            kept = 0
        self.saved = 0
        self._report(False, started, 0)
        return kept

    def save(self, engine: _Engine, prompt: Sequence[int], kept: int) -> None:
        """Save the prompt's prefix (all but its last token) when enough of it is in no saved state."""
        owner, n_tokens = self.owner, len(prompt) - 1
        if n_tokens < HEAD_TOKENS or n_tokens - self.saved < owner.save_min_new_tokens:
            return
        try:
            owner.states.save(owner.tenant, self.fingerprint, prompt[:n_tokens], engine.save_state(n_tokens))
        except StoreError as exc:  # the answer stands; the next call evaluates the prefix again
            warnings.warn(f"the KV state was not saved: {exc}", RuntimeWarning, stacklevel=2)

    def _report(self, hit: bool, started: float, tokens: int) -> None:
        self.owner.states.count(hit)
        if _bus.subscribers:  # observe: the CacheLookup event
            emit_cache_lookup(cache="kv", hit=hit, tier="prefix", latency_s=time.perf_counter() - started,
                              saved_tokens=tokens, model=self.owner.name)


def _scenario(scenario_id: str, system: str, common_context: str) -> Scenario:
    if not isinstance(scenario_id, str) or not scenario_id.strip():
        raise UsageError("scenario_id must be a non-empty string")
    if not isinstance(system, str) or not isinstance(common_context, str):
        raise UsageError("system and common_context must be strings")
    return Scenario(scenario_id, system, common_context)
