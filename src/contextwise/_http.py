"""The only code that talks HTTP: a sync and an async transport, identical but for `await`.

Each posts an HttpRequest and returns parsed JSON, or opens a server-sent-event stream; provider errors,
connection errors and timeouts leave here already mapped to the contextwise error tree.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar
from collections.abc import AsyncIterator, Callable, Iterator

from contextwise.errors import MissingDependencyError, ProviderError, UnavailableError, UsageError
from contextwise._wire import HttpRequest, Retry, ServerEvent, SSEDecoder, error_from_response, request_bytes

T = TypeVar("T")


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise MissingDependencyError("the HTTP clients (chat and embeddings)", "http") from exc
    return httpx


def _transport_error(exc: Exception, *, backend: str, timeout_s: float) -> Exception:
    httpx = _httpx()
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return UsageError(f"{backend}: bad base_url ({exc}); give a full http:// or https:// URL")
    if isinstance(exc, httpx.TimeoutException):
        return UnavailableError(f"no answer within {timeout_s} s ({type(exc).__name__}); retry later or raise "
                                f"timeout_s", backend=backend)
    if isinstance(exc, httpx.TransportError):
        return UnavailableError(f"could not reach the provider: {type(exc).__name__}: {exc}", backend=backend)
    return ProviderError(f"HTTP failure: {type(exc).__name__}: {exc}", backend=backend)


def _json_of(response: Any, backend: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(f"answer is not JSON: {response.text[:200]!r}", backend=backend,
                            status_code=response.status_code) from exc


class _Transport:
    """What both transports share: settings, and the error a non-2xx answer becomes."""

    def __init__(self, *, backend: str, timeout_s: float, retry: Retry | None, client: Any) -> None:
        self.backend = backend
        self.timeout_s = timeout_s
        self.retry = retry
        self._owns_client = client is None
        self._client = client if client is not None else self._new_client(_httpx())

    def _new_client(self, httpx: Any) -> Any:
        raise NotImplementedError

    def _failed(self, response: Any, body: bytes) -> ProviderError:
        return error_from_response(response.status_code, response.headers, body, backend=self.backend)

    def _wait_s(self, retry_number: int, error: ProviderError) -> float | None:
        return self.retry.delay_s(retry_number, error) if self.retry else None


class SyncTransport(_Transport):
    """Blocking HTTP through one pooled httpx.Client."""

    def _new_client(self, httpx: Any) -> Any:
        return httpx.Client(timeout=self.timeout_s)

    def _http(self) -> Any:
        if self._client is None:
            self._client = self._new_client(_httpx())
        return self._client

    def post_json(self, request: HttpRequest) -> Any:
        """POST the request and return the JSON answer, retrying as `retry` allows."""
        return self._retrying(lambda: self._post_once(request))

    def stream_events(self, request: HttpRequest) -> Iterator[ServerEvent]:
        """POST the request and yield the server-sent events of the answer."""
        response = self._retrying(lambda: self._open(request))
        decoder = SSEDecoder()
        try:
            for line in response.iter_lines():
                yield from decoder.feed(line)
            yield from decoder.flush()
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        finally:
            response.close()

    def close(self) -> None:
        """Close the connection pool, if this transport opened it."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def _post_once(self, request: HttpRequest) -> Any:
        try:
            content, headers = request_bytes(request)
            response = self._http().post(request.url, content=content, headers=headers)
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        if response.status_code >= 400:
            raise self._failed(response, response.content)
        return _json_of(response, self.backend)

    def _open(self, request: HttpRequest) -> Any:
        http = self._http()
        try:
            content, headers = request_bytes(request)
            response = http.send(http.build_request("POST", request.url, content=content, headers=headers),
                                 stream=True)
            if response.status_code >= 400:
                body = response.read()
                response.close()
                raise self._failed(response, body)
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        return response

    def _retrying(self, attempt: Callable[[], T]) -> T:
        retry_number = 0
        while True:
            try:
                return attempt()
            except ProviderError as exc:
                retry_number += 1
                wait_s = self._wait_s(retry_number, exc)
                if wait_s is None:
                    raise
                time.sleep(wait_s)


class AsyncTransport(_Transport):
    """Non-blocking HTTP through one pooled httpx.AsyncClient (works under asyncio and trio)."""

    def _new_client(self, httpx: Any) -> Any:
        return httpx.AsyncClient(timeout=self.timeout_s)

    def _http(self) -> Any:
        if self._client is None:
            self._client = self._new_client(_httpx())
        return self._client

    async def post_json(self, request: HttpRequest) -> Any:
        """POST the request and return the JSON answer, retrying as `retry` allows."""
        return await self._retrying(lambda: self._post_once(request))

    async def stream_events(self, request: HttpRequest) -> AsyncIterator[ServerEvent]:
        """POST the request and yield the server-sent events of the answer."""
        response = await self._retrying(lambda: self._open(request))
        decoder = SSEDecoder()
        try:
            async for line in response.aiter_lines():
                for event in decoder.feed(line):
                    yield event
            for event in decoder.flush():
                yield event
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the connection pool, if this transport opened it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post_once(self, request: HttpRequest) -> Any:
        try:
            content, headers = request_bytes(request)
            response = await self._http().post(request.url, content=content, headers=headers)
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        if response.status_code >= 400:
            raise self._failed(response, response.content)
        return _json_of(response, self.backend)

    async def _open(self, request: HttpRequest) -> Any:
        http = self._http()
        try:
            content, headers = request_bytes(request)
            response = await http.send(http.build_request("POST", request.url, content=content, headers=headers),
                                       stream=True)
            if response.status_code >= 400:
                body = await response.aread()
                await response.aclose()
                raise self._failed(response, body)
        except _httpx().HTTPError as exc:
            raise _transport_error(exc, backend=self.backend, timeout_s=self.timeout_s) from exc
        return response

    async def _retrying(self, attempt: Callable[[], Any]) -> Any:
        import anyio  # httpx depends on it; its sleep works under asyncio and trio alike

        retry_number = 0
        while True:
            try:
                return await attempt()
            except ProviderError as exc:
                retry_number += 1
                wait_s = self._wait_s(retry_number, exc)
                if wait_s is None:
                    raise
                await anyio.sleep(wait_s)
