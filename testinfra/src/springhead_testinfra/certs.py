"""Throwaway certificates made with the ``openssl`` command line.

Everything is written into a run folder and lives as long as that run: a CA, serving and client
certificates signed by it (EC P-256), PKCS#12 key stores for Java, and RSA signing key pairs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .process import require_tool, run_step

_DAYS = 30
_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = {cn}

[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = {eku}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
{san}
"""


@dataclass(frozen=True)
class CertKey:
    """A PEM certificate and its PEM (PKCS#8, unencrypted) private key."""

    cert: Path
    key: Path


def _openssl() -> str:
    return require_tool("openssl", "install it (Debian: apt-get install openssl)")


def _config(folder: Path, name: str, cn: str, eku: str = "serverAuth", sans: str = "") -> Path:
    path = folder / f"{name}.cnf"
    san_line = f"subjectAltName = {sans}" if sans else ""
    path.write_text(_CONFIG.format(cn=cn, eku=eku, san=san_line))
    return path


def make_ca(
    folder: Path, name: str = "ca", common_name: str = "springhead-testinfra CA"
) -> CertKey:
    """Make a self-signed certificate authority (``<name>.crt``, ``<name>.key``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = _config(folder, name, common_name)
    pair = CertKey(folder / f"{name}.crt", folder / f"{name}.key")
    run_step(
        [
            _openssl(), "req", "-x509", "-new", "-config", config, "-extensions", "ca",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", pair.key, "-out", pair.cert, "-days", str(_DAYS),
        ],
        what=f"openssl: CA {name}",
        log_path=folder / "openssl.log",
    )  # fmt: skip
    pair.key.chmod(0o600)
    return pair


def issue(
    folder: Path,
    name: str,
    ca: CertKey,
    *,
    common_name: str,
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
    server: bool = True,
    client: bool = False,
) -> CertKey:
    """Issue a certificate signed by ``ca`` for ``common_name`` with the given SANs and usages."""
    usages = [usage for usage, wanted in (("serverAuth", server), ("clientAuth", client)) if wanted]
    sans = ",".join([f"IP:{ip}" for ip in ips] + [f"DNS:{name}" for name in dns])
    config = _config(folder, name, common_name, eku=",".join(usages), sans=sans)
    pair = CertKey(folder / f"{name}.crt", folder / f"{name}.key")
    csr = folder / f"{name}.csr"
    log = folder / "openssl.log"
    run_step(
        [
            _openssl(), "req", "-new", "-config", config,
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", pair.key, "-out", csr,
        ],
        what=f"openssl: key and request {name}",
        log_path=log,
    )  # fmt: skip
    run_step(
        [
            _openssl(), "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
            "-set_serial", "0x" + secrets.token_hex(16), "-days", str(_DAYS),
            "-extfile", config, "-extensions", "leaf", "-out", pair.cert,
        ],
        what=f"openssl: sign {name}",
        log_path=log,
    )  # fmt: skip
    pair.key.chmod(0o600)
    return pair


def pkcs12(pair: CertKey, ca: CertKey, path: Path, password: str, alias: str) -> Path:
    """Bundle ``pair`` (with the CA in its chain) into a password-protected PKCS#12 key store."""
    run_step(
        [
            _openssl(), "pkcs12", "-export", "-in", pair.cert, "-inkey", pair.key,
            "-certfile", ca.cert, "-name", alias, "-out", path, "-passout", f"pass:{password}",
        ],
        what=f"openssl: PKCS#12 {path.name}",
        log_path=path.parent / "openssl.log",
    )  # fmt: skip
    path.chmod(0o600)
    return path


def rsa_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """Make an RSA-2048 key pair; return (private key PEM, public key PEM)."""
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    log = folder / "openssl.log"
    run_step(
        [_openssl(), "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", private],
        what=f"openssl: RSA key {name}",
        log_path=log,
    )  # fmt: skip
    run_step(
        [_openssl(), "pkey", "-in", private, "-pubout", "-out", public],
        what=f"openssl: public key {name}",
        log_path=log,
    )
    private.chmod(0o600)
    return private, public
