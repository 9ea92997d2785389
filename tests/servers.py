"""Real RADIUS/EAP components for tests: hostapd (in a namespace), FreeRADIUS, eapol_test.

Each runs with private configs in a temporary directory, on loopback (or a private veth pair
into a namespace of its own), on random ports, and is stopped by PID even when a test fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

import tests.pki
from eap.aaa.passthrough import RadiusConfig
from eap.keys import Secret
from tests.netns import Lab
from tests.realcomponents import need_binary, need_root

__all__ = [
    "EAP_USERS",
    "RADIUS_SECRET",
    "EapolResult",
    "FreeRadius",
    "Hostapd",
    "Pki",
    "eapol_conf",
    "free_udp_port",
    "freeradius_server",
    "hostapd_server",
    "kea6_server",
    "make_pki",
    "run_eapol_test",
]

RADIUS_SECRET = b"testing123"

EAP_USERS = {
    "md5": ("md5user", "md5password"),
    "psk": ("pskuser", "0123456789abcdef0123456789abcdef"),
    "gpsk": ("gpskuser", "abcdefghijklmnop0123456789abcdef"),
    "gpsk16": ("gpsk16user", "0123456789abcdef"),
    "tls": ("tlsuser", ""),
}
"""Method -> (identity, secret) known to every server these helpers start (PSK: hex key)."""

SERVER_NAME = "radius.pana.test"


def free_udp_port() -> int:
    """A random uncommon port in 20000-60000 (the caller binds it; collisions are unlikely)."""
    return random.SystemRandom().randrange(20000, 60000)


@dataclass(frozen=True, slots=True)
class Pki:
    """A throwaway CA with one server and one client certificate (tests.pki), as PEM files."""

    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    server_name: str = SERVER_NAME


def make_pki(directory: Path) -> Pki:
    """Write ca.pem, server.pem/.key (serverAuth, SAN SERVER_NAME), client.pem/.key (clientAuth)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = tests.pki.make_pki(server_name=SERVER_NAME)
    pem = serialization.Encoding.PEM
    for name, ident in (("server", pki.server), ("client", pki.client)):
        (directory / f"{name}.pem").write_bytes(ident.cert.public_bytes(pem))
        (directory / f"{name}.key").write_bytes(
            ident.key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    (directory / "ca.pem").write_bytes(pki.ca.cert.public_bytes(pem))
    d = directory
    return Pki(
        d, d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key"
    )


def _stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop one process we started, by its PID (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``log`` until it contains ``pattern``; fail with the log tail if the process dies."""
    # a readiness deadline, not a measurement: FreeRADIUS -X loads dozens of modules and hostapd
    # reads its certificates; at load average 15+ on 2 cores that has taken several seconds
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if pattern in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.005)
    raise RuntimeError(f"{what} not ready after 60 s:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass(frozen=True, slots=True)
class Hostapd:
    """A running hostapd RADIUS server with its integrated EAP server."""

    address: tuple[str, int]
    """Where to send Access-Requests (the namespace end of the veth pair)."""
    source: str
    """Our address on the veth pair (the only RADIUS client hostapd accepts)."""
    secret: bytes
    log: Path
    pki: Pki

    def radius_config(
        self, *, secret: bytes | None = None, timeout: float = 2.0, retries: int = 2
    ) -> RadiusConfig:
        """Our pass-through's settings for this server (its secret unless ``secret`` is given)."""
        return RadiusConfig(
            server=self.address,
            secret=Secret(secret if secret is not None else self.secret),
            bind=(self.source, 0),
            timeout=timeout,
            retries=retries,
        )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def hostapd_server(
    tmp: Path, pki: Pki | None = None, *, extra_users: Sequence[str] = ()
) -> Iterator[Hostapd]:
    """hostapd as RADIUS+EAP server in a private network namespace, reached over a veth pair.

    hostapd's RADIUS server always binds 0.0.0.0; inside its own namespace that address is only
    reachable through the veth pair, never from outside interfaces. ``extra_users``: more lines
    of its eap_user file, e.g. a user followed by ``radius_accept_attr=27:d:90`` (Session-Timeout
    90 in that user's Access-Accept; hostapd.eap_user).
    """
    hostapd = need_binary("hostapd")
    need_binary("ip")
    need_root()
    tmp.mkdir(parents=True, exist_ok=True)
    pki = pki or make_pki(tmp / "pki")
    tag = secrets.token_hex(3)
    ns, outer, inner = f"pana-{tag}", f"pr{tag}a", f"pr{tag}b"
    rnd = random.SystemRandom()
    base = ipaddress.IPv4Address("10.231.0.0") + 4 * rnd.randrange(16384)
    mine, theirs = str(base + 1), str(base + 2)
    port = free_udp_port()
    (tmp / "radius_clients").write_text(f"{mine}/32 {RADIUS_SECRET.decode()}\n")
    users = "".join(
        f'"{EAP_USERS[m][0]}" {m.upper().removesuffix("16")} {_user_secret(m)}\n'
        for m in ("md5", "psk", "gpsk", "gpsk16")
    )
    tls = f'"{EAP_USERS["tls"][0]}" TLS\n'
    (tmp / "eap_users").write_text(users + tls + "".join(f"{line}\n" for line in extra_users))
    conf = tmp / "hostapd-as.conf"
    conf.write_text(
        "\n".join(
            [
                "driver=none",
                f"interface=pas{tag}",
                "logger_stdout=-1",
                "logger_stdout_level=1",
                f"radius_server_clients={tmp / 'radius_clients'}",
                f"radius_server_auth_port={port}",
                "eap_server=1",
                f"eap_user_file={tmp / 'eap_users'}",
                f"ca_cert={pki.ca}",
                f"server_cert={pki.server_cert}",
                f"private_key={pki.server_key}",
                "tls_flags=[ENABLE-TLSv1.3]",
                "",
            ]
        )
    )
    log = tmp / "hostapd.log"
    proc: subprocess.Popen[bytes] | None = None
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        _ip("addr", "add", f"{mine}/30", "dev", outer)
        _ip("-n", ns, "addr", "add", f"{theirs}/30", "dev", inner)
        _ip("link", "set", outer, "up")
        _ip("-n", ns, "link", "set", inner, "up")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                # -K: keys in the debug log too (throw-away test keys; for interop debugging)
                ["ip", "netns", "exec", ns, hostapd, "-dd", "-K", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_for(log, "Setup of interface done", proc, "hostapd")
        yield Hostapd((theirs, port), mine, RADIUS_SECRET, log, pki)
    finally:
        if proc is not None:
            _stop(proc)
        subprocess.run(["ip", "link", "del", outer], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _user_secret(method: str) -> str:
    _identity, secret = EAP_USERS[method]
    return secret if method == "psk" else f'"{secret}"'


_FREERADIUS_SETUP = r"""
set -e; D=$1; A=$2; C=$3; I=$4
rm -rf $D/raddb; mkdir -p $D/run $D/log; cp -a /etc/freeradius/3.0 $D/raddb; cd $D/raddb
sed -i -e "s#^raddbdir = .*#raddbdir = $D/raddb#" -e "s#^logdir = .*#logdir = $D/log#" \
       -e "s#^run_dir = .*#run_dir = $D/run#" \
       -e 's/^\(\s*\)\(user\|group\) = freerad/\1#\2 = freerad/' \
       -e 's/^\(\s*\)proxy_requests\s*=\s*yes/\1proxy_requests = no/' \
       -e 's/^\(\s*\)reject_delay = .*/\1reject_delay = 0/' radiusd.conf
sed -i -e 's/^\(\s*\)ipaddr = \*/\1ipaddr = 127.0.0.1/' \
       -e 's/^\(\s*\)ipv6addr = ::\(\s.*\)\?$/\1ipv6addr = ::1/' sites-available/default
perl -pi -e 'BEGIN{$n=0} s/^(\s*)port = 0\s*$/$1."port = ".((++$n % 2) ? '$A' : '$C')."\n"/e' \
     sites-available/default
sed -i -e "s/port = 18120/port = $I/" sites-available/inner-tunnel
printf 'md5user Cleartext-Password := "md5password"\n' | cat - mods-config/files/authorize > a.new
mv a.new mods-config/files/authorize
if [ -n "$5" ]; then sed -i -e "s#/etc/ssl/private/ssl-cert-snakeoil.key#$5/server.key#" \
   -e "s#/etc/ssl/certs/ssl-cert-snakeoil.pem#$5/server.pem#" \
   -e "s#/etc/ssl/certs/ca-certificates.crt#$5/ca.pem#" \
   -e 's/^\(\s*\)tls_max_version = "1.2"/\1tls_max_version = "1.3"/' mods-available/eap; fi
"""


@dataclass(frozen=True, slots=True)
class FreeRadius:
    """A running FreeRADIUS on 127.0.0.1 (client localhost, secret testing123)."""

    address: tuple[str, int]
    secret: bytes
    log: Path
    pki: Pki


@contextlib.contextmanager
def freeradius_server(
    tmp: Path,
    pki: Pki | None = None,
    *,
    proxy_to: tuple[tuple[str, int], bytes] | None = None,
    realm: str = "pana.test",
) -> Iterator[FreeRadius]:
    """FreeRADIUS in the foreground (-X) with a private copy of the Debian configuration.

    ``proxy_to=(address, secret)``: users ``...@realm`` are proxied to that RADIUS server (home
    server), FreeRADIUS's proxy socket bound to 127.0.0.1.
    """
    freeradius = need_binary("freeradius")
    tmp.mkdir(parents=True, exist_ok=True)
    pki = pki or make_pki(tmp / "pki")
    log = tmp / "freeradius.log"
    for attempt in range(3):  # random ports may be taken by someone else: pick new ones
        auth, acct, inner = (free_udp_port() for _ in range(3))
        setup = tmp / "setup.sh"
        setup.write_text(_FREERADIUS_SETUP)
        subprocess.run(
            ["bash", str(setup), str(tmp), str(auth), str(acct), str(inner), str(pki.dir)],
            check=True,
            capture_output=True,
        )
        if proxy_to is not None:
            _enable_proxy(tmp / "raddb", proxy_to, realm, free_udp_port())
        proc: subprocess.Popen[bytes] | None = None
        try:
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [freeradius, "-X", "-d", str(tmp / "raddb")],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_for(log, "Ready to process requests", proc, "freeradius")
            except RuntimeError:
                if attempt < 2 and "Address already in use" in log.read_text(errors="replace"):
                    continue
                raise
            yield FreeRadius(("127.0.0.1", auth), RADIUS_SECRET, log, pki)
            return
        finally:
            if proc is not None:
                _stop(proc)


def _enable_proxy(
    raddb: Path, home: tuple[tuple[str, int], bytes], realm: str, proxy_port: int
) -> None:
    (address, port), secret = home
    conf = raddb / "radiusd.conf"
    text = conf.read_text().replace("proxy_requests = no", "proxy_requests = yes")
    conf.write_text(text)
    with (raddb / "proxy.conf").open("a") as f:
        f.write(
            f"""
home_server pana_front {{
    type = auth
    ipaddr = {address}
    port = {port}
    secret = {secret.decode()}
    require_message_authenticator = yes
    response_window = 5
}}
home_server_pool pana_pool {{
    type = fail-over
    home_server = pana_front
}}
realm {realm} {{
    auth_pool = pana_pool
}}
"""
        )
    with (raddb / "sites-available" / "default").open("a") as f:
        # Without it FreeRADIUS opens its proxy socket on 0.0.0.0 at a random port.
        f.write(
            f"\nlisten {{\n    type = proxy\n    ipaddr = 127.0.0.1\n    port = {proxy_port}\n}}\n"
        )


@dataclass(frozen=True, slots=True)
class EapolResult:
    """What one eapol_test run reported."""

    returncode: int
    output: str
    msk: bytes | None
    """The MSK the peer derived ("... MSK - hexdump(len=64): ..."), if printed."""
    mppe_ok: bool
    """eapol_test compared its MSK with the MS-MPPE keys of the Access-Accept: equal."""

    @property
    def success(self) -> bool:
        """eapol_test's verdict: SUCCESS and exit code 0."""
        return self.returncode == 0 and "SUCCESS" in self.output


_MSK_LINE = re.compile(
    r"^(?:EAP-[A-Z0-9]+|EAP): (?:MSK|Derived key) - hexdump\(len=64\): ([0-9a-f ]+)$", re.M
)


def eapol_conf(
    tmp: Path,
    method: str,
    *,
    secret: str | None = None,
    pki: Pki | None = None,
    tls13: bool = False,
    identity: str | None = None,
) -> Path:
    """A one-network eapol_test configuration for ``method`` (md5, psk, gpsk, gpsk16, tls)."""
    default_identity, default = EAP_USERS[method]
    key = default if secret is None else secret
    name = identity or default_identity
    lines = [f'identity="{name}"', "key_mgmt=IEEE8021X", "eapol_flags=0"]
    if method == "tls":
        assert pki is not None, "EAP-TLS needs a PKI"
        lines += [
            "eap=TLS",
            f'ca_cert="{pki.ca}"',
            f'client_cert="{pki.client_cert}"',
            f'private_key="{pki.client_key}"',
            f'domain_match="{pki.server_name}"',
            # wpa_supplicant 2.10 leaves TLS 1.3 off for EAP-TLS unless phase1 enables it.
            f'phase1="tls_disable_tlsv1_3={0 if tls13 else 1}"',
        ]
    elif method == "psk":
        lines += ["eap=PSK", f"password={key}"]  # unquoted hex: the 16-octet PSK
    else:
        lines += [f"eap={method.upper().removesuffix('16')}", f'password="{key}"']
    conf = tmp / f"eapol-{method}.conf"
    conf.write_text("network={\n" + "".join(f"    {line}\n" for line in lines) + "}\n")
    return conf


def run_eapol_test(
    conf: Path,
    server: tuple[str, int],
    secret: bytes = RADIUS_SECRET,
    *,
    no_mppe: bool = False,
    extra: tuple[str, ...] = (),
) -> EapolResult:
    """Run eapol_test once against ``server`` and parse its verdict and MSK."""
    eapol_test = need_binary("eapol_test")
    cmd = [eapol_test, "-c", str(conf), "-a", server[0], "-p", str(server[1])]
    cmd += ["-s", secret.decode(), "-r0", "-t10", *(["-n"] if no_mppe else []), *extra]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    output = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    found = _MSK_LINE.findall(output)
    msk = bytes.fromhex(found[-1].replace(" ", "")) if found else None
    return EapolResult(proc.returncode, output, msk, "MPPE keys OK: 1  mismatch: 0" in output)


def kea6_server(
    lab: Lab,
    ns: str,
    workdir: Path,
    *,
    interface: str,
    address: str,
    subnet: str,
    pool: str,
    dns: str | None = None,
    pana_agent: str | None = None,
) -> subprocess.Popen[bytes]:
    """kea-dhcp6 in namespace ``ns`` serving ``subnet`` to relayed requests (ENVIRONMENT.md).

    It listens on the unicast ``address`` of ``interface`` (relays send there) and picks the
    subnet by the Relay-Forw's link-address. Server DUID type EN (PEN 32473), not persisted;
    leases in ``workdir``. Returns once it listens on port 547; the Lab stops it.
    """
    kea = need_binary("kea-dhcp6")
    options: list[dict[str, object]] = []
    if dns is not None:
        options.append({"name": "dns-servers", "data": dns})
    if pana_agent is not None:
        options.append({"code": 40, "space": "dhcp6", "name": "pana-agent", "data": pana_agent})
    conf = {
        "Dhcp6": {
            "interfaces-config": {"interfaces": [f"{interface}/{address}"]},
            "server-id": {"type": "EN", "enterprise-id": 32473, "identifier": "0102",
                          "persist": False},
            "data-directory": str(workdir),
            "lease-database": {"type": "memfile", "persist": True,
                               "name": str(workdir / "kea-leases6.csv"), "lfc-interval": 0},
            "preferred-lifetime": 1800,
            "valid-lifetime": 3600,
            "renew-timer": 900,
            "rebind-timer": 1400,
            "subnet6": [{"id": 1, "subnet": subnet, "pools": [{"pool": pool}],
                         "option-data": options}],
            "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "stdout"}],
                         "severity": "INFO"}],
        }
    }  # fmt: skip
    path = workdir / "kea-dhcp6.json"
    path.write_text(json.dumps(conf))
    env = {
        "KEA_PIDFILE_DIR": str(workdir),
        "KEA_LOCKFILE_DIR": str(workdir),
        "KEA_LOGGER_DESTINATION": "stdout",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    lab.exec(ns, "env", *(f"{k}={v}" for k, v in env.items()), kea, "-t", str(path))
    log = workdir / "kea-dhcp6.log"
    with log.open("wb") as out:
        proc = lab.spawn(ns, kea, "-c", str(path), env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20.0
    while f"[{address}]:547 " not in lab.exec(ns, "ss", "-6uln"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"kea-dhcp6 not listening:\n{log.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.02)
    return proc
