"""AES-CMAC (RFC 4493) and AES-EAX (EAX paper) known answers; cross-checks with pycryptodome."""

from __future__ import annotations

from pathlib import Path

import pytest
from Crypto.Cipher import AES
from Crypto.Hash import CMAC
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.crypto import (
    AesCmac,
    Eax,
    EaxTagError,
    aes_cmac,
    aes_encrypt_block,
    aes_encrypt_blocks,
    eax_decrypt,
    eax_encrypt,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_named(name: str) -> dict[str, bytes]:
    """``name = hex`` lines of a vector file, comments ('#') stripped."""
    values: dict[str, bytes] = {}
    for line in (VECTORS / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            values[key.strip()] = bytes.fromhex(value.replace(" ", ""))
    return values


def load_eax() -> list[tuple[bytes, ...]]:
    """One tuple (key, nonce, header, message, cipher||tag) per line of eax-paper.txt."""
    rows = []
    for line in (VECTORS / "eax-paper.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(tuple(b"" if f == "-" else bytes.fromhex(f) for f in line.split()))
    return rows


CMAC_VECTORS = load_named("rfc4493-aes-cmac.txt")
EAX_VECTORS = load_eax()


def test_vector_files_are_complete() -> None:
    assert len(EAX_VECTORS) == 10
    assert all(len(row) == 5 for row in EAX_VECTORS)
    assert {"t1", "t2", "t3", "t4"} <= CMAC_VECTORS.keys()


def test_aes_block_rfc4493() -> None:
    assert aes_encrypt_block(CMAC_VECTORS["key"], bytes(16)) == CMAC_VECTORS["aes_zero"]


@pytest.mark.parametrize("example", [1, 2, 3, 4])
def test_cmac_rfc4493(example: int) -> None:
    message = CMAC_VECTORS[f"m{example}"]
    assert len(message) == (0, 16, 40, 64)[example - 1]
    assert aes_cmac(CMAC_VECTORS["key"], message) == CMAC_VECTORS[f"t{example}"]


@pytest.mark.parametrize("row", EAX_VECTORS, ids=[f"eax{i + 1}" for i in range(10)])
def test_eax_paper_vectors(row: tuple[bytes, ...]) -> None:
    key, nonce, header, message, cipher = row
    ciphertext, tag = eax_encrypt(key, nonce, header, message)
    assert ciphertext + tag == cipher
    assert eax_decrypt(key, nonce, header, cipher[:-16], cipher[-16:]) == message


@pytest.mark.parametrize("row", EAX_VECTORS[:3], ids=["eax1", "eax2", "eax3"])
@pytest.mark.parametrize("part", ["key", "nonce", "header", "ciphertext", "tag"])
def test_eax_rejects_any_change(row: tuple[bytes, ...], part: str) -> None:
    key, nonce, header, _message, cipher = row
    fields = {"key": key, "nonce": nonce, "header": header, "ciphertext": cipher[:-16]}
    fields["tag"] = cipher[-16:]
    original = fields[part]
    if original:
        fields[part] = bytes((original[0] ^ 0x01,)) + original[1:]
    else:
        fields[part] = b"\x00"  # empty ciphertext (vector 1): an appended octet must fail too
    with pytest.raises(EaxTagError):
        eax_decrypt(
            fields["key"], fields["nonce"], fields["header"], fields["ciphertext"], fields["tag"]
        )


def test_eax_truncated_tag() -> None:
    key, nonce, header, message, cipher = EAX_VECTORS[1]
    ciphertext, tag = eax_encrypt(key, nonce, header, message, tag_len=8)
    assert tag == cipher[-16:-8]
    assert eax_decrypt(key, nonce, header, ciphertext, tag) == message


@pytest.mark.parametrize("tag_len", [0, 17])
def test_eax_bad_tag_length(tag_len: int) -> None:
    with pytest.raises(ValueError, match="tag length"):
        eax_encrypt(bytes(16), b"n", b"", b"m", tag_len=tag_len)
    with pytest.raises(ValueError, match="tag length"):
        eax_decrypt(bytes(16), b"n", b"", b"m", bytes(tag_len))


@pytest.mark.parametrize("key_len", [0, 15, 17, 64])
def test_bad_key_length(key_len: int) -> None:
    with pytest.raises(ValueError, match="AES key"):
        eax_encrypt(bytes(key_len), b"n", b"", b"m")
    with pytest.raises(ValueError, match="AES key"):
        aes_cmac(bytes(key_len), b"")
    with pytest.raises(ValueError, match="AES key"):
        aes_encrypt_block(bytes(key_len), bytes(16))


def test_aes_block_needs_one_block() -> None:
    with pytest.raises(ValueError, match="block"):
        aes_encrypt_block(bytes(16), bytes(15))


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    nonce=st.binary(min_size=1, max_size=40),
    header=st.binary(max_size=64),
    message=st.binary(max_size=100),
    tag_len=st.integers(min_value=4, max_value=16),
)
def test_eax_matches_pycryptodome(
    key: bytes, nonce: bytes, header: bytes, message: bytes, tag_len: int
) -> None:
    ours = eax_encrypt(key, nonce, header, message, tag_len)
    ref = AES.new(key, AES.MODE_EAX, nonce=nonce, mac_len=tag_len)
    ref.update(header)
    assert ours == ref.encrypt_and_digest(message)
    assert eax_decrypt(key, nonce, header, *ours) == message


@settings(max_examples=100, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), message=st.binary(max_size=100))
def test_cmac_matches_pycryptodome(key: bytes, message: bytes) -> None:
    assert aes_cmac(key, message) == CMAC.new(key, message, ciphermod=AES).digest()


# --- the set-up-once objects ---------------------------------------------------------------------


def test_aes_blocks_in_one_call_equal_block_by_block() -> None:
    key = CMAC_VECTORS["key"]
    blocks = bytes(range(256)) * 2
    one_call = aes_encrypt_blocks(key, blocks)
    assert one_call == b"".join(
        aes_encrypt_block(key, blocks[i : i + 16]) for i in range(0, len(blocks), 16)
    )
    assert one_call[:16] == aes_encrypt_block(key, blocks[:16])


@pytest.mark.parametrize("size", [0, 15, 17])
def test_aes_blocks_need_whole_blocks(size: int) -> None:
    with pytest.raises(ValueError, match="whole 16-octet blocks"):
        aes_encrypt_blocks(bytes(16), bytes(size))


@pytest.mark.parametrize("example", [1, 2, 3, 4])
def test_cmac_object_rfc4493_and_reuse(example: int) -> None:
    mac = AesCmac(CMAC_VECTORS["key"])
    message = CMAC_VECTORS[f"m{example}"]
    assert mac.mac(message) == CMAC_VECTORS[f"t{example}"]
    assert mac.mac(message) == CMAC_VECTORS[f"t{example}"]  # the prepared context is unchanged
    assert (
        AesCmac(CMAC_VECTORS["key"], message[:16]).mac(message[16:])
        == (CMAC_VECTORS[f"t{example}"])
    )


def test_key_objects_never_show_the_key() -> None:
    key = bytes(range(16))
    for obj in (AesCmac(key), Eax(key)):
        assert key.hex() not in repr(obj) and "<key>" in repr(obj)
        with pytest.raises(TypeError, match="pickled"):
            obj.__reduce__()


@pytest.mark.parametrize("row", EAX_VECTORS, ids=[f"eax{i + 1}" for i in range(10)])
def test_eax_object_reused_across_vectors(row: tuple[bytes, ...]) -> None:
    key, nonce, header, message, cipher = row
    eax = Eax(key)
    for _ in range(2):
        ciphertext, tag = eax.encrypt(nonce, header, message)
        assert ciphertext + tag == cipher
        assert eax.decrypt(nonce, header, ciphertext, tag) == message


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=16, max_size=16),
    sizes=st.lists(st.integers(min_value=0, max_value=1100), min_size=1, max_size=4),
)
def test_eax_object_long_messages_match_pycryptodome(
    key: bytes, nonce: bytes, sizes: list[int]
) -> None:
    # Both keystream paths (counter blocks through ECB below 256 octets, native CTR above),
    # several messages through one object.
    eax = Eax(key)
    for size in sizes:
        message = bytes(i % 251 for i in range(size))
        ref = AES.new(key, AES.MODE_EAX, nonce=nonce)
        ref.update(b"hdr")
        assert eax.encrypt(nonce, b"hdr", message) == ref.encrypt_and_digest(message)


@pytest.mark.parametrize("size", [1, 16, 33, 255, 256, 300])
def test_eax_counter_wraps_mod_2_128(size: int) -> None:
    key = bytes(range(16))
    counter = bytes([0xFF] * 15) + b"\xfe"
    data = bytes(size)
    native = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor().update(data)
    assert Eax(key)._ctr(counter, data) == native
