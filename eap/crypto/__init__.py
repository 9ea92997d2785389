"""Block-cipher building blocks for EAP methods: AES, AES-CMAC (RFC 4493) and AES-EAX."""

from __future__ import annotations

from .cmac import aes_cmac, aes_encrypt_block
from .eax import EaxTagError, eax_decrypt, eax_encrypt

__all__ = ["EaxTagError", "aes_cmac", "aes_encrypt_block", "eax_decrypt", "eax_encrypt"]
