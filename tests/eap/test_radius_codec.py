"""RADIUS codec: RFC 2202 HMAC-MD5, RFC 2865 s7.1 and the hostapd-checked C.6 vectors."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap._radius_codec import (
    MICROSOFT,
    Attr,
    AuthenticatorMismatch,
    MsAttr,
    RadiusCode,
    RadiusPacket,
    decode_radius,
    decrypt_mppe_key,
    encode_radius,
    encrypt_mppe_key,
    join_eap,
    sign_request,
    sign_response,
    split_eap,
    vendor_attr,
    vendor_attrs,
    verify_request,
    verify_response,
)
from eap.aaa.passthrough import RadiusConfig
from eap.keys import Secret
from pana_codecs.errors import CodecError
from tests.eap._radius_helpers import count_radius_decodes

SECRET = b"testing123"
REQ_AUTH = bytes.fromhex("101112131415161718191a1b1c1d1e1f")

# test-vectors.md C.6 (accepted by hostapd's radius_msg_verify and friends)
C6_REQUEST = bytes.fromhex(
    "012a0037101112131415161718191a1b1c1d1e1f0106757365724f0b020700090175736572"
    "5012010696849e2b0d88092ea9abc30c05d0"
)
C6_ACCEPT = bytes.fromhex(
    "022a00a05b59db7af3885e19c36f2fbbb1c5cea24f06030700041a3a00000137103480013536eed11651e64d29b8ef"
    "7832aedccf61e55a08717ec62c1981011c8412e36e1cad71cddcaa5902c763a72f8b13a3581a3a00000137113480"
    "023065f1f0b034772ef1566794d02240c2e405aa201a99bca9e2e4ef5893626d1aec301210e5743ddb1b69030867"
    "f744d15012582dc6a030b4cf9c25df6cb967888e44"
)
C6_MSK = bytes(range(64))


@pytest.mark.parametrize(
    ("key", "data", "digest"),
    [
        (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
        (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
        (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
        (
            bytes.fromhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
            b"\xcd" * 50,
            "697eaf0aca3a3aea3a75164746ffaa79",
        ),
        (
            b"\xaa" * 80,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
        ),
    ],
)
def test_hmac_md5_rfc2202(key: bytes, data: bytes, digest: str) -> None:
    # A.3: the Message-Authenticator primitive; our helper uses it through hmac.new(..., md5).
    assert hmac.new(key, data, hashlib.md5).hexdigest() == digest


def test_rfc2865_response_authenticator() -> None:
    # A.6: RFC 2865 s7.1 Access-Accept; verify_response checks the Response Authenticator
    # first, then demands a Message-Authenticator, which this pre-RFC 3579 packet lacks.
    request = bytes.fromhex(
        "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee"
        "0406c0a801100506000000 03".replace(" ", "")
    )
    accept = bytes.fromhex(
        "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103"
    )
    req = decode_radius(request)
    assert req.get(Attr.USER_NAME) == b"nemo"
    with pytest.raises(AuthenticatorMismatch, match="Message-Authenticator"):
        verify_response(accept, req.authenticator, b"xyzzy5461")
    with pytest.raises(AuthenticatorMismatch, match="Response Authenticator"):
        verify_response(accept, req.authenticator, b"xyzzy5462")
    rebuilt = decode_radius(accept)
    assert encode_radius(rebuilt) == accept


def test_c6_access_request() -> None:
    eap = bytes.fromhex("020700090175736572")
    attrs = [(Attr.USER_NAME, b"user"), *split_eap(eap)]
    assert sign_request(RadiusCode.ACCESS_REQUEST, 0x2A, REQ_AUTH, attrs, SECRET) == C6_REQUEST
    pkt = verify_request(C6_REQUEST, Secret(SECRET))
    assert join_eap(pkt) == eap


def test_c6_access_accept_keys_and_authenticators() -> None:
    pkt = verify_response(C6_ACCEPT, REQ_AUTH, Secret(SECRET))
    assert pkt.code == RadiusCode.ACCESS_ACCEPT
    keys = dict(vendor_attrs(pkt, MICROSOFT))
    send = decrypt_mppe_key(keys[MsAttr.MS_MPPE_SEND_KEY], SECRET, REQ_AUTH)
    recv = decrypt_mppe_key(keys[MsAttr.MS_MPPE_RECV_KEY], SECRET, REQ_AUTH)
    assert recv + send == C6_MSK
    attrs = [
        (Attr.EAP_MESSAGE, bytes.fromhex("03070004")),
        vendor_attr(
            MICROSOFT,
            MsAttr.MS_MPPE_SEND_KEY,
            encrypt_mppe_key(C6_MSK[32:], SECRET, REQ_AUTH, 0x8001),
        ),
        vendor_attr(
            MICROSOFT,
            MsAttr.MS_MPPE_RECV_KEY,
            encrypt_mppe_key(C6_MSK[:32], SECRET, REQ_AUTH, 0x8002),
        ),
        (Attr.MESSAGE_AUTHENTICATOR, bytes(16)),  # C.6 puts it last
    ]
    assert sign_response(RadiusCode.ACCESS_ACCEPT, 0x2A, REQ_AUTH, attrs, SECRET) == C6_ACCEPT


def test_c6_access_challenge_split_253_47() -> None:
    eap = bytes.fromhex("0108012c0d20") + bytes(294)
    attrs = [*split_eap(eap), (Attr.STATE, b"state-01"), (Attr.MESSAGE_AUTHENTICATOR, bytes(16))]
    assert [len(v) for t, v in attrs if t == Attr.EAP_MESSAGE] == [253, 47]
    wire = sign_response(RadiusCode.ACCESS_CHALLENGE, 0x2A, REQ_AUTH, attrs, SECRET)
    assert len(wire) == 352
    assert wire[4:20].hex() == "e74d35885f1a6f36e7d44aa317de4a63"
    assert wire[-16:].hex() == "be8bea78432c8a858cd46bacfb97a443"
    pkt = verify_response(wire, REQ_AUTH, SECRET)
    assert join_eap(pkt) == eap
    assert pkt.get(Attr.STATE) == b"state-01"


def test_response_message_authenticator_first_by_default() -> None:
    wire = sign_response(
        RadiusCode.ACCESS_REJECT, 1, REQ_AUTH, split_eap(b"\x04\x01\x00\x04"), SECRET
    )
    assert wire[20] == Attr.MESSAGE_AUTHENTICATOR  # BlastRADIUS hardening: first attribute
    verify_response(wire, REQ_AUTH, SECRET)


def test_tampering_is_detected() -> None:
    wire = bytearray(C6_ACCEPT)
    wire[30] ^= 1
    with pytest.raises(AuthenticatorMismatch):
        verify_response(bytes(wire), REQ_AUTH, SECRET)
    with pytest.raises(AuthenticatorMismatch):
        verify_response(C6_ACCEPT, bytes(16), SECRET)  # answers another request
    req = bytearray(C6_REQUEST)
    req[-1] ^= 0x80
    with pytest.raises(AuthenticatorMismatch, match="does not verify"):
        verify_request(bytes(req), SECRET)
    with pytest.raises(AuthenticatorMismatch, match="does not verify"):
        verify_request(C6_REQUEST, b"wrong")
    no_ma = encode_radius(RadiusPacket(1, 1, REQ_AUTH, ((Attr.USER_NAME, b"u"),)))
    with pytest.raises(AuthenticatorMismatch, match="missing"):
        verify_request(no_ma, SECRET)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x00\x00", "shorter than the header"),
        (b"\x01\x00\x00\x13" + bytes(16), "outside"),
        (b"\x01\x00\x10\x01" + bytes(16), "outside"),
        (b"\x01\x00\x00\x20" + bytes(16), "received"),
        (b"\x01\x00\x00\x15" + bytes(16) + b"\x01", "truncated"),
        (b"\x01\x00\x00\x16" + bytes(16) + b"\x01\x01", "invalid"),
        (b"\x01\x00\x00\x17" + bytes(16) + b"\x01\x04\x00", "invalid"),
    ],
)
def test_malformed_packets_raise_codec_error(data: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode_radius(data)


def test_trailing_octets_beyond_length_are_ignored() -> None:
    # RFC 2865 s3: octets outside the Length field are padding.
    assert decode_radius(C6_REQUEST + b"\x00\x01") == decode_radius(C6_REQUEST)


def test_mppe_key_checks() -> None:
    with pytest.raises(ValueError, match="most significant bit"):
        encrypt_mppe_key(b"k" * 32, SECRET, REQ_AUTH, 0x0001)
    good = encrypt_mppe_key(b"k" * 32, SECRET, REQ_AUTH, 0x8123)
    assert len(good) == 2 + 48
    with pytest.raises(ValueError, match="bad length"):
        decrypt_mppe_key(good[:-1], SECRET, REQ_AUTH)
    tampered = bytearray(good)
    tampered[2] ^= 0x80  # the encrypted Key-Length octet: 32 -> 160, more than 47 octets hold
    with pytest.raises(ValueError, match="Key-Length"):
        decrypt_mppe_key(bytes(tampered), SECRET, REQ_AUTH)


@given(key=st.binary(min_size=0, max_size=64), salt=st.integers(0x8000, 0xFFFF))
def test_mppe_round_trip(key: bytes, salt: int) -> None:
    value = encrypt_mppe_key(key, SECRET, REQ_AUTH, salt)
    assert decrypt_mppe_key(value, SECRET, REQ_AUTH) == key


@given(eap=st.binary(min_size=1, max_size=3000))
def test_split_join_round_trip(eap: bytes) -> None:
    attrs = split_eap(eap)
    assert all(len(v) <= 253 for _, v in attrs)
    assert all(len(v) == 253 for _, v in attrs[:-1])
    pkt = RadiusPacket(11, 0, bytes(16), (*attrs, (Attr.STATE, b"s")))
    assert join_eap(decode_radius(encode_radius(pkt))) == eap


@given(data=st.binary(max_size=300))
def test_decoder_is_total(data: bytes) -> None:
    try:
        pkt = decode_radius(data)
    except CodecError:
        return
    assert encode_radius(pkt) == data[: 20 + sum(len(v) + 2 for _, v in pkt.attributes)]


def test_vendor_attrs_skip_other_vendors_and_malformed_tails() -> None:
    pkt = RadiusPacket(
        2,
        0,
        bytes(16),
        (
            vendor_attr(9, 1, b"cisco"),
            (Attr.VENDOR_SPECIFIC, b"\x00\x00\x01\x37\x10\x04ab\x11\x09x"),  # tail too short
            (Attr.VENDOR_SPECIFIC, b"\x00\x00"),
        ),
    )
    assert vendor_attrs(pkt, MICROSOFT) == [(16, b"ab")]
    assert vendor_attrs(pkt, 9) == [(1, b"cisco")]


def test_against_pyrad() -> None:
    # An independent implementation: pyrad checks our authenticators and decrypts our keys.
    import io

    import pyrad.dictionary as pyrad_dict  # the test extra installs pyrad
    import pyrad.packet as pyrad_packet

    dictionary = pyrad_dict.Dictionary(
        io.StringIO(
            "ATTRIBUTE User-Name 1 string\nATTRIBUTE EAP-Message 79 octets concat\n"
            "ATTRIBUTE Message-Authenticator 80 octets\nVENDOR Microsoft 311\n"
            "BEGIN-VENDOR Microsoft\nATTRIBUTE MS-MPPE-Send-Key 16 octets encrypt=2\n"
            "ATTRIBUTE MS-MPPE-Recv-Key 17 octets encrypt=2\nEND-VENDOR Microsoft\n"
        )
    )
    rng = random.Random(5)
    req_auth = rng.randbytes(16)
    msk = rng.randbytes(64)
    attrs = [
        *split_eap(b"\x03\x05\x00\x04"),
        vendor_attr(MICROSOFT, 17, encrypt_mppe_key(msk[:32], SECRET, req_auth, 0x8ABC)),
        vendor_attr(MICROSOFT, 16, encrypt_mppe_key(msk[32:], SECRET, req_auth, 0x8ABD)),
    ]
    wire = sign_response(RadiusCode.ACCESS_ACCEPT, 9, req_auth, attrs, SECRET)
    rep = pyrad_packet.AuthPacket(packet=wire, secret=SECRET, dict=dictionary)
    rep.authenticator = wire[4:20]
    req = pyrad_packet.AuthPacket(
        code=1, id=9, secret=SECRET, authenticator=req_auth, dict=dictionary
    )
    assert req.VerifyReply(rep, wire)
    assert rep.verify_message_authenticator(secret=SECRET, original_authenticator=req_auth)
    rep.request_authenticator = req_auth
    recv = rep["MS-MPPE-Recv-Key"][0]
    send = rep["MS-MPPE-Send-Key"][0]
    assert recv + send == msk


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"secret": Secret(b"")}, "must not be empty"),
        ({"timeout": 0.0}, "timeout must be positive"),
        ({"retries": -1}, "retries not negative"),
        ({"server": ("127.0.0.1", 0)}, "bad RADIUS server port"),
        ({"extra_attributes": ((61, b"x" * 254),)}, "up to 253 octets"),
    ],
)
def test_radius_config_rejects_misuse(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"server": ("127.0.0.1", 1812), "secret": Secret(b"s")}
    with pytest.raises(ValueError, match=message):
        RadiusConfig(**{**base, **kwargs})  # type: ignore[arg-type]


def _reference_ma(wire: bytes, key: bytes, authenticator: bytes) -> bytes:
    """RFC 3579 s3.2 computed the slow way: decode, zero the value, re-encode, HMAC-MD5."""
    pkt = decode_radius(wire)
    attrs = tuple(
        (t, bytes(16) if t == Attr.MESSAGE_AUTHENTICATOR else v) for t, v in pkt.attributes
    )
    zeroed = encode_radius(RadiusPacket(pkt.code, pkt.identifier, authenticator, attrs))
    return hmac.new(key, zeroed, hashlib.md5).digest()


@given(
    key=st.binary(min_size=1, max_size=100),  # beyond 64 octets HMAC hashes the key first
    attrs=st.lists(st.tuples(st.sampled_from([1, 24, 32, 79]), st.binary(max_size=60)), max_size=5),
)
def test_signing_shortcuts_match_the_reference(key: bytes, attrs: list[tuple[int, bytes]]) -> None:
    # issue 10: one encoding per request and cached HMAC pads per Secret must sign the same
    wire = sign_request(RadiusCode.ACCESS_REQUEST, 9, REQ_AUTH, attrs, Secret(key))
    assert wire == sign_request(RadiusCode.ACCESS_REQUEST, 9, REQ_AUTH, attrs, key)
    assert wire[-18:-16] == b"\x50\x12"  # added last
    assert wire[-16:] == _reference_ma(wire, key, REQ_AUTH)
    assert verify_request(wire, Secret(key)).attributes[:-1] == tuple(attrs)
    reply = sign_response(RadiusCode.ACCESS_CHALLENGE, 9, REQ_AUTH, attrs, key)
    assert verify_response(reply, REQ_AUTH, Secret(key)) == verify_response(reply, REQ_AUTH, key)


def test_a_message_authenticator_placed_by_the_caller_stays_in_place() -> None:
    attrs = [(Attr.MESSAGE_AUTHENTICATOR, bytes(16)), (Attr.USER_NAME, b"user")]
    wire = sign_request(RadiusCode.ACCESS_REQUEST, 3, REQ_AUTH, attrs, Secret(SECRET))
    assert wire[20] == Attr.MESSAGE_AUTHENTICATOR
    assert wire[22:38] == _reference_ma(wire, SECRET, REQ_AUTH)
    verify_request(wire, SECRET)


def test_two_message_authenticators_are_refused() -> None:
    wire = sign_request(RadiusCode.ACCESS_REQUEST, 3, REQ_AUTH, [], SECRET)
    pkt = decode_radius(wire)
    doubled = encode_radius(RadiusPacket(1, 3, REQ_AUTH, pkt.attributes * 2))
    with pytest.raises(AuthenticatorMismatch, match="missing or malformed"):
        verify_request(doubled, SECRET)


def test_a_forged_reply_is_refused_before_its_attributes_are_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anyone can spoof the server's address: a forged reply of 4,096 octets (2,038 empty
    attributes) is refused on its Response Authenticator, one MD5 over the raw octets, without
    decoding a single attribute; before, every one was decoded first (~200x a small reply).
    A reply whose header is malformed is still a CodecError; a genuine one is decoded once."""
    decoded = count_radius_decodes(monkeypatch)
    forged = bytes((RadiusCode.ACCESS_CHALLENGE, 7)) + (4096).to_bytes(2, "big") + bytes(16)
    forged += b"\x01\x02" * 2038
    for _ in range(50):
        with pytest.raises(AuthenticatorMismatch, match="Response Authenticator"):
            verify_response(forged, REQ_AUTH, SECRET)
    bad_attribute = bytes((RadiusCode.ACCESS_CHALLENGE, 7, 0, 22)) + bytes(16) + b"\x01\x01"
    with pytest.raises(AuthenticatorMismatch):  # refused on its authenticator all the same
        verify_response(bad_attribute, REQ_AUTH, SECRET)
    with pytest.raises(CodecError, match="outside"):
        verify_response(forged[:2] + b"\x00\x13" + forged[4:20], REQ_AUTH, SECRET)
    assert decoded == []
    genuine = sign_response(RadiusCode.ACCESS_ACCEPT, 7, REQ_AUTH, [], SECRET)
    assert verify_response(genuine, REQ_AUTH, SECRET).code == RadiusCode.ACCESS_ACCEPT
    assert decoded == [len(genuine)]
