"""AES single-block encryption and AES-CMAC (RFC 4493, = OMAC1), on `cryptography`."""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["BLOCK_SIZE", "aes_cmac", "aes_encrypt_block"]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 16
"""AES block size in octets."""


def _check_key(key: bytes) -> None:
    if len(key) not in (16, 24, 32):
        raise ValueError(f"AES key must be 16, 24 or 32 octets, got {len(key)}")


def aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    """AES(key, block) for exactly one 16-octet block (FIPS 197)."""
    _check_key(key)
    if len(block) != BLOCK_SIZE:
        raise ValueError(f"AES block must be {BLOCK_SIZE} octets, got {len(block)}")
    # ECB on a single block is the raw block cipher, which is what RFC 4764 s3.1-3.2 asks for.
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(block) + enc.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC of ``data`` under ``key``, full 16-octet tag (RFC 4493 s2.4)."""
    _check_key(key)
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(data)
    return mac.finalize()
