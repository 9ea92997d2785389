"""MPA key derivations: known answers from ../shared/spec (pana-wire.md s17.2, mpa.md s7)."""

from __future__ import annotations

import hashlib

from eap.keys import Secret
from pana_mpa import crypto
from pana_mpa.mpa.keys import derive_mpa_keys, epid_for_ip, epid_for_mac, mn_ca_key, pmkid

MSK = Secret(bytes(range(64)))
SID, KID = 0xA82F2DF8, 1
PRF_HMAC_SHA1 = 2


def test_pmkid_public_vector() -> None:
    # hashcat self-test vector (mpa.md s7): PMK from the passphrase, then PMKID
    pmk = hashlib.pbkdf2_hmac("sha1", b"hashcat!", b"hashcat-essid", 4096, 32)
    assert pmk.hex() == "88f43854ae7b1624fc2ab7724859e795130f4843c7535729e819cf92f39535dc"
    got = pmkid(Secret(pmk), bytes.fromhex("fc690c158264"), bytes.fromhex("f4747f87f9f4"))
    assert got.hex() == "4d4fe7aac3a2cecab195321ceb99a7d0"


def test_pemk_to_pmk_to_pmkid_chain() -> None:
    # pana-wire.md s17.2 PEMK (EPID 0006001122334455), mpa.md s7 PMK/PMKID (self-computed vectors)
    bssid, mn = bytes.fromhex("001122334455"), bytes.fromhex("66778899aabb")
    keys = derive_mpa_keys(
        prf_algorithm=PRF_HMAC_SHA1,
        msk=MSK,
        session_id=SID,
        key_id=KID,
        ar_address="10.97.2.1",
        ca_address="10.97.2.1",
        bssids=(bssid,),
        mn_mac=mn,
    )
    (ap,) = keys.access_points
    assert ap.pmk.reveal().hex() == (
        "f451b366c1abbea6f164e4d41c2c3ea9e922377fbe70b0564ce468bd5f3dd563"
    )
    assert ap.pmkid.hex() == "ef8b19e5d13a56ec82db6b049272f195"
    assert "f451" not in repr(ap)


def test_mn_ar_is_the_rfc5807_pemk_and_mn_ca_differs() -> None:
    keys = derive_mpa_keys(
        prf_algorithm=PRF_HMAC_SHA1,
        msk=MSK,
        session_id=SID,
        key_id=KID,
        ar_address="10.97.2.1",
        ca_address="10.97.2.1",
    )
    epid = epid_for_ip("10.97.2.1")
    assert epid == bytes.fromhex("00010a610201")
    assert keys.mn_ar == crypto.pemk(PRF_HMAC_SHA1, MSK, session_id=SID, key_id=KID, epid=epid)
    assert keys.mn_ca == mn_ca_key(PRF_HMAC_SHA1, MSK, SID, KID, epid)
    assert keys.mn_ar != keys.mn_ca  # distinct labels, same agent address
    assert len(keys.mn_ar) == len(keys.mn_ca) == 64
    # a new Key-Id gives new keys
    again = derive_mpa_keys(
        prf_algorithm=PRF_HMAC_SHA1,
        msk=MSK,
        session_id=SID,
        key_id=KID + 1,
        ar_address="10.97.2.1",
        ca_address="10.97.2.1",
    )
    assert again.mn_ar != keys.mn_ar


def test_sha256_prf_and_epids() -> None:
    keys = derive_mpa_keys(
        prf_algorithm=5,
        msk=MSK,
        session_id=SID,
        key_id=KID,
        ar_address="2001:db8::1",
        ca_address="2001:db8::2",
    )
    assert len(keys.mn_ar) == 64
    assert epid_for_mac(bytes(6)) == bytes.fromhex("0006000000000000")
    assert "Secret(<64 bytes>)" in repr(keys)
