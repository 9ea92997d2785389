"""EAP-PSK key setup once per PSK: the weak, bounded AK/KDK cache, and what it must never show."""

from __future__ import annotations

import gc
import logging
import pickle

import pytest

from eap.keys import DerivedCache, Secret
from eap.methods import _psk_keys
from eap.methods.psk import PskPeer, PskServer, derive_session_keys, key_setup, mac_p, mac_s
from tests.eap.methods.test_psk import C1, ID_P, ID_S, PSK, RAND_P, RAND_S, converse, hx


def test_key_setup_runs_once_per_secret() -> None:
    psk = Secret(hx(C1, "psk"))
    first = key_setup(psk)
    assert key_setup(psk) is not first  # a new tuple, the same cached objects
    assert key_setup(psk)[0] is first[0] and key_setup(psk)[1] is first[1]
    other = key_setup(Secret(hx(C1, "psk")))  # equal bytes, another Secret: computed again
    assert other[0] is not first[0] and other == first


def test_cached_keys_match_rfc4764_c1() -> None:
    keys = _psk_keys._keys_for(PSK)
    assert keys.ak.reveal() == hx(C1, "ak") and keys.kdk.reveal() == hx(C1, "kdk")
    assert keys.mac(ID_P + ID_S + RAND_S + RAND_P) == hx(C1, "mac_p")
    assert keys.mac(ID_S + RAND_P) == hx(C1, "mac_s")
    session = keys.session_keys(RAND_P)
    assert session == derive_session_keys(keys.kdk, RAND_P)
    assert session.tek.reveal() == hx(C1, "tek") and session.msk.reveal() == hx(C1, "msk")
    assert mac_p(keys.ak, ID_P, ID_S, RAND_S, RAND_P) == hx(C1, "mac_p")
    assert mac_s(keys.ak, ID_S, RAND_P) == hx(C1, "mac_s")


def test_shared_kdk_context_keeps_no_state_between_conversations() -> None:
    # _PskKeys keeps one ECB context per PSK (issue 10): every conversation gets the keys of RFC
    # 4764 s3.2 whatever ran before it, and a bad RAND_P is refused before it reaches the context
    keys = _psk_keys._keys_for(PSK)
    other = bytes(range(16))
    for rand_p in (RAND_P, other, RAND_P, other):
        assert keys.session_keys(rand_p) == derive_session_keys(keys.kdk, rand_p)
    with pytest.raises(ValueError, match="RAND_P"):
        keys.session_keys(RAND_P[:15])
    assert keys.session_keys(RAND_P).tek.reveal() == hx(C1, "tek")


def test_entry_dies_with_its_secret() -> None:
    psk = Secret(bytes(range(16)))
    key_setup(psk)
    key = id(psk)
    entry = _psk_keys._cache._entries[key]
    assert entry[0]() is psk
    del psk
    gc.collect()
    assert entry[0]() is None
    assert _psk_keys._cache._entries.get(key) is not entry  # dropped when the Secret went away


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_psk_keys._cache, "size", 8)
    alive = [Secret(i.to_bytes(16, "big")) for i in range(20)]
    for psk in alive:
        key_setup(psk)
        assert len(_psk_keys._cache) <= 8
    # the newest ones are still cached, and an evicted one is simply set up again
    assert key_setup(alive[-1])[0] is key_setup(alive[-1])[0]
    assert key_setup(alive[0])[0].reveal() == key_setup(Secret(alive[0].reveal()))[0].reveal()


def test_same_psk_object_many_conversations_peer_and_server() -> None:
    lookup = {ID_P: PSK}.get
    for _ in range(3):
        peer, server = PskPeer(ID_P, PSK), PskServer(ID_S, lookup)
        converse(peer, server, first_id=7)
        assert peer.keys() is not None and peer.keys() == server.keys()


def test_cached_keys_never_print_or_pickle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="eap")
    keys = _psk_keys._keys_for(PSK)
    text = repr(keys) + str(keys) + repr(_psk_keys._cache) + caplog.text
    for secret in ("psk", "ak", "kdk"):
        assert C1[secret].replace(" ", "")[:16] not in text.lower()
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(keys)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(PSK)


def test_psk_checks_still_apply() -> None:
    with pytest.raises(ValueError, match="16-octet PSK"):
        key_setup(Secret(bytes(15)))
    with pytest.raises(TypeError, match="Secret"):
        key_setup(bytes(16))  # type: ignore[arg-type]


def test_derived_cache_shows_no_values_and_derives_once() -> None:
    cache: DerivedCache[bytes] = DerivedCache(4)
    calls: list[Secret] = []

    def derive(secret: Secret) -> bytes:
        calls.append(secret)
        return secret.reveal()[::-1]

    psk = Secret(b"derived-value-12")
    assert cache.get(psk, derive) == cache.get(psk, derive) == b"21-eulav-devired"
    assert len(calls) == 1 and len(cache) == 1
    assert "21-eulav" not in repr(cache) and repr(cache) == "DerivedCache(<1 of 4>)"
    # an equal but different Secret object is a different entry
    cache.get(Secret(b"derived-value-12"), derive)
    assert len(calls) == 2
