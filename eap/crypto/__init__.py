"""Block-cipher building blocks for EAP methods: AES, AES-CMAC (RFC 4493) and AES-EAX."""

from __future__ import annotations

from .cmac import AesCmac, aes_cmac, aes_encrypt_block, aes_encrypt_blocks
from .eax import Eax, EaxTagError, eax_decrypt, eax_encrypt

__all__ = [
    "AesCmac",
    "Eax",
    "EaxTagError",
    "aes_cmac",
    "aes_encrypt_block",
    "aes_encrypt_blocks",
    "eax_decrypt",
    "eax_encrypt",
]
