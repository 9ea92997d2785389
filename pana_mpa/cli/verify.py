"""``pana-mpa decode --verify``: check the AUTH AVPs of a captured PANA session.

A passive observer with the peer's PSK recomputes what both ends computed (RFC 5191 s5.3):
the MSK of each EAP-PSK run (RFC 4764 s3.3, via ``eap.methods.psk.observe_all``), of each
EAP-TLS run with RSA key exchange given the server's key (RFC 5216 s2.3, ``eap.tlsprf``), or
MSKs given in the order of the runs, then
PANA_AUTH_KEY = prf+(MSK, "IETF PANA" | I_PAR | I_PAN | PaC_nonce | PAA_nonce | Key_ID) at the
PAR[C] that completes the (re-)authentication, and AUTH over every later message (s5.4).

Verdicts, one per datagram (``None`` when it carries no AUTH AVP):
``ok`` (current key), ``previous-key`` (only the key before the last PAR[C] matches: CPANA keeps
its old key), ``fail``, and ``no-key`` (nothing to check against: no EAP-PSK run verified with
the PSK, or the session's PAR[S]/PAN[S] or nonces were not captured).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from eap.keys import Secret
from eap.methods.psk import PskError, observe_all
from eap.tlsprf import TlsOfflineError, eap_tls_handshakes, rsa_eap_tls_keys
from pana_codecs import AvpCode, MessageFlags, MessageType, PanaMessage
from pana_codecs.avps import avp_u32

from .. import crypto
from .decode import DecodedDatagram

__all__ = ["AuthVerifier", "Verdict"]

logger = logging.getLogger(__name__)


class Verdict:
    """The values of the ``auth`` field (issue 4: verified | failed | absent | unverifiable)."""

    VERIFIED = "verified"
    FAILED = "failed"
    ABSENT = "absent"
    """The message carries no AUTH AVP."""
    UNVERIFIABLE = "unverifiable"
    """No PANA_AUTH_KEY could be derived (no MSK for that run, or PAR[S]/nonces not captured)."""


QUIRK_LABELS: dict[bytes, str] = {
    b"IETF": "CPANA's truncated key label 'IETF' (32-bit builds) instead of 'IETF PANA'",
    b"IETF PAN": "CPANA's truncated key label 'IETF PAN' (64-bit builds) instead of 'IETF PANA'",
}
"""Known deviations of the PANA_AUTH_KEY label in deployed stacks (../shared/pcaps/README.md)."""
PREVIOUS_KEY_NOTE = (
    "signed with the previous PANA_AUTH_KEY: the peer kept its old key after re-authentication"
)


@dataclass
class _Session:
    """What the observer has learnt about one PANA session (mutable, private)."""

    i_par: bytes | None = None
    i_pan: bytes | None = None
    prf_alg: int | None = None
    integrity_alg: int | None = None
    pac_nonce: bytes | None = None
    paa_nonce: bytes | None = None
    eap_packets: list[bytes] = field(default_factory=list)
    key: Secret | None = None
    previous_key: Secret | None = None
    quirk_keys: dict[bytes, tuple[Secret, Secret | None]] = field(default_factory=dict)
    """Keys under the known label deviations (current, previous), to name why a check fails."""
    key_id: int | None = None
    no_key: str = "no PAR[C] with Key-Id seen before this AUTH (the EAP run is not in the capture)"
    """Why the session has no key (yet): the note of an unverifiable verdict."""
    last_wire: dict[bool, bytes] = field(default_factory=dict)
    """The last request (True) and answer (False) seen, to skip retransmissions."""


def _u32(msg: PanaMessage, code: int) -> int | None:
    avp = msg.avp(code)
    if avp is None or len(avp.value) != 4:
        return None
    return avp_u32(avp)


class AuthVerifier:
    """An annotator for decode_datagrams(): adds an ``auth`` verdict per datagram."""

    def __init__(
        self,
        *,
        identity: bytes | None = None,
        psk: Secret | None = None,
        msks: Sequence[Secret] = (),
        tls_server_key: rsa.RSAPrivateKey | None = None,
        label: bytes = crypto.AUTH_LABEL,
        dialect: str = "rfc5191",
    ) -> None:
        """MSKs from EAP-PSK runs (``psk``), EAP-TLS RSA handshakes (the server's key), or given."""
        if sum((psk is not None, bool(msks), tls_server_key is not None)) != 1:
            raise ValueError("give one of: an EAP-PSK key, MSKs, the EAP-TLS server's RSA key")
        self._identity = identity
        self._psk = psk
        self._msks = list(msks)
        self._tls_key = tls_server_key
        self._label = label
        self._dialect = dialect
        self._sessions: dict[int, _Session] = {}
        self._runs = 0
        self._given = len(self._msks)
        self.counts: dict[str, int] = {}
        """How many datagrams got each verdict."""

    def __call__(self, decoded: DecodedDatagram) -> Mapping[str, object]:
        """The ``auth`` verdict for one datagram, in capture order."""
        msg = decoded.message
        if msg is None:
            return {"auth": None, "auth_note": None}  # undecodable: nothing to judge
        if msg.type == MessageType.PANA_CLIENT_INITIATION:
            return {"auth": Verdict.ABSENT, "auth_note": None}  # no session, no AUTH (s7.1)
        session = self._sessions.setdefault(msg.session_id, _Session())
        self._learn(session, msg, decoded.datagram.payload)
        if msg.avp(AvpCode.AUTH) is None:
            return {"auth": Verdict.ABSENT, "auth_note": None}
        verdict, note = self._check(session, msg, decoded.datagram.payload)
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        return {"auth": verdict, "auth_note": note}

    def _learn(self, s: _Session, msg: PanaMessage, wire: bytes) -> None:
        if s.last_wire.get(msg.is_request) == wire:
            return  # a retransmission (RFC 5191 s9) or its repeated answer: nothing new
        s.last_wire[msg.is_request] = wire
        is_auth = msg.type == MessageType.PANA_AUTH
        if is_auth and msg.has(MessageFlags.S):
            # I_PAR / I_PAN: the first PAR[S] and PAN[S] as on the wire (s5.3).
            if msg.is_request and s.i_par is None:
                s.i_par = wire
            elif not msg.is_request and s.i_pan is None:
                s.i_pan = wire
            prf = msg.all_avps(AvpCode.PRF_ALGORITHM)
            integ = msg.all_avps(AvpCode.INTEGRITY_ALGORITHM)
            # The PAN[S] carries the PaC's choice; a PAR[S] offering one of each decides too.
            if len(prf) == 1 and (not msg.is_request or s.prf_alg is None):
                s.prf_alg = _u32(msg, AvpCode.PRF_ALGORITHM)
            if len(integ) == 1 and (not msg.is_request or s.integrity_alg is None):
                s.integrity_alg = _u32(msg, AvpCode.INTEGRITY_ALGORITHM)
        nonce = msg.avp(AvpCode.NONCE)
        if is_auth and nonce is not None:
            if msg.is_request:
                s.paa_nonce = nonce.value
            else:
                s.pac_nonce = nonce.value
        eap = msg.avp(AvpCode.EAP_PAYLOAD)
        if is_auth and eap is not None:
            s.eap_packets.append(eap.value)
        key_id = _u32(msg, AvpCode.KEY_ID)
        if is_auth and msg.is_request and msg.has(MessageFlags.C) and key_id is not None:
            self._derive(s, key_id)

    def _derive(self, s: _Session, key_id: int) -> None:
        """At a PAR[C]: the MSK of the EAP run that just ended gives the new key (s5.3)."""
        packets, s.eap_packets = s.eap_packets, []
        if None in (s.i_par, s.i_pan, s.pac_nonce, s.paa_nonce, s.prf_alg, s.integrity_alg):
            self._lost_key(s, key_id, "the PAR[S]/PAN[S] or nonces of the session are not captured")
            return
        msk, why = self._next_msk(packets, key_id)
        if msk is None:
            self._lost_key(s, key_id, why)
            return
        assert s.i_par is not None and s.i_pan is not None  # checked above (for mypy)
        assert s.pac_nonce is not None and s.paa_nonce is not None
        assert s.prf_alg is not None and s.integrity_alg is not None

        def derive(label: bytes) -> Secret:
            assert s.i_par is not None and s.i_pan is not None
            assert s.pac_nonce is not None and s.paa_nonce is not None
            assert s.prf_alg is not None and s.integrity_alg is not None
            return crypto.pana_auth_key(
                s.prf_alg, s.integrity_alg, msk, i_par=s.i_par, i_pan=s.i_pan,
                pac_nonce=s.pac_nonce, paa_nonce=s.paa_nonce, key_id=key_id, label=label,
            )  # fmt: skip

        try:
            key = derive(self._label)
            quirks = {
                label: derive(label) for label in QUIRK_LABELS if self._label == crypto.AUTH_LABEL
            }
        except ValueError as exc:  # an algorithm crypto.py does not implement
            self._lost_key(s, key_id, f"cannot derive the key: {exc}")
            return
        s.previous_key, s.key, s.key_id = s.key, key, key_id
        s.quirk_keys = {
            label: (k, s.quirk_keys[label][0] if label in s.quirk_keys else None)
            for label, k in quirks.items()
        }

    @staticmethod
    def _lost_key(s: _Session, key_id: int, why: str) -> None:
        """No key for this Key-Id: AUTHs under it are unverifiable (the old key is kept aside)."""
        logger.debug("key %#x: %s", key_id, why)
        s.no_key = why
        if s.key is not None:
            s.previous_key, s.key = s.key, None
        s.key_id = key_id

    def _next_msk(self, packets: list[bytes], key_id: int) -> tuple[Secret | None, str]:
        """The MSK of the run that ended at this PAR[C] (given, EAP-TLS or EAP-PSK), or why not."""
        if self._tls_key is not None:
            return self._tls_msk(packets, self._tls_key)
        if self._psk is None:
            self._runs += 1
            if not self._msks:
                return None, f"no MSK for EAP run {self._runs} (--msk-hex gave {self._given})"
            return self._msks.pop(0), ""
        try:
            runs = observe_all(packets, self._psk)
        except PskError as exc:
            return None, f"the EAP-PSK run is not usable: {exc}"
        if not runs:
            return None, "no EAP-PSK run in this (re-)authentication (another EAP method?)"
        mine = [r for r in runs if self._identity is None or r.id_p == self._identity]
        if not mine:
            return None, "the EAP-PSK run is of another identity than --identity"
        keys = [r.keys for r in mine if r.keys is not None]
        if not keys:
            return None, "the EAP-PSK run does not verify with this secret (wrong --secret?)"
        return keys[-1].msk, ""

    def _tls_msk(
        self, packets: list[bytes], server_key: rsa.RSAPrivateKey
    ) -> tuple[Secret | None, str]:
        """RFC 5216 s2.3 offline: the pre-master secret decrypted with the server's RSA key."""
        try:
            runs = eap_tls_handshakes(packets)
            if not runs:
                return None, "no EAP-TLS run in this (re-)authentication (another EAP method?)"
            client_data, server_data = runs[-1]
            return rsa_eap_tls_keys(client_data, server_data, server_key).msk, ""
        except TlsOfflineError as exc:
            return None, f"the EAP-TLS run is not usable: {exc}"

    def _assumed(self) -> str | None:
        if self._label == crypto.AUTH_LABEL:
            return None
        known = QUIRK_LABELS.get(self._label)
        return f"assumed {known}" if known else f"assumed key label {self._label!r}"

    def _check(self, s: _Session, msg: PanaMessage, wire: bytes) -> tuple[str, str | None]:
        if s.integrity_alg is None or (s.key is None and s.previous_key is None):
            return Verdict.UNVERIFIABLE, s.no_key
        alg, assumed = s.integrity_alg, self._assumed()
        if s.key is not None and self._matches(alg, s.key, msg, wire):
            return Verdict.VERIFIED, assumed
        if s.previous_key is not None and self._matches(alg, s.previous_key, msg, wire):
            return Verdict.VERIFIED, "; ".join(n for n in (assumed, PREVIOUS_KEY_NOTE) if n)
        if s.key is None:
            return Verdict.UNVERIFIABLE, s.no_key
        # a conformant verifier reports the failure; the note says which known deviation fits
        for label, (key, previous) in s.quirk_keys.items():
            if self._matches(alg, key, msg, wire):
                return Verdict.FAILED, f"verifies only assuming {QUIRK_LABELS[label]}"
            if previous is not None and self._matches(alg, previous, msg, wire):
                return Verdict.FAILED, (
                    f"verifies only assuming {QUIRK_LABELS[label]}, {PREVIOUS_KEY_NOTE}"
                )
        return Verdict.FAILED, (
            "AUTH does not match the key of this session's EAP run (a wrong MSK, or the message "
            "was modified)"
        )

    def _matches(self, integrity_alg: int, key: Secret, msg: PanaMessage, wire: bytes) -> bool:
        if self._dialect == "rfc5191":
            return crypto.verify_auth(integrity_alg, key, wire)
        # draft-18: the AUTH AVP's Length counts its header, so crypto's RFC 5191 slot check does
        # not apply; AUTH is still the last AVP and its value ends the message (no padding).
        last = msg.avps[-1] if msg.avps else None
        size = crypto.auth_length(integrity_alg)
        if last is None or last.code != AvpCode.AUTH or len(last.value) != size:
            return False
        expected = crypto.compute_auth(integrity_alg, key, wire[:-size] + bytes(size))
        return hmac.compare_digest(wire[-size:], expected)
