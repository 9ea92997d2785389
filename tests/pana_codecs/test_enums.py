"""Enums built from wire numbers accept unknown values and never raise (issue 9, item 4)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_codecs import (
    AddressType,
    AvpCode,
    EapCode,
    EapType,
    EncryptionAlgorithm,
    IntegrityAlgorithm,
    MessageFlags,
    MessageType,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    WireEnum,
    avp_value,
    u32_avp,
)

# Every enum whose value a peer chooses, with the width of its wire field.
WIRE_ENUMS: list[tuple[type[WireEnum], int]] = [
    (MessageType, 16),
    (AvpCode, 16),
    (AddressType, 16),
    (ResultCode, 32),
    (TerminationCause, 32),
    (PrfAlgorithm, 32),
    (IntegrityAlgorithm, 32),
    (EncryptionAlgorithm, 32),
    (EapCode, 8),
    (EapType, 32),
]


def test_result_code_99_has_a_readable_name() -> None:
    code = ResultCode(99)
    assert code == 99 and isinstance(code, ResultCode)
    assert code.name == "RESULT_CODE_99"
    assert repr(code) == "<ResultCode.RESULT_CODE_99: 99>"
    assert not code.known and ResultCode(0).known
    assert ResultCode(0) is ResultCode.PANA_SUCCESS
    assert code != ResultCode.PANA_SUCCESS


@pytest.mark.parametrize(
    ("enum", "value", "name"),
    [
        (MessageType, 6, "MESSAGE_TYPE_6"),
        (AvpCode, 14, "AVP_CODE_14"),
        (TerminationCause, 65536, "TERMINATION_CAUSE_65536"),
        (PrfAlgorithm, 0, "PRF_ALGORITHM_0"),
        (IntegrityAlgorithm, 9, "INTEGRITY_ALGORITHM_9"),
        (EncryptionAlgorithm, 0, "ENCRYPTION_ALGORITHM_0"),
        (EapCode, 5, "EAP_CODE_5"),
        (EapType, 99, "EAP_TYPE_99"),
        (AddressType, 16, "ADDRESS_TYPE_16"),
    ],
)
def test_unknown_values_become_pseudo_members(enum: type[WireEnum], value: int, name: str) -> None:
    member = enum(value)
    assert (int(member), member.name, member.value) == (value, name, value)
    assert member not in list(enum)  # iteration lists only the RFC's members
    assert pickle.loads(pickle.dumps(member)) == member  # noqa: S301 - our own bytes


@pytest.mark.parametrize(("enum", "bits"), WIRE_ENUMS)
def test_every_field_value_is_accepted_and_nothing_else(enum: type[WireEnum], bits: int) -> None:
    for value in (0, 1, (1 << bits) - 1, 1 << (bits - 1)):
        assert enum(value) == value
    for bad in (-1, 1 << bits):
        with pytest.raises(ValueError):
            enum(bad)
    with pytest.raises(ValueError):
        enum("1")  # type: ignore[arg-type]


@given(st.integers(0, 2**32 - 1))
def test_no_wire_number_raises(value: int) -> None:
    for enum, bits in WIRE_ENUMS:
        if value < 1 << bits:
            assert enum(value) == value


def test_pseudo_members_are_not_cached() -> None:
    before = len(ResultCode._value2member_map_)
    for value in range(1000, 2000):
        ResultCode(value)
    assert len(ResultCode._value2member_map_) == before


def test_message_flags_keep_unknown_bits() -> None:
    assert MessageFlags(0xFFFF) == 0xFFFF
    assert MessageFlags(0x0100) & MessageFlags.R == 0


def test_avp_value_gives_pseudo_members_for_unknown_codes() -> None:
    value = avp_value(u32_avp(AvpCode.RESULT_CODE, 99))
    assert isinstance(value, ResultCode) and value.name == "RESULT_CODE_99"
