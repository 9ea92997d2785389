"""AES-EAX authenticated encryption (Bellare, Rogaway, Wagner, FSE 2004) from CMAC and CTR."""

from __future__ import annotations

import hmac
import logging

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .cmac import BLOCK_SIZE

__all__ = ["EaxTagError", "eax_decrypt", "eax_encrypt"]

logger = logging.getLogger(__name__)


class EaxTagError(ValueError):
    """The EAX tag did not verify; nothing was decrypted."""


def _omac(key: bytes, tweak: int, data: bytes) -> bytes:
    """OMAC^t(data) = CMAC(key, [t]_16 || data): the EAX paper's tweaked OMAC."""
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(bytes(BLOCK_SIZE - 1) + bytes((tweak,)))
    mac.update(data)
    return mac.finalize()


def _ctr(key: bytes, counter: bytes, data: bytes) -> bytes:
    # EAX's CTR uses the whole 16-octet N' as the initial counter block, incremented mod 2^128,
    # which is exactly what cryptography's CTR mode does.
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return ctx.update(data) + ctx.finalize()


def _check(key: bytes, tag_len: int) -> None:
    if len(key) not in (16, 24, 32):
        raise ValueError(f"AES key must be 16, 24 or 32 octets, got {len(key)}")
    if not 1 <= tag_len <= BLOCK_SIZE:
        raise ValueError(f"EAX tag length must be 1..{BLOCK_SIZE} octets, got {tag_len}")


def eax_encrypt(
    key: bytes, nonce: bytes, header: bytes, plaintext: bytes, tag_len: int = BLOCK_SIZE
) -> tuple[bytes, bytes]:
    """Encrypt and authenticate; return (ciphertext, tag). The nonce may have any length."""
    _check(key, tag_len)
    n = _omac(key, 0, nonce)
    h = _omac(key, 1, header)
    ciphertext = _ctr(key, n, plaintext)
    c = _omac(key, 2, ciphertext)
    tag = bytes(a ^ b ^ d for a, b, d in zip(n, h, c, strict=True))
    return ciphertext, tag[:tag_len]


def eax_decrypt(key: bytes, nonce: bytes, header: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """Check the tag, then decrypt; raise EaxTagError (before decrypting) when it fails."""
    _check(key, len(tag))
    n = _omac(key, 0, nonce)
    h = _omac(key, 1, header)
    c = _omac(key, 2, ciphertext)
    expected = bytes(a ^ b ^ d for a, b, d in zip(n, h, c, strict=True))[: len(tag)]
    if not hmac.compare_digest(expected, tag):
        raise EaxTagError("EAX tag mismatch")
    return _ctr(key, n, ciphertext)
