"""The registry: strings resolve through built-ins and plugins alike; unknown providers suggest names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from contextwise.errors import UnknownBackendError, UsageError
from contextwise.registry import providers, register, resolve


def test_registry_objects_pass_through_and_strings_resolve():
    marker = object()
    assert resolve("embedder", marker) is marker
    register("embedder", "test-upper", lambda name: name.upper())
    assert resolve("embedder", "test-upper:abc") == "ABC"


def test_registry_builtins_resolve_without_importing_their_package_first():
    code = ("from contextwise.registry import resolve; print(resolve('embedder', 'hash:16').dimensions, "
            "type(resolve('store', 'memory:')).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["16", "InMemoryStore"]


def test_registry_unknown_provider_suggests_the_nearest():
    with pytest.raises(UnknownBackendError) as info:
        resolve("embedder", "onxx:all-minilm-l6-v2")
    assert "onnx" in info.value.suggestions
    assert "onnx" in providers("embedder")
    with pytest.raises(UsageError):
        register("not-a-kind", "x", lambda name: name)


def test_registry_a_duplicate_registration_raises_unless_replace():
    register("embedder", "test-dup", lambda name: "first")
    with pytest.raises(UsageError, match="replace=True"):
        register("embedder", "test-dup", lambda name: "second")
    register("embedder", "test-dup", lambda name: "second", replace=True)
    assert resolve("embedder", "test-dup:x") == "second"


def test_registry_a_builtin_name_is_taken_until_replace():
    with pytest.raises(UsageError, match="already registered"):
        register("compressor", "auto", lambda name: name)


def test_registry_a_users_registration_survives_the_builtins_loading():
    # in a fresh process, so the embedder package has not been imported yet
    code = ("import contextwise as cw\n"
            "cw.register('embedder', 'onnx', lambda name: 'mine:' + name, replace=True)\n"
            "import contextwise.embed\n"
            "print(cw.resolve('embedder', 'onnx:all-minilm-l6-v2'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "mine:all-minilm-l6-v2"


@pytest.mark.parametrize("spec, match", [(None, "no embedder given"), ("  ", "empty string")],
                         ids=["none", "blank"])
def test_registry_resolve_refuses_no_spec(spec, match):
    with pytest.raises(UsageError, match=match):
        resolve("embedder", spec)


@pytest.mark.parametrize("provider", ["", "a:b", None], ids=["empty", "colon", "none"])
def test_registry_register_refuses_bad_provider_names(provider):
    with pytest.raises(UsageError):
        register("embedder", provider, lambda name: name)  # type: ignore[arg-type]


def test_registry_builtins_are_known_before_their_package_is_imported():
    code = ("import sys, contextwise.registry as r; print(sorted(r.providers('compressor')), "
            "'contextwise.compress' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['auto', 'extractive', 'pruning', 'summarize', 'truncate'] False"
