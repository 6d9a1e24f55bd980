"""Turning a client library's transport failure into a message a person can act on.

requests, urllib3 and httpx each wrap the socket error in their own exceptions; the
cause chain still holds the `ConnectionRefusedError` or timeout underneath. Messages
name host:port (from the configured URL: never a query string or a credential) and
what happened, instead of a bare `ConnectionError`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from connectors.base import TrackerError, Unreachable

_DEFAULT_PORTS = {"http": 80, "https": 443}


def address_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{parts.hostname or '?'}:{port}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: causes, contexts, urllib3's `reason`."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        node = todo.pop()
        if not isinstance(node, BaseException) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        todo.extend([node.__cause__, node.__context__, getattr(node, "reason", None)])
        todo.extend(node.args)


def _is_connect_timeout(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"ConnectTimeout", "ConnectTimeoutError"})


def transport_error(where: str, url: str, exc: BaseException, timeout: float) -> TrackerError:
    """`where` ("jira search") failed without an HTTP answer: refused, unresolvable,
    a connect timeout (all `Unreachable`: nothing was sent), or a read timeout or a
    dropped connection (a plain retryable `TrackerError`)."""
    address = address_of(url)
    chain = list(_chain(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Unreachable(
            f"{where}: cannot connect to {address}: connection refused (is the service"
            " running, and is the url in the config right?)",
            address=address,
            refused=True,
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return Unreachable(
            f"{where}: cannot resolve the host of {address} (check the url in the config)",
            address=address,
            refused=True,
        )
    if _is_connect_timeout(exc):
        return Unreachable(
            f"{where}: no connection to {address} within {timeout:g} s (connect timeout)",
            address=address,
            refused=False,
        )
    if any(isinstance(e, TimeoutError) for e in chain) or "Timeout" in type(exc).__name__:
        return TrackerError(f"{where}: {address} sent no answer within {timeout:g} s")
    return TrackerError(f"{where}: connection to {address} failed ({type(exc).__name__})")
