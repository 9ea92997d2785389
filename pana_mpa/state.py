"""The RFC 5609 PaC and PAA state machines as data: one transition table per role.

Each row maps (state, input) to (action, next state). The session code looks a row up and runs
the action; an action may return a follow-up input (the local EAP layer's answer, e.g.
EAP_RESPONSE), which is looked up in the next state. A missing row means "discard silently"
(RFC 5191 s5.5) for a received message, and a usage error for a local request. The "ANY" rows of
RFC 5609 s4.5 are expanded per state.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Final

__all__ = ["PAA_TABLE", "PAC_TABLE", "Action", "Input", "PaaState", "PacState", "render_markdown"]


class _FastEnum(Enum):
    """An Enum hashed by identity: table lookups stay in C (members are singletons)."""

    __hash__ = object.__hash__


class PacState(_FastEnum):
    """PaC states (RFC 5609 s5)."""

    INITIAL = "INITIAL"
    WAIT_PAA = "WAIT_PAA"
    WAIT_EAP_MSG = "WAIT_EAP_MSG"
    WAIT_EAP_RESULT = "WAIT_EAP_RESULT"
    WAIT_EAP_RESULT_CLOSE = "WAIT_EAP_RESULT_CLOSE"
    OPEN = "OPEN"
    WAIT_PNA_REAUTH = "WAIT_PNA_REAUTH"
    WAIT_PNA_PING = "WAIT_PNA_PING"
    SESS_TERM = "SESS_TERM"
    CLOSED = "CLOSED"


class PaaState(_FastEnum):
    """PAA states (RFC 5609 s6)."""

    INITIAL = "INITIAL"
    WAIT_EAP_MSG = "WAIT_EAP_MSG"
    WAIT_PAN_OR_PAR = "WAIT_PAN_OR_PAR"
    WAIT_SUCC_PAN = "WAIT_SUCC_PAN"
    WAIT_FAIL_PAN = "WAIT_FAIL_PAN"
    OPEN = "OPEN"
    WAIT_PNA_PING = "WAIT_PNA_PING"
    SESS_TERM = "SESS_TERM"
    CLOSED = "CLOSED"


class Input(_FastEnum):
    """Events of RFC 5609 s4.4 with their conditions folded in (e.g. Rx:PAR[S] with EAP-Payload)."""

    # local requests
    START = "AUTH_USER / PAC_FOUND"
    START_OPTIMIZED = "PAC_FOUND with OPTIMIZED_INIT"
    PING = "PANA_PING"
    REAUTH = "REAUTH"
    TERMINATE = "TERMINATE"
    # timers
    RTX_TIMEOUT = "RTX_TIMEOUT, RTX_COUNTER < RTX_MAX_NUM"
    RTX_EXHAUSTED = "RTX_TIMEOUT, RTX_COUNTER >= RTX_MAX_NUM"
    SESS_TIMEOUT = "SESS_TIMEOUT"
    # received messages
    RX_PAR_START = "Rx:PAR[S] without EAP-Payload"
    RX_PAR_START_EAP = "Rx:PAR[S] with EAP-Payload"
    RX_PAR = "Rx:PAR"
    RX_PAR_COMPLETE_SUCCESS = "Rx:PAR[C], Result-Code PANA_SUCCESS"
    RX_PAR_COMPLETE_FAIL = "Rx:PAR[C], Result-Code not PANA_SUCCESS"
    RX_PAN_START = "Rx:PAN[S] without EAP-Payload"
    RX_PAN_START_EMPTY_OPTIMIZED = "Rx:PAN[S] without EAP-Payload after an optimized PAR[S]"
    RX_PAN_START_EAP = "Rx:PAN[S] with EAP-Payload"
    RX_PAN = "Rx:PAN without EAP-Payload"
    RX_PAN_EAP = "Rx:PAN with EAP-Payload"
    RX_PAN_COMPLETE = "Rx:PAN[C]"
    RX_PNR_PING = "Rx:PNR[P]"
    RX_PNR_REAUTH = "Rx:PNR[A]"
    RX_PNA_PING = "Rx:PNA[P]"
    RX_PNA_REAUTH = "Rx:PNA[A]"
    RX_PTR = "Rx:PTR"
    RX_PTA = "Rx:PTA"
    # answers of the local EAP peer / authenticator
    EAP_REQUEST = "EAP_REQUEST"
    EAP_RESPONSE = "EAP_RESPONSE"
    EAP_SUCCESS = "EAP_SUCCESS (and Authorize())"
    EAP_SUCCESS_UNAUTHORIZED = "EAP_SUCCESS and not Authorize()"
    EAP_FAILURE = "EAP_FAILURE"
    EAP_DISCARD = "EAP_DISCARD / EAP_TIMEOUT"


class Action(Enum):
    """What a row does; each names one method of the session (``_a_<value>``)."""

    NONE = "none"
    RETRANSMIT = "retransmit"
    DISCONNECT_RTX = "disconnect_rtx"
    DISCONNECT_TIMEOUT = "disconnect_timeout"
    SEND_PNA_PING = "send_pna_ping"
    SEND_PNR_PING = "send_pnr_ping"
    PING_ANSWERED = "ping_answered"
    SEND_PTR = "send_ptr"
    SEND_PTA_DISCONNECT = "send_pta_disconnect"
    DISCONNECT_TERMINATED = "disconnect_terminated"
    DISCONNECT_EAP = "disconnect_eap"
    # PaC
    SEND_PCI = "send_pci"
    SEND_PAN_START = "send_pan_start"
    FORWARD_EAP_START = "forward_eap_start"
    SEND_PAN_START_EAP = "send_pan_start_eap"
    FORWARD_EAP = "forward_eap"
    SEND_PAN_EAP = "send_pan_eap"
    SEND_PAN_DISCONNECT = "send_pan_disconnect"
    FORWARD_EAP_RESULT = "forward_eap_result"
    SEND_PAN_COMPLETE_OPEN = "send_pan_complete_open"
    SEND_PAN_COMPLETE_CLOSE = "send_pan_complete_close"
    SEND_PNR_REAUTH = "send_pnr_reauth"
    REAUTH_ACCEPTED = "reauth_accepted"
    FORWARD_EAP_REAUTH = "forward_eap_reauth"
    # PAA
    SEND_PAR_START = "send_par_start"
    EAP_START = "eap_start"
    SEND_PAR_START_EAP = "send_par_start_eap"
    ACCEPT_PAN_START = "accept_pan_start"
    ACCEPT_PAN_START_EAP = "accept_pan_start_eap"
    ACCEPT_PAN_START_EMPTY = "accept_pan_start_empty"
    SEND_PAR_EAP = "send_par_eap"
    SEND_PAR_COMPLETE_SUCCESS = "send_par_complete_success"
    SEND_PAR_COMPLETE_REJECT = "send_par_complete_reject"
    SEND_PAR_COMPLETE_FAIL = "send_par_complete_fail"
    OPEN_SESSION = "open_session"
    DISCONNECT_REJECTED = "disconnect_rejected"
    SEND_PNA_REAUTH = "send_pna_reauth"
    EAP_RESTART_REAUTH = "eap_restart_reauth"
    SEND_PAN_FORWARD_EAP = "send_pan_forward_eap"


_PAC_ROWS: dict[tuple[PacState, Input], tuple[Action, PacState]] = {
    # RFC 5609 s5.5 (INITIAL); this PaC always piggybacks its EAP response (the EAP peer answers
    # synchronously), so the "no piggyback" rows are not reachable and left out.
    (PacState.INITIAL, Input.START): (Action.SEND_PCI, PacState.INITIAL),
    (PacState.INITIAL, Input.RX_PAR_START): (Action.SEND_PAN_START, PacState.WAIT_PAA),
    (PacState.INITIAL, Input.RX_PAR_START_EAP): (Action.FORWARD_EAP_START, PacState.INITIAL),
    (PacState.INITIAL, Input.EAP_RESPONSE): (Action.SEND_PAN_START_EAP, PacState.WAIT_PAA),
    # s5.6 WAIT_PAA
    (PacState.WAIT_PAA, Input.RX_PAR): (Action.FORWARD_EAP, PacState.WAIT_EAP_MSG),
    (PacState.WAIT_PAA, Input.RX_PAN): (Action.NONE, PacState.WAIT_PAA),
    (PacState.WAIT_PAA, Input.RX_PAR_COMPLETE_SUCCESS): (
        Action.FORWARD_EAP_RESULT,
        PacState.WAIT_EAP_RESULT,
    ),
    (PacState.WAIT_PAA, Input.RX_PAR_COMPLETE_FAIL): (
        Action.FORWARD_EAP_RESULT,
        PacState.WAIT_EAP_RESULT_CLOSE,
    ),
    # s5.6 WAIT_EAP_MSG
    (PacState.WAIT_EAP_MSG, Input.EAP_RESPONSE): (Action.SEND_PAN_EAP, PacState.WAIT_PAA),
    (PacState.WAIT_EAP_MSG, Input.EAP_DISCARD): (Action.SEND_PAN_DISCONNECT, PacState.CLOSED),
    (PacState.WAIT_EAP_MSG, Input.EAP_FAILURE): (Action.DISCONNECT_EAP, PacState.CLOSED),
    # s5.6 WAIT_EAP_RESULT, WAIT_EAP_RESULT_CLOSE
    (PacState.WAIT_EAP_RESULT, Input.EAP_SUCCESS): (Action.SEND_PAN_COMPLETE_OPEN, PacState.OPEN),
    (PacState.WAIT_EAP_RESULT, Input.EAP_FAILURE): (
        Action.SEND_PAN_COMPLETE_CLOSE,
        PacState.CLOSED,
    ),
    (PacState.WAIT_EAP_RESULT_CLOSE, Input.EAP_SUCCESS): (
        Action.SEND_PAN_COMPLETE_CLOSE,
        PacState.CLOSED,
    ),
    (PacState.WAIT_EAP_RESULT_CLOSE, Input.EAP_FAILURE): (
        Action.SEND_PAN_COMPLETE_CLOSE,
        PacState.CLOSED,
    ),
    # s5.7 OPEN
    (PacState.OPEN, Input.PING): (Action.SEND_PNR_PING, PacState.WAIT_PNA_PING),
    (PacState.OPEN, Input.REAUTH): (Action.SEND_PNR_REAUTH, PacState.WAIT_PNA_REAUTH),
    (PacState.OPEN, Input.RX_PAR): (Action.FORWARD_EAP_REAUTH, PacState.WAIT_EAP_MSG),
    (PacState.OPEN, Input.RX_PTR): (Action.SEND_PTA_DISCONNECT, PacState.CLOSED),
    (PacState.OPEN, Input.TERMINATE): (Action.SEND_PTR, PacState.SESS_TERM),
    # s5.8 WAIT_PNA_REAUTH, WAIT_PNA_PING
    (PacState.WAIT_PNA_REAUTH, Input.RX_PNA_REAUTH): (Action.REAUTH_ACCEPTED, PacState.WAIT_PAA),
    (PacState.WAIT_PNA_REAUTH, Input.RX_PTR): (Action.SEND_PTA_DISCONNECT, PacState.CLOSED),
    (PacState.WAIT_PNA_PING, Input.RX_PNA_PING): (Action.PING_ANSWERED, PacState.OPEN),
    (PacState.WAIT_PNA_PING, Input.RX_PAR): (Action.FORWARD_EAP_REAUTH, PacState.WAIT_EAP_MSG),
    (PacState.WAIT_PNA_PING, Input.RX_PTR): (Action.SEND_PTA_DISCONNECT, PacState.CLOSED),
    # s5.9 SESS_TERM
    (PacState.SESS_TERM, Input.RX_PTA): (Action.DISCONNECT_TERMINATED, PacState.CLOSED),
}

_PAA_ROWS: dict[tuple[PaaState, Input], tuple[Action, PaaState]] = {
    # RFC 5609 s6.5 INITIAL
    (PaaState.INITIAL, Input.START): (Action.SEND_PAR_START, PaaState.INITIAL),
    (PaaState.INITIAL, Input.START_OPTIMIZED): (Action.EAP_START, PaaState.INITIAL),
    (PaaState.INITIAL, Input.EAP_REQUEST): (Action.SEND_PAR_START_EAP, PaaState.INITIAL),
    (PaaState.INITIAL, Input.RX_PAN_START): (Action.ACCEPT_PAN_START, PaaState.WAIT_EAP_MSG),
    (PaaState.INITIAL, Input.RX_PAN_START_EAP): (
        Action.ACCEPT_PAN_START_EAP,
        PaaState.WAIT_EAP_MSG,
    ),
    (PaaState.INITIAL, Input.RX_PAN_START_EMPTY_OPTIMIZED): (
        Action.ACCEPT_PAN_START_EMPTY,
        PaaState.WAIT_PAN_OR_PAR,
    ),
    (PaaState.INITIAL, Input.EAP_DISCARD): (Action.DISCONNECT_EAP, PaaState.CLOSED),
    (PaaState.INITIAL, Input.EAP_FAILURE): (Action.DISCONNECT_EAP, PaaState.CLOSED),
    # s6.6 WAIT_EAP_MSG
    (PaaState.WAIT_EAP_MSG, Input.EAP_REQUEST): (Action.SEND_PAR_EAP, PaaState.WAIT_PAN_OR_PAR),
    (PaaState.WAIT_EAP_MSG, Input.EAP_FAILURE): (
        Action.SEND_PAR_COMPLETE_FAIL,
        PaaState.WAIT_FAIL_PAN,
    ),
    (PaaState.WAIT_EAP_MSG, Input.EAP_SUCCESS): (
        Action.SEND_PAR_COMPLETE_SUCCESS,
        PaaState.WAIT_SUCC_PAN,
    ),
    (PaaState.WAIT_EAP_MSG, Input.EAP_SUCCESS_UNAUTHORIZED): (
        Action.SEND_PAR_COMPLETE_REJECT,
        PaaState.WAIT_FAIL_PAN,
    ),
    (PaaState.WAIT_EAP_MSG, Input.EAP_DISCARD): (Action.DISCONNECT_EAP, PaaState.CLOSED),
    # s6.6 WAIT_SUCC_PAN, WAIT_FAIL_PAN
    (PaaState.WAIT_SUCC_PAN, Input.RX_PAN_COMPLETE): (Action.OPEN_SESSION, PaaState.OPEN),
    (PaaState.WAIT_FAIL_PAN, Input.RX_PAN_COMPLETE): (
        Action.DISCONNECT_REJECTED,
        PaaState.CLOSED,
    ),
    # s6.7 OPEN
    (PaaState.OPEN, Input.RX_PNR_REAUTH): (Action.SEND_PNA_REAUTH, PaaState.WAIT_EAP_MSG),
    (PaaState.OPEN, Input.REAUTH): (Action.EAP_RESTART_REAUTH, PaaState.WAIT_EAP_MSG),
    (PaaState.OPEN, Input.PING): (Action.SEND_PNR_PING, PaaState.WAIT_PNA_PING),
    (PaaState.OPEN, Input.TERMINATE): (Action.SEND_PTR, PaaState.SESS_TERM),
    (PaaState.OPEN, Input.RX_PTR): (Action.SEND_PTA_DISCONNECT, PaaState.CLOSED),
    # s6.8 WAIT_PNA_PING
    (PaaState.WAIT_PNA_PING, Input.RX_PNA_PING): (Action.PING_ANSWERED, PaaState.OPEN),
    (PaaState.WAIT_PNA_PING, Input.RX_PNR_REAUTH): (
        Action.SEND_PNA_REAUTH,
        PaaState.WAIT_EAP_MSG,
    ),
    (PaaState.WAIT_PNA_PING, Input.RX_PTR): (Action.SEND_PTA_DISCONNECT, PaaState.CLOSED),
    # s6.9 WAIT_PAN_OR_PAR
    (PaaState.WAIT_PAN_OR_PAR, Input.RX_PAR): (Action.SEND_PAN_FORWARD_EAP, PaaState.WAIT_EAP_MSG),
    (PaaState.WAIT_PAN_OR_PAR, Input.RX_PAN_EAP): (Action.FORWARD_EAP, PaaState.WAIT_EAP_MSG),
    (PaaState.WAIT_PAN_OR_PAR, Input.RX_PAN): (Action.NONE, PaaState.WAIT_PAN_OR_PAR),
    (PaaState.WAIT_PAN_OR_PAR, Input.EAP_FAILURE): (Action.DISCONNECT_EAP, PaaState.CLOSED),
    (PaaState.WAIT_PAN_OR_PAR, Input.EAP_DISCARD): (Action.DISCONNECT_EAP, PaaState.CLOSED),
    # s6.10 SESS_TERM
    (PaaState.SESS_TERM, Input.RX_PTA): (Action.DISCONNECT_TERMINATED, PaaState.CLOSED),
}


def _with_common_rows(
    rows: dict[tuple[PacState, Input], tuple[Action, PacState]]
    | dict[tuple[PaaState, Input], tuple[Action, PaaState]],
    states: list[PacState] | list[PaaState],
    initial: PacState | PaaState,
    wait_ping: PacState | PaaState,
    closed: PacState | PaaState,
) -> None:
    """Add the "ANY" rows of RFC 5609 s4.5 for every state but CLOSED."""
    table: dict[object, object] = rows  # type: ignore[assignment]
    for state in states:
        if state is closed:
            continue  # CLOSED: every event is ignored (no row = discard)
        table[(state, Input.RTX_TIMEOUT)] = (Action.RETRANSMIT, state)
        table[(state, Input.RTX_EXHAUSTED)] = (Action.DISCONNECT_RTX, closed)
        table[(state, Input.SESS_TIMEOUT)] = (Action.DISCONNECT_TIMEOUT, closed)
        if state is not initial:
            table[(state, Input.RX_PNR_PING)] = (Action.SEND_PNA_PING, state)
        if state is not wait_ping:
            table[(state, Input.RX_PNA_PING)] = (Action.NONE, state)


_with_common_rows(
    _PAC_ROWS, list(PacState), PacState.INITIAL, PacState.WAIT_PNA_PING, PacState.CLOSED
)
_with_common_rows(
    _PAA_ROWS, list(PaaState), PaaState.INITIAL, PaaState.WAIT_PNA_PING, PaaState.CLOSED
)

PAC_TABLE: Final[Mapping[tuple[PacState, Input], tuple[Action, PacState]]] = _PAC_ROWS
"""PaC transitions (RFC 5609 s5), "ANY" rows expanded."""
PAA_TABLE: Final[Mapping[tuple[PaaState, Input], tuple[Action, PaaState]]] = _PAA_ROWS
"""PAA transitions (RFC 5609 s6), "ANY" rows expanded."""


def render_markdown(table: Mapping[tuple[PacState, Input], tuple[Action, PacState]]
                    | Mapping[tuple[PaaState, Input], tuple[Action, PaaState]]) -> str:  # fmt: skip
    """The table as a Markdown table (state, event, action, next state) for the docs."""
    lines = ["| State | Event | Action | Next state |", "|---|---|---|---|"]
    rows: list[tuple[str, str, str, str]] = [
        (state.name, inp.value, action.name, nxt.name)
        for (state, inp), (action, nxt) in table.items()
    ]
    lines += [f"| {s} | {e} | {a} | {n} |" for s, e, a, n in rows]
    return "\n".join(lines) + "\n"
