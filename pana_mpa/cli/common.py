"""What every subcommand shares: the user-facing error, addresses, output lines, the run loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from enum import IntEnum
from pathlib import Path
from typing import IO, Any

from pana_codecs.avps import IntegrityAlgorithm, PrfAlgorithm, ResultCode, TerminationCause

from ..address import PANA_PORT, Address, format_address, parse_address
from ..aio.loop import new_event_loop
from ..flow import FlowTrace, field_value

__all__ = [
    "CliError",
    "address",
    "enum_name",
    "event_text",
    "read_lines",
    "resolve",
    "run_main",
    "say",
    "trace_file",
]

logger = logging.getLogger(__name__)


class CliError(Exception):
    """A one-line message for the user; the command exits non-zero without a traceback."""


def address(text: str, what: str, *, default_port: int = PANA_PORT) -> Address:
    """An IP literal address (``HOST[:PORT]``, ``[V6]:PORT``, ``:PORT``) or a CliError."""
    try:
        return parse_address(text, default_port=default_port)
    except ValueError as exc:
        raise CliError(f"{what}: {exc}") from None


def resolve(text: str, what: str, *, default_port: int = PANA_PORT) -> Address:
    """HOST:PORT with HOST a literal or a name (resolved once, before any I/O loop runs)."""
    with contextlib.suppress(CliError):
        return address(text, what, default_port=default_port)
    host, _, port_text = text.rpartition(":")
    if not host:
        host, port_text = port_text, str(default_port)
    if not port_text.isdigit() or int(port_text) > 65535:
        raise CliError(f"{what}: bad port in {text!r}")
    try:
        infos = socket.getaddrinfo(host, int(port_text), type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise CliError(f"{what}: cannot resolve {host!r}: {exc.strerror or exc}") from None
    sockaddr = infos[0][4]
    return (str(sockaddr[0]), int(sockaddr[1]))


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of a text file, or a CliError naming the option and the reason."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"{what}: cannot read {path}: {reason}") from None


@contextlib.contextmanager
def trace_file(path: Path | None, role: str) -> Iterator[FlowTrace | None]:
    """A FlowTrace writing to ``path`` (``-``: standard output), or None without a path.

    The wall-clock reference of the trace (docs/trace-format.md) is read here, with the running
    event loop's clock (the sessions' ``now``) at the same instant; outside a loop the origin
    is the monotonic clock, which is what asyncio's loop uses.
    """
    if path is None:
        yield None
        return
    reference, origin = time.time(), _loop_clock()
    if str(path) == "-":
        yield FlowTrace(sys.stdout, role=role, reference_time=reference, origin=origin)
        return
    try:
        stream: IO[str] = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--trace: cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield FlowTrace(stream, role=role, reference_time=reference, origin=origin)


def _loop_clock() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def say(stream: IO[str], text: str) -> None:
    """One line for the user, flushed at once (the output may be a pipe)."""
    stream.write(text + "\n")
    stream.flush()


def enum_name(enum: type[IntEnum], value: Any) -> str:
    """The enum member's name, or the number when the value is not a member."""
    try:
        return enum(value).name
    except ValueError:
        return str(value)


_CODE_NAMES: dict[type[IntEnum], dict[int, str]] = {
    enum: {int(member): member.name for member in enum}
    for enum in (PrfAlgorithm, IntegrityAlgorithm, ResultCode, TerminationCause)
}


def _code_name(enum: type[IntEnum], raw: Any) -> str:
    """enum_name() with the defined members looked up in a table (the log's common case)."""
    if isinstance(raw, int):
        name = _CODE_NAMES[enum].get(raw)
        if name is not None:
            return name
    return enum_name(enum, raw)


def _plain_text(key: str, raw: Any) -> str | None:
    value = field_value(raw)
    if isinstance(value, dict):  # identities and other octet strings stay out
        return None
    return f"{key.replace('_', ' ')} {value}"


def _address_text(key: str, raw: Any) -> str | None:
    if isinstance(raw, tuple) and len(raw) == 2:
        return f"{key} {format_address((str(raw[0]), int(raw[1])))}"
    return _plain_text(key, raw)


def _msk_text(key: str, raw: Any) -> str | None:
    value = field_value(raw)
    if isinstance(value, dict):
        return f"MSK {value.get('secret_octets')} octets"
    return f"msk {value}"


_FieldText = Callable[[str, Any], "str | None"]
_FIELD_TEXT: dict[str, _FieldText] = {
    "session_id": lambda _, raw: f"session 0x{raw:08x}",
    "lifetime": lambda _, raw: f"lifetime {raw:g} s",
    "round_trip": lambda _, raw: f"round trip {raw * 1000:.1f} ms",
    "prf_algorithm": lambda _, raw: _code_name(PrfAlgorithm, raw),
    "integrity_algorithm": lambda _, raw: _code_name(IntegrityAlgorithm, raw),
    "result_code": lambda _, raw: f"Result-Code {_code_name(ResultCode, raw)}",
    "cause": lambda _, raw: f"Termination-Cause {_code_name(TerminationCause, raw)}",
    "by_peer": lambda _, raw: "by the peer" if raw else "by us",
    "peer": _address_text,
    "old": _address_text,
    "new": _address_text,
    "msk": _msk_text,
}
"""How event_text shows a field, by name; any other field: its name and JSON-safe value."""

_PLANS: dict[type, tuple[tuple[str, _FieldText], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, _FieldText], ...]:
    """The fields event_text shows for an event class and how, found once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        names = [f.name for f in dataclasses.fields(cls) if f.name != "event"]
        plan = _PLANS[cls] = tuple((name, _FIELD_TEXT.get(name, _plain_text)) for name in names)
    return plan


def event_text(event: object) -> str:
    """An event's fields for the user: names for codes, never keys or identities."""
    cls = type(event)
    if not dataclasses.is_dataclass(cls):
        return ""
    parts = []
    for key, text_of in _plan(cls):
        raw = getattr(event, key, None)
        if raw is not None and (text := text_of(key, raw)) is not None:
            parts.append(text)
    return ", ".join(parts)


def run_main(main: Callable[[], Awaitable[int]], prog: str) -> int:
    """Run ``main()``; SIGINT and SIGTERM end it in order (the PaC sends its PTR first).

    SIGTERM is the normal way to stop a service: the exit status is then 0, not 143.
    """

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        stopped: list[bool] = []

        def on_sigterm() -> None:
            stopped.append(True)
            task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            return await main()
        except asyncio.CancelledError:
            if stopped:
                return 0
            raise

    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop when installed
            return runner.run(guarded())
    except CliError as exc:
        sys.stderr.write(f"{prog}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with -vv
        logger.debug("internal error", exc_info=True)
        sys.stderr.write(f"{prog}: internal error: {type(exc).__name__}: {exc} (-vv: details)\n")
        return 70  # EX_SOFTWARE
