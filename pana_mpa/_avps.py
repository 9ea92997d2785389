"""AVP codes and value registries used by the sessions (re-exported from pana_codecs.avps)."""

from __future__ import annotations

from pana_codecs.avps import (
    AvpCode,
    EncryptionAlgorithm,
    IntegrityAlgorithm,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    avp_u32,
    u32_avp,
)

__all__ = [
    "AvpCode",
    "EncryptionAlgorithm",
    "IntegrityAlgorithm",
    "PrfAlgorithm",
    "ResultCode",
    "TerminationCause",
    "avp_u32",
    "u32_avp",
]
