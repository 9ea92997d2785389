"""One table per fact: AVP specifications, message and flag names, EAP code and type names.

Everything that names or types a wire number derives from the tables here: the decoder's
fixed-length checks and error texts (``_checks``), ``avp_type``/``avp_value`` (``avps``), the scapy
layer, and the trace/decode output of ``pana_mpa``. Each helper gives a readable text for numbers
it does not know, so it can be called on anything a peer sent.

Adding an IETF AVP is one :class:`AvpSpec` row in :data:`AVP_SPECS` (plus its ``AvpCode`` member);
vendor AVPs live in their own table, e.g. ``AVP_SPECS.extend(mpa_specs)``, so that the IETF table
stays what the RFCs define.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .enums import (
    AvpCode,
    AvpType,
    EapCode,
    EapType,
    EncryptionAlgorithm,
    EncryptionPolicy,
    IntegrityAlgorithm,
    MessageFlags,
    MessageType,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    WireEnum,
)

__all__ = [
    "AVP_SPECS",
    "EAP_CODE_NAMES",
    "EAP_TYPE_NAMES",
    "FLAG_LETTERS",
    "FLAG_NAMES",
    "MESSAGE_NAMES",
    "AvpSpec",
    "AvpTable",
    "MessageNames",
    "avp_name",
    "avp_spec",
    "eap_code_name",
    "eap_name",
    "eap_type_name",
    "flags_text",
    "message_name",
    "message_type_name",
]

logger = logging.getLogger(__name__)


# ---- AVPs ---------------------------------------------------------------------------------------


_EnumClass = type[WireEnum]


@dataclass(frozen=True, slots=True)
class AvpSpec:
    """What the RFCs say about one AVP: its name, value type, value enum and RFC 6786 policy."""

    code: int
    name: str
    """As the RFC spells it, e.g. ``Result-Code``."""
    type: AvpType
    vendor_id: int | None = None
    """None for the IETF code space (V bit clear)."""
    enum: _EnumClass | None = None
    """The registry of an Unsigned32/Enumerated value, when the RFC defines one."""
    encryption: EncryptionPolicy = EncryptionPolicy.MAY
    """RFC 6786 s6.1; an AVP whose specification is silent is X (MAY)."""
    length: int | None = None
    """Fixed value length in octets (AVP Length), or None when it varies."""
    reference: str = ""


class AvpTable(Mapping[tuple[int, int | None], AvpSpec]):
    """AVP specifications keyed by ``(code, vendor_id)``; immutable, ``extend`` makes a new one."""

    __slots__ = ("_specs",)

    def __init__(self, specs: Iterable[AvpSpec]) -> None:
        table: dict[tuple[int, int | None], AvpSpec] = {}
        for spec in specs:
            key = (spec.code, spec.vendor_id)
            if key in table:
                raise ValueError(f"two specifications for AVP {key}")
            if spec.type in (AvpType.UNSIGNED32, AvpType.ENUMERATED) and spec.length != 4:
                raise ValueError(f"{spec.name}: a {spec.type.name} value has length 4")
            table[key] = spec
        self._specs: Mapping[tuple[int, int | None], AvpSpec] = MappingProxyType(table)

    def __getitem__(self, key: tuple[int, int | None]) -> AvpSpec:
        return self._specs[key]

    def __iter__(self) -> Iterator[tuple[int, int | None]]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, code: int, vendor_id: int | None = None) -> AvpSpec | None:
        """The specification of an AVP, or None when this table does not know it."""
        return self._specs.get((code, vendor_id))

    def name(self, code: int, vendor_id: int | None = None) -> str:
        """The AVP's name; ``AVP-14`` or ``Vendor-32473-AVP-3`` when unknown."""
        spec = self._specs.get((code, vendor_id))
        if spec is not None:
            return spec.name
        return f"AVP-{code}" if vendor_id is None else f"Vendor-{vendor_id}-AVP-{code}"

    def extend(self, specs: Iterable[AvpSpec]) -> AvpTable:
        """A new table with these specifications added (e.g. an extension's vendor AVPs)."""
        return AvpTable([*self._specs.values(), *specs])

    def fixed_lengths(self, vendor_id: int | None = None) -> Mapping[int, int]:
        """Code -> fixed value length, for the AVPs of one vendor (None: IETF) that have one."""
        return {
            spec.code: spec.length
            for spec in self._specs.values()
            if spec.vendor_id == vendor_id and spec.length is not None
        }


_N = EncryptionPolicy.MUST_NOT
_X = EncryptionPolicy.MAY
_OCTETS = AvpType.OCTET_STRING
_U32 = AvpType.UNSIGNED32

AVP_SPECS: Final = AvpTable(
    [
        AvpSpec(AvpCode.AUTH, "AUTH", _OCTETS, encryption=_N, reference="RFC 5191 s8.1"),
        AvpSpec(
            AvpCode.EAP_PAYLOAD, "EAP-Payload", _OCTETS, encryption=_X, reference="RFC 5191 s8.2"
        ),
        AvpSpec(
            AvpCode.INTEGRITY_ALGORITHM,
            "Integrity-Algorithm",
            _U32,
            enum=IntegrityAlgorithm,
            encryption=_N,
            length=4,
            reference="RFC 5191 s8.3",
        ),
        # RFC 5191 s8.4 says Integer32; erratum 2997 corrects it to Unsigned32.
        AvpSpec(AvpCode.KEY_ID, "Key-Id", _U32, encryption=_N, length=4, reference="RFC 5191 s8.4"),
        AvpSpec(AvpCode.NONCE, "Nonce", _OCTETS, encryption=_N, reference="RFC 5191 s8.5"),
        AvpSpec(
            AvpCode.PRF_ALGORITHM,
            "PRF-Algorithm",
            _U32,
            enum=PrfAlgorithm,
            encryption=_N,
            length=4,
            reference="RFC 5191 s8.6",
        ),
        AvpSpec(
            AvpCode.RESULT_CODE,
            "Result-Code",
            _U32,
            enum=ResultCode,
            encryption=_N,
            length=4,
            reference="RFC 5191 s8.7",
        ),
        AvpSpec(
            AvpCode.SESSION_LIFETIME,
            "Session-Lifetime",
            _U32,
            encryption=_X,
            length=4,
            reference="RFC 5191 s8.8",
        ),
        AvpSpec(
            AvpCode.TERMINATION_CAUSE,
            "Termination-Cause",
            AvpType.ENUMERATED,
            enum=TerminationCause,
            encryption=_X,
            length=4,
            reference="RFC 5191 s8.9",
        ),
        AvpSpec(
            AvpCode.PAC_INFORMATION,
            "PaC-Information",
            _OCTETS,
            encryption=_N,
            reference="RFC 6345 s5.1",
        ),
        AvpSpec(
            AvpCode.RELAYED_MESSAGE,
            "Relayed-Message",
            _OCTETS,
            encryption=_N,
            reference="RFC 6345 s5.2",
        ),
        AvpSpec(
            AvpCode.ENCRYPTION_ENCAP,
            "Encryption-Encap",
            _OCTETS,
            encryption=_N,
            reference="RFC 6786 s5",
        ),
        AvpSpec(
            AvpCode.ENCRYPTION_ALGORITHM,
            "Encryption-Algorithm",
            _U32,
            enum=EncryptionAlgorithm,
            encryption=_N,
            length=4,
            reference="RFC 6786 s4",
        ),
    ]
)
"""The IETF AVPs (RFC 5191 s8, RFC 6345 s5, RFC 6786 s4-5)."""


def avp_spec(code: int, vendor_id: int | None = None) -> AvpSpec | None:
    """The specification of an IETF AVP, or None (vendor AVPs and unassigned codes)."""
    return AVP_SPECS.spec(code, vendor_id)


def avp_name(code: int, vendor_id: int | None = None) -> str:
    """The RFC name of an AVP (``Result-Code``); ``AVP-14``/``Vendor-9-AVP-1`` when unknown."""
    return AVP_SPECS.name(code, vendor_id)


# ---- messages and flags -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageNames:
    """The names of one message type: RFC abbreviations and full names (RFC 5191 s7)."""

    name: str
    """The type's name without a direction, e.g. ``PANA-Auth``."""
    request: str
    """Abbreviation with R set, e.g. ``PAR``."""
    answer: str
    """Abbreviation with R clear, e.g. ``PAN``."""
    request_long: str
    answer_long: str


MESSAGE_NAMES: Final[Mapping[int, MessageNames]] = MappingProxyType(
    {
        # PCI and PRY are sent with R clear and have no answer (RFC 5191 s7.1, RFC 6345 s7).
        MessageType.PANA_CLIENT_INITIATION: MessageNames(
            "PANA-Client-Initiation",
            "PCI",
            "PCI",
            "PANA-Client-Initiation",
            "PANA-Client-Initiation",
        ),
        MessageType.PANA_AUTH: MessageNames(
            "PANA-Auth", "PAR", "PAN", "PANA-Auth-Request", "PANA-Auth-Answer"
        ),
        MessageType.PANA_TERMINATION: MessageNames(
            "PANA-Termination", "PTR", "PTA", "PANA-Termination-Request", "PANA-Termination-Answer"
        ),
        MessageType.PANA_NOTIFICATION: MessageNames(
            "PANA-Notification",
            "PNR",
            "PNA",
            "PANA-Notification-Request",
            "PANA-Notification-Answer",
        ),
        MessageType.PANA_RELAY: MessageNames(
            "PANA-Relay", "PRY", "PRY", "PANA-Relay", "PANA-Relay"
        ),
    }
)
"""Message type -> names; type 5 is ``PRY`` (RFC 6345 s7), never ``RELAY``."""


def message_type_name(msg_type: int) -> str:
    """The type's name without a direction (``PANA-Auth``); ``type7`` when unknown."""
    names = MESSAGE_NAMES.get(msg_type)
    return f"type{msg_type}" if names is None else names.name


def message_name(msg_type: int, flags: int, *, long: bool = False) -> str:
    """``PAR``/``PAN``/``PCI``/``PRY``... by the R flag (``long``: ``PANA-Auth-Request``).

    An unknown type gives ``type7`` whatever the flags.
    """
    names = MESSAGE_NAMES.get(msg_type)
    if names is None:
        return f"type{msg_type}"
    if flags & MessageFlags.R:
        return names.request_long if long else names.request
    return names.answer_long if long else names.answer


FLAG_LETTERS: Final[tuple[tuple[str, int], ...]] = tuple(
    (flag.name or "?", int(flag)) for flag in MessageFlags
)
"""(letter, bit) in header bit order: R S C A P I E (RFC 5191 s6.2, RFC 5873 s3)."""

FLAG_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "R": "Request",
        "S": "Start",
        "C": "Complete",
        "A": "re-Authentication",
        "P": "Ping",
        "I": "IP-Reconfiguration",
        "E": "prE-authentication",
    }
)
"""Flag letter -> the RFC's name for it."""

_KNOWN_FLAGS: Final = sum(bit for _, bit in FLAG_LETTERS)


def flags_text(flags: int, *, request: bool = True, reserved: bool = True) -> str:
    """Header flags as letters in bit order, e.g. ``RS``; other set bits as ``+0x0100``.

    ``request=False`` leaves R out (it is already in ``PAR``/``PAN``); ``reserved=False`` leaves
    the reserved bits out.
    """
    letters = "".join(
        letter for letter, bit in FLAG_LETTERS if flags & bit and (request or letter != "R")
    )
    rest = flags & 0xFFFF & ~_KNOWN_FLAGS
    return letters + (f"+{rest:#06x}" if rest and reserved else "")


# ---- EAP ----------------------------------------------------------------------------------------

EAP_CODE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        EapCode.REQUEST: "Request",
        EapCode.RESPONSE: "Response",
        EapCode.SUCCESS: "Success",
        EapCode.FAILURE: "Failure",
    }
)
"""EAP Code -> name (RFC 3748 s4)."""

EAP_TYPE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        EapType.IDENTITY: "Identity",
        EapType.NOTIFICATION: "Notification",
        EapType.NAK: "Nak",
        EapType.MD5_CHALLENGE: "MD5",
        EapType.OTP: "OTP",
        EapType.GTC: "GTC",
        EapType.TLS: "TLS",
        EapType.TTLS: "TTLS",
        EapType.PEAP: "PEAP",
        EapType.PSK: "PSK",
        EapType.GPSK: "GPSK",
        EapType.PWD: "pwd",
        EapType.EXPANDED: "Expanded",
        EapType.EXPERIMENTAL: "Experimental",
    }
)
"""EAP Type -> short method name (RFC 3748 s5, IANA "Method Types")."""


def eap_code_name(code: int) -> str:
    """``Request``, ``Response``, ``Success``, ``Failure``; the number as text when unknown."""
    return EAP_CODE_NAMES.get(code, str(code))


def eap_type_name(eap_type: int) -> str:
    """``Identity``, ``PSK``, ``GPSK``, ...; the number as text when unknown."""
    return EAP_TYPE_NAMES.get(eap_type, str(eap_type))


def eap_name(code: int, eap_type: int | None = None) -> str:
    """``Request/PSK``, ``Response/Identity``, ``Success``; ``Request/99`` for an unknown Type."""
    name = eap_code_name(code)
    return name if eap_type is None else f"{name}/{eap_type_name(eap_type)}"
