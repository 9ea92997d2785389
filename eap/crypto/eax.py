"""AES-EAX authenticated encryption (Bellare, Rogaway, Wagner, FSE 2004) from CMAC and CTR.

:class:`Eax` sets a key up once: one CMAC context and one ECB context for the CTR keystream. A
message then costs three copies of the CMAC context (OMAC^t is CMAC over the tweak block [t]_16
and the data) and one multi-block encryption, whatever its length.
"""

from __future__ import annotations

import hmac
import logging

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .cmac import BLOCK_SIZE, check_key

__all__ = ["Eax", "EaxTagError", "eax_decrypt", "eax_encrypt"]

logger = logging.getLogger(__name__)

_COUNTER_MASK = (1 << 128) - 1
_NATIVE_CTR_FROM = 256
"""From this many octets on, cryptography's CTR mode beats building counter blocks in Python."""


_TWEAK0, _TWEAK1, _TWEAK2 = (bytes(BLOCK_SIZE - 1) + bytes((t,)) for t in range(3))
"""[t]_16: the first block of OMAC^t (nonce, header, ciphertext)."""


class EaxTagError(ValueError):
    """The EAX tag did not verify; nothing was decrypted."""


def _check_tag_len(tag_len: int) -> None:
    if not 1 <= tag_len <= BLOCK_SIZE:
        raise ValueError(f"EAX tag length must be 1..{BLOCK_SIZE} octets, got {tag_len}")


def _xor(a: bytes, b: bytes) -> bytes:
    """a XOR b for equal lengths, as one big-integer operation."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class Eax:
    """AES-EAX under one key, set up once (the EAX paper's OMAC^t and CTR).

    Holds key material: the repr shows none of it. One instance per key holder (e.g. one
    EAP-PSK conversation's TEK); its ECB context is not meant to be shared across threads.
    """

    __slots__ = ("_aes", "_cmac", "_ecb")

    def __init__(self, key: bytes) -> None:
        check_key(key)
        self._aes = algorithms.AES(key)  # one AES key object for CMAC and CTR
        # One CMAC context, copied per tag with its tweak block prepended: an EAP-PSK TEK tags
        # six messages in all, so contexts that absorbed each tweak first would not pay back
        # their own set-up (issue 10).
        self._cmac = cmac.CMAC(self._aes)
        self._ecb = Cipher(self._aes, modes.ECB()).encryptor()  # noqa: S305 - CTR keystream

    def __repr__(self) -> str:
        return "Eax(<key>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Eax holds a key and cannot be pickled")

    def _ctr(self, counter: bytes, data: bytes) -> bytes:
        # EAX's CTR uses the whole 16-octet N' as the initial counter block, incremented mod 2^128.
        size = len(data)
        if not size:
            return b""
        if size <= BLOCK_SIZE:  # one block (EAP-PSK's result indications): AES(N') is the stream
            return _xor(self._ecb.update(counter)[:size], data)
        if size >= _NATIVE_CTR_FROM:
            ctx = Cipher(self._aes, modes.CTR(counter)).encryptor()
            return ctx.update(data) + ctx.finalize()
        start = int.from_bytes(counter, "big")
        blocks = -(-size // BLOCK_SIZE)
        counters = b"".join(
            ((start + i) & _COUNTER_MASK).to_bytes(BLOCK_SIZE, "big") for i in range(blocks)
        )
        keystream = self._ecb.update(counters)[:size]
        return _xor(keystream, data)

    def _omac(self, tweak: bytes, data: bytes) -> bytes:
        """OMAC^t(data) = CMAC([t]_16 || data), the EAX paper's tweaked OMAC."""
        ctx = self._cmac.copy()
        ctx.update(tweak + data)
        return ctx.finalize()

    def _tag(self, n: bytes, header: bytes, ciphertext: bytes) -> bytes:
        h = self._omac(_TWEAK1, header)
        c = self._omac(_TWEAK2, ciphertext)
        return (
            int.from_bytes(n, "big") ^ int.from_bytes(h, "big") ^ int.from_bytes(c, "big")
        ).to_bytes(BLOCK_SIZE, "big")

    def encrypt(
        self, nonce: bytes, header: bytes, plaintext: bytes, tag_len: int = BLOCK_SIZE
    ) -> tuple[bytes, bytes]:
        """Encrypt and authenticate; return (ciphertext, tag). The nonce may have any length."""
        _check_tag_len(tag_len)
        n = self._omac(_TWEAK0, nonce)
        ciphertext = self._ctr(n, plaintext)
        return ciphertext, self._tag(n, header, ciphertext)[:tag_len]

    def decrypt(self, nonce: bytes, header: bytes, ciphertext: bytes, tag: bytes) -> bytes:
        """Check the tag, then decrypt; raise EaxTagError (before decrypting) when it fails."""
        _check_tag_len(len(tag))
        n = self._omac(_TWEAK0, nonce)
        expected = self._tag(n, header, ciphertext)[: len(tag)]
        if not hmac.compare_digest(expected, tag):
            raise EaxTagError("EAX tag mismatch")
        return self._ctr(n, ciphertext)


def eax_encrypt(
    key: bytes, nonce: bytes, header: bytes, plaintext: bytes, tag_len: int = BLOCK_SIZE
) -> tuple[bytes, bytes]:
    """Encrypt and authenticate; return (ciphertext, tag). The nonce may have any length."""
    _check_tag_len(tag_len)
    return Eax(key).encrypt(nonce, header, plaintext, tag_len)


def eax_decrypt(key: bytes, nonce: bytes, header: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """Check the tag, then decrypt; raise EaxTagError (before decrypting) when it fails."""
    _check_tag_len(len(tag))
    return Eax(key).decrypt(nonce, header, ciphertext, tag)
