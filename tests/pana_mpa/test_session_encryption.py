"""RFC 6786 AVP encryption between PaC and PAA: negotiation, Encryption-Encap, separate keys."""

from __future__ import annotations

import pytest

from pana_codecs import MessageFlags, decode_pana
from pana_mpa import crypto
from pana_mpa._avps import AvpCode, EncryptionAlgorithm, IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import SessionTerminated
from pana_mpa.state import PacState

from .pair import Pair, make_pair

AES = EncryptionAlgorithm.AES128_CTR
SUITES = {
    "sha1": (PrfAlgorithm.PRF_HMAC_SHA1, IntegrityAlgorithm.AUTH_HMAC_SHA1_160),
    "sha256": (PrfAlgorithm.PRF_HMAC_SHA2_256, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128),
}


def encrypted_pair(suite: str = "sha256", pac_enc: tuple[int, ...] = (AES,)) -> Pair:
    prf, integ = SUITES[suite]
    pair = make_pair(
        pac_config=PacConfig(encryption_algorithms=pac_enc),
        paa_config=PaaConfig(
            prf_algorithms=(prf,),
            integrity_algorithms=(integ,),
            encryption_algorithms=(AES,),
            session_lifetime=600,
        ),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    return pair


@pytest.mark.parametrize("suite", SUITES)
def test_session_lifetime_travels_encrypted(suite: str) -> None:
    pair = encrypted_pair(suite)
    msgs = [decode_pana(d.data) for d in pair.net.log]
    par_s, pan_s = msgs[1], msgs[2]
    assert par_s.avp(AvpCode.ENCRYPTION_ALGORITHM) is not None
    assert pan_s.avp(AvpCode.ENCRYPTION_ALGORITHM).value == (1).to_bytes(4, "big")  # type: ignore[union-attr]
    par_c = next(m for m in msgs if m.is_request and m.has(MessageFlags.C))
    assert par_c.avp(AvpCode.SESSION_LIFETIME) is None
    encap = par_c.avp(AvpCode.ENCRYPTION_ENCAP)
    assert encap is not None and par_c.avps[-1].code == AvpCode.AUTH
    assert pair.pac.lifetime == 600
    # decrypt with the PAA's key: the Session-Lifetime AVP (RFC 6786 s4.1 counter block)
    session = pair.paa.session(pair.only_session())
    assert session._tx_encr is not None and session.key_id is not None
    plain = crypto.aes128_ctr(
        session._tx_encr,
        key_id=session.key_id,
        session_id=par_c.session_id,
        seq=par_c.seq,
        data=encap.value,
    )
    assert plain == bytes.fromhex("00080000000400000000") + (600).to_bytes(2, "big")
    # separate keys per direction
    assert session._tx_encr == pair.pac._rx_encr and session._rx_encr == pair.pac._tx_encr
    assert session._tx_encr != session._rx_encr


def test_termination_cause_is_encrypted_and_understood() -> None:
    pair = encrypted_pair()
    pair.net.log.clear()
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 1)
    ptr = decode_pana(pair.net.log[0].data)
    assert ptr.avp(AvpCode.TERMINATION_CAUSE) is None
    assert ptr.avps[0].code == AvpCode.ENCRYPTION_ENCAP
    ev = pair.paa_events()[-1]
    assert isinstance(ev, SessionTerminated) and ev.cause == 1 and ev.by_peer


def test_reauthentication_rolls_encryption_keys() -> None:
    pair = encrypted_pair()
    old = pair.pac._tx_encr
    pair.pac.reauthenticate(pair.net.now)
    pair.net.run(pair.net.now + 5)
    assert pair.pac.state is PacState.OPEN and pair.pac._tx_encr != old
    assert pair.pac.lifetime == 600


def test_pac_that_declines_encryption_gets_plain_avps() -> None:
    pair = encrypted_pair(pac_enc=())
    msgs = [decode_pana(d.data) for d in pair.net.log]
    assert msgs[2].avp(AvpCode.ENCRYPTION_ALGORITHM) is None
    par_c = next(m for m in msgs if m.is_request and m.has(MessageFlags.C))
    assert par_c.avp(AvpCode.SESSION_LIFETIME) is not None
    assert par_c.avp(AvpCode.ENCRYPTION_ENCAP) is None


def test_garbled_ciphertext_is_caught_by_auth_first() -> None:
    pair = encrypted_pair()
    pair.net.log.clear()

    def flip_encap(d: object) -> bytes | None:
        data = bytearray(d.data)  # type: ignore[attr-defined]
        msg = decode_pana(bytes(data))
        if msg.avp(AvpCode.ENCRYPTION_ENCAP) is None:
            return None
        data[28] ^= 0xFF  # inside the Encryption-Encap value of a PTR (encap is the first AVP)
        return bytes(data)

    pair.net.tamper = flip_encap
    pair.pac.terminate(pair.net.now)
    pair.net.run(pair.net.now + 2)
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert "AUTH does not verify" in reasons


def test_unsupported_encryption_algorithm_is_a_config_error() -> None:
    with pytest.raises(UsageError, match="Encryption-Algorithm"):
        PaaConfig(encryption_algorithms=(2,))


def test_encrypted_avp_of_policy_n_is_dropped() -> None:
    from pana_codecs import Avp, MessageType, PanaMessage, encode_pana

    from .pair import PAA_ADDR, PAC_ADDR

    pair = encrypted_pair()
    pac = pair.pac
    session = pair.paa.session(pair.only_session())
    seq = 12345
    inner = encode_pana(PanaMessage(0, 0, 0, 0, (Avp(AvpCode.KEY_ID, bytes(4)),)))[16:]
    assert pac._tx_encr is not None and pac.key_id is not None and pac._key is not None
    cipher = crypto.aes128_ctr(
        pac._tx_encr, key_id=pac.key_id, session_id=pac.session_id, seq=seq, data=inner
    )
    alg = pac.integrity_algorithm
    assert alg is not None
    raw = encode_pana(
        PanaMessage(
            MessageType.PANA_NOTIFICATION,
            0x8800,
            pac.session_id,
            seq,
            (Avp(AvpCode.ENCRYPTION_ENCAP, cipher), Avp(AvpCode.AUTH, bytes(16))),
        )
    )
    pair.net.inject(PAC_ADDR, PAA_ADDR, crypto.sign_message(alg, pac._key, raw))
    pair.net.run(pair.net.now + 1)
    reasons = [r["reason"] for r in pair.paa_trace.named("message_dropped")]
    assert "Encryption-Encap carries an AVP that must stay in the clear" in reasons
    assert session.state.name == "OPEN"


def test_encryption_sets_come_from_the_avp_table() -> None:
    from pana_codecs import AVP_SPECS, AvpCode, EncryptionPolicy
    from pana_mpa import _message

    assert {AvpCode.SESSION_LIFETIME, AvpCode.TERMINATION_CAUSE} == _message._ENCRYPTED_CODES
    never = {AvpCode.AUTH, AvpCode.KEY_ID, AvpCode.NONCE, AvpCode.RESULT_CODE}
    assert never <= _message._NEVER_ENCRYPTED
    assert all(
        AVP_SPECS[(code, None)].encryption is EncryptionPolicy.MUST_NOT
        for code in _message._NEVER_ENCRYPTED
    )
    assert AvpCode.EAP_PAYLOAD not in _message._ENCRYPTED_CODES | _message._NEVER_ENCRYPTED
