"""Known-answer tests for pana_mpa.crypto (RFC 5191 s5.3-5.4, RFC 6786, RFC 5807, captures)."""

from __future__ import annotations

import pytest

from eap.keys import Secret
from pana_codecs import decode_pana
from pana_mpa import crypto
from pana_mpa._avps import AvpCode, IntegrityAlgorithm, PrfAlgorithm

from .vectors import load_vectors

DIGEST = load_vectors("pana-digest-17.2.txt")
OPENPANA = load_vectors("pana-openpana-loopback.txt")
CPANA = load_vectors("pana-wireshark-wiki-rfc5191.txt")

SHA1, SHA256 = PrfAlgorithm.PRF_HMAC_SHA1, PrfAlgorithm.PRF_HMAC_SHA2_256
I7, I12 = IntegrityAlgorithm.AUTH_HMAC_SHA1_160, IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128


def _nonce(message: bytes) -> bytes:
    avp = decode_pana(message).avp(AvpCode.NONCE)
    assert avp is not None
    return avp.value


def test_prf_plus_c4_vector() -> None:
    out = crypto.prf_plus(SHA1, DIGEST["c4_key"], DIGEST["c4_seed"], 80)
    assert out == DIGEST["c4_out"]
    # prefixes are consistent and Secret keys work the same as bytes
    assert crypto.prf_plus(SHA1, Secret(DIGEST["c4_key"]), DIGEST["c4_seed"], 33) == out[:33]


def test_prf_plus_sha256_first_block_is_hmac() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"seed\x01", hashlib.sha256).digest()
    assert crypto.prf_plus(SHA256, b"k", b"seed", 32) == expected
    t2 = hmac.new(b"k", expected + b"seed\x02", hashlib.sha256).digest()
    assert crypto.prf_plus(SHA256, b"k", b"seed", 40) == expected + t2[:8]


def test_prf_plus_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unsupported PRF"):
        crypto.prf_plus(1, b"k", b"s", 20)
    with pytest.raises(ValueError, match="255 blocks"):
        crypto.prf_plus(SHA1, b"k", b"s", 255 * 20 + 1)


def test_lengths() -> None:
    assert crypto.auth_key_length(I7) == 20 and crypto.auth_length(I7) == 20
    assert crypto.auth_key_length(I12) == 32 and crypto.auth_length(I12) == 16
    assert crypto.default_nonce_length(SHA1) == 20
    assert crypto.default_nonce_length(SHA256) == 32
    with pytest.raises(ValueError, match="unsupported Integrity"):
        crypto.auth_length(2)


def _digest_key() -> Secret:
    return crypto.pana_auth_key(
        SHA1,
        I7,
        Secret(DIGEST["msk"]),
        i_par=CPANA["frame2_i_par"],
        i_pan=CPANA["frame3_i_pan"],
        pac_nonce=CPANA["pac_nonce"],
        paa_nonce=CPANA["paa_nonce"],
        key_id=1,
    )


def test_pana_auth_key_digest_vector() -> None:
    seed = crypto.kdf_seed(
        crypto.AUTH_LABEL,
        CPANA["frame2_i_par"],
        CPANA["frame3_i_pan"],
        CPANA["pac_nonce"],
        CPANA["paa_nonce"],
        1,
    )
    assert len(seed) == 125
    assert _digest_key() == Secret(DIGEST["auth_key"])


def test_auth_digest_vector_sign_and_verify() -> None:
    key = _digest_key()
    zeroed = DIGEST["pan_c_zeroed"]
    assert crypto.compute_auth(I7, key, zeroed) == DIGEST["pan_c_auth"]
    signed = crypto.sign_message(I7, key, zeroed)
    assert signed == zeroed[:-20] + DIGEST["pan_c_auth"]
    assert crypto.verify_auth(I7, key, signed)
    tampered = bytearray(signed)
    tampered[20] ^= 1
    assert not crypto.verify_auth(I7, key, bytes(tampered))
    assert not crypto.verify_auth(I7, Secret(bytes(20)), signed)
    with pytest.raises(ValueError, match="zeroed AUTH"):
        crypto.sign_message(I7, key, signed)


def test_verify_rejects_messages_without_trailing_auth() -> None:
    key = _digest_key()
    assert not crypto.verify_auth(I7, key, CPANA["frame2_i_par"])  # last AVP is Integrity-Algorithm
    assert not crypto.verify_auth(I7, key, b"\x00" * 10)
    # a 16-octet AUTH is not an AUTH_HMAC_SHA1_160 AUTH
    assert not crypto.verify_auth(I12, Secret(bytes(32)), DIGEST["pan_c_zeroed"])
    with pytest.raises(ValueError, match="20-octet key"):
        crypto.compute_auth(I7, Secret(b"short"), b"")


def test_openpana_capture_key_and_auth() -> None:
    # I_PAR/I_PAN = frames 2/3; nonces from frames 4/5 (identical: OpenPANA's quirk).
    pac_nonce, paa_nonce = _nonce(OPENPANA["frame5_pan"]), _nonce(OPENPANA["frame4_par"])
    assert pac_nonce == paa_nonce
    key = crypto.pana_auth_key(
        SHA1,
        I7,
        Secret(OPENPANA["msk_6f42762f"]),
        i_par=OPENPANA["frame2_i_par"],
        i_pan=OPENPANA["frame3_i_pan"],
        pac_nonce=pac_nonce,
        paa_nonce=paa_nonce,
        key_id=0x6F42762F,
    )
    assert key == Secret(OPENPANA["auth_key_6f42762f"])
    for frame in ("frame10_par_c", "frame11_pan_c"):
        assert crypto.verify_auth(I7, key, OPENPANA[frame]), frame
    # frame 44 (after two re-authentications) is protected by the third key, not this one
    assert not crypto.verify_auth(I7, key, OPENPANA["frame44_ptr"])


def test_cpana_quirk_label() -> None:
    kwargs = {
        "i_par": CPANA["frame2_i_par"],
        "i_pan": CPANA["frame3_i_pan"],
        "pac_nonce": CPANA["pac_nonce"],
        "paa_nonce": CPANA["paa_nonce"],
        "key_id": 1,
    }
    msk = Secret(CPANA["msk_run1"])
    quirk = crypto.pana_auth_key(SHA1, I7, msk, label=b"IETF", **kwargs)  # type: ignore[arg-type]
    assert quirk == Secret(CPANA["cpana_auth_key_1"])
    standard = crypto.pana_auth_key(SHA1, I7, msk, **kwargs)  # type: ignore[arg-type]
    for frame in ("frame10_par_c", "frame11_pan_c"):
        assert crypto.verify_auth(I7, quirk, CPANA[frame])
        assert not crypto.verify_auth(I7, standard, CPANA[frame])


def test_rfc6786_encryption_keys_and_ctr() -> None:
    pac_key, paa_key = crypto.encryption_keys(
        SHA1,
        Secret(DIGEST["msk"]),
        i_par=CPANA["frame2_i_par"],
        i_pan=CPANA["frame3_i_pan"],
        pac_nonce=CPANA["pac_nonce"],
        paa_nonce=CPANA["paa_nonce"],
        key_id=1,
    )
    assert pac_key == Secret(DIGEST["pac_encr_key"])
    assert paa_key == Secret(DIGEST["paa_encr_key"])
    ct = crypto.aes128_ctr(
        paa_key, key_id=1, session_id=0xA82F2DF8, seq=0x4B777B23, data=DIGEST["lifetime_avp"]
    )
    assert ct == DIGEST["lifetime_avp_ciphertext"]
    back = crypto.aes128_ctr(paa_key, key_id=1, session_id=0xA82F2DF8, seq=0x4B777B23, data=ct)
    assert back == DIGEST["lifetime_avp"]
    with pytest.raises(ValueError, match="16-octet"):
        crypto.aes128_ctr(Secret(bytes(20)), key_id=0, session_id=0, seq=0, data=b"")


def test_rfc6786_counter_block() -> None:
    # Ctr_1 of RFC 6786's example: AES-ECB(Ctr_1) is CTR keystream block 1.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = Secret(bytes(range(16)))
    ecb = Cipher(algorithms.AES(key.reveal()), modes.ECB()).encryptor()  # noqa: S305
    stream = ecb.update(DIGEST["rfc6786_ctr1"]) + ecb.finalize()
    got = crypto.aes128_ctr(
        key, key_id=0x55667788, session_id=0xAABBCCDD, seq=0x11223344, data=bytes(16)
    )
    assert got == stream


def test_pemk_vector() -> None:
    epid = DIGEST["pemk_epid"]
    key = crypto.pemk(SHA1, Secret(DIGEST["msk"]), session_id=0xA82F2DF8, key_id=1, epid=epid)
    assert key == Secret(DIGEST["pemk"])
    name = crypto.pemk_name(session_id=0xA82F2DF8, key_id=1, epid=DIGEST["pemk_epid"])
    assert name == DIGEST["pemk_name"]


def test_keys_never_print() -> None:
    key = _digest_key()
    assert DIGEST["auth_key"].hex() not in repr(key)
