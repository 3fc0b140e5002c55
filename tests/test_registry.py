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
