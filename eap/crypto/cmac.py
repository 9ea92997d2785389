"""AES block encryption and AES-CMAC (RFC 4493, = OMAC1), on `cryptography`'s native code.

The one-shot functions set up a key schedule per call. Code that uses one key many times holds an
:class:`AesCmac` (a CMAC context prepared once and copied per tag) or encrypts all its blocks in
one :func:`aes_encrypt_blocks` call.
"""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "BLOCK_SIZE",
    "AesCmac",
    "aes_cmac",
    "aes_encrypt_block",
    "aes_encrypt_blocks",
]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 16
"""AES block size in octets."""


def check_key(key: bytes) -> None:
    """ValueError unless ``key`` is an AES-128/192/256 key."""
    if len(key) not in (16, 24, 32):
        raise ValueError(f"AES key must be 16, 24 or 32 octets, got {len(key)}")


def aes_encrypt_blocks(key: bytes, blocks: bytes) -> bytes:
    """AES(key, ·) on each 16-octet block of ``blocks``, one cipher context for all (FIPS 197)."""
    check_key(key)
    if not blocks or len(blocks) % BLOCK_SIZE:
        raise ValueError(f"AES input must be whole {BLOCK_SIZE}-octet blocks, got {len(blocks)}")
    # ECB is the raw block cipher applied per block, which is what RFC 4764 s3.1-3.2 asks for.
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(blocks)  # noqa: S305


def aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    """AES(key, block) for exactly one 16-octet block (FIPS 197)."""
    if len(block) != BLOCK_SIZE:
        check_key(key)
        raise ValueError(f"AES block must be {BLOCK_SIZE} octets, got {len(block)}")
    return aes_encrypt_blocks(key, block)


class AesCmac:
    """AES-CMAC under one key (RFC 4493), set up once; each tag copies the prepared context.

    ``prefix`` is absorbed once, so ``AesCmac(key, p).mac(m) == aes_cmac(key, p + m)``. Holds
    key material: the repr shows none of it.
    """

    __slots__ = ("_base",)

    def __init__(self, key: bytes, prefix: bytes = b"") -> None:
        check_key(key)
        self._base = cmac.CMAC(algorithms.AES(key))
        if prefix:
            self._base.update(prefix)

    def __repr__(self) -> str:
        return "AesCmac(<key>)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("AesCmac holds a key and cannot be pickled")

    def mac(self, data: bytes) -> bytes:
        """The 16-octet tag of prefix || ``data`` (RFC 4493 s2.4)."""
        ctx = self._base.copy()
        ctx.update(data)
        return ctx.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC of ``data`` under ``key``, full 16-octet tag (RFC 4493 s2.4)."""
    check_key(key)
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()
