"""Throw-away test PKI made at test time with cryptography.x509 (never committed)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Identity", "Pki", "issue", "make_ca", "make_crl", "make_pki"]

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Identity:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _key(kind: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(name: str = "pana-mpa test CA", *, kind: str = "ec") -> Identity:
    """A self-signed CA certificate valid from yesterday until tomorrow."""
    key = _key(kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(cert, key)


def issue(
    ca: Identity,
    common_name: str,
    *,
    server: bool,
    dns_names: Sequence[str] = (),
    kind: str = "ec",
    expired: bool = False,
) -> Identity:
    """An end-entity certificate signed by ``ca`` with serverAuth or clientAuth."""
    key = _key(kind)
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - 3 * _DAY, now - 2 * _DAY) if expired else (now - _DAY, now + _DAY)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return Identity(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass(frozen=True, slots=True)
class Pki:
    """A CA with one server and one client identity."""

    ca: Identity
    server: Identity
    client: Identity


def make_pki(*, kind: str = "ec", server_name: str = "paa.test") -> Pki:
    """CA + server (SAN ``server_name``) + client ``user1``."""
    ca = make_ca(kind=kind)
    return Pki(
        ca=ca,
        server=issue(ca, server_name, server=True, dns_names=[server_name], kind=kind),
        client=issue(ca, "user1", server=False, kind=kind),
    )


def make_crl(
    ca: Identity, revoked: Sequence[x509.Certificate] = ()
) -> x509.CertificateRevocationList:
    """A CRL from ``ca`` listing ``revoked``, valid from yesterday until tomorrow."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - _DAY)
        .next_update(now + _DAY)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - _DAY)
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())
