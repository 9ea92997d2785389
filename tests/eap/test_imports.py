"""`import eap` is quiet and light: no warnings, no pyOpenSSL, no TLS method until asked for."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import eap

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = [
    "AuthMethod",
    "AuthOutput",
    "AuthStep",
    "EapAuthenticator",
    "EapPeer",
    "EapResult",
    "EapServer",
    "GpskPeer",
    "GpskServer",
    "KeyMaterial",
    "Md5Peer",
    "Md5Server",
    "MethodPolicy",
    "MethodStep",
    "PeerMethod",
    "PeerOutput",
    "PskPeer",
    "PskServer",
    "RadiusConfig",
    "RadiusError",
    "RadiusPassThrough",
    "Secret",
    "TlsPeer",
    "TlsServer",
    "TlsVersion",
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_import_eap_is_quiet_and_loads_no_openssl() -> None:
    res = _run(
        "import sys, eap\n"
        "assert 'OpenSSL' not in sys.modules, 'OpenSSL'\n"
        "assert 'eap.methods.tls' not in sys.modules, 'eap.methods.tls'\n"
        "import eap.registry\n"
        "assert eap.registry.lookup('TLS').method_type == 13\n"
        "assert 'OpenSSL' not in sys.modules and 'eap.methods.tls' not in sys.modules\n"
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_tls_names_load_on_first_use_without_warnings() -> None:
    res = _run(
        "import sys, eap\n"
        "from eap import TlsPeer, TlsServer, TlsVersion\n"
        "import eap.methods.tls as tls\n"
        "assert (TlsPeer, TlsServer, TlsVersion) == (tls.TlsPeer, tls.TlsServer, tls.TlsVersion)\n"
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_all_is_unchanged_and_every_name_resolves() -> None:
    assert sorted(eap.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(eap, name) is not None
        assert name in dir(eap)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        eap.Nope  # noqa: B018


def test_dsa_keys_are_refused_with_the_supported_types() -> None:
    from cryptography.hazmat.primitives import serialization

    from eap.methods._tls_context import _load_key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates DSA itself
        from cryptography.hazmat.primitives.asymmetric import dsa

        pem = dsa.generate_private_key(2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    with pytest.raises(ValueError, match="RSA, EC, Ed25519 or Ed448"):
        _load_key(pem)
