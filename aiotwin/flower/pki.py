"""Certificates and node keys of the FL tiers: TLS for every SuperLink, Flower's SuperNode keys.

Two kinds of material (docs/fl.md, "TLS and node authentication"):

- **TLS**: a CA (:func:`write_ca`) signs each SuperLink's server certificate (:func:`write_server_cert`,
  SANs = the addresses SuperNodes and the ``flwr`` CLI dial). A SuperLink gets the CA, its certificate
  and its key (:class:`ServerTls`); SuperNodes and the CLI get the CA certificate only
  (``--root-certificates``; Flower does no mutual TLS).
- **Node keys**: each SuperNode has its own ECDSA key pair (:func:`write_node_key`, NIST P-384 as
  Flower's docs use), both in OpenSSH format, which is what ``flower-supernode
  --auth-supernode-private-key`` and ``flwr supernode register`` read. The public key is registered
  with a SuperLink (:mod:`aiotwin.flower.auth`); the private key never leaves the node.

Private keys are written with mode 0600. Loading checks what Flower would only find out at run
time, with one typed error each: :class:`PkiFileMissing`, :class:`PkiFormatError` (not PEM/OpenSSH,
unparsable, key and certificate do not match), :class:`PkiKeyTypeError` (not an ECDSA key on a NIST
curve), :class:`PkiCertExpired` (expired or not yet valid). Nothing here imports flwr.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aiotwin.flower._exceptions import FlowerError

CA_DAYS = 3650
SERVER_DAYS = 825
NODE_CURVE = ec.SECP384R1  # what Flower's node-authentication docs generate (ssh-keygen -t ecdsa -b 384)
NIST_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what flwr accepts for node keys
PRIVATE_MODE = 0o600
_T = TypeVar("_T")


class PkiError(FlowerError):
    """Base of the errors about certificates and keys; ``path`` names the file."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


class PkiFileMissing(PkiError):
    """A certificate or key file does not exist (or cannot be read)."""


class PkiFormatError(PkiError):
    """A file is not a PEM/OpenSSH certificate or key, or a key does not belong to its certificate."""


class PkiKeyTypeError(PkiError):
    """A key is of the wrong type (node keys: ECDSA on a NIST curve; TLS keys: EC or RSA)."""


class PkiCertExpired(PkiError):
    """A certificate is expired or not valid yet."""


@dataclass(frozen=True)
class CaFiles:
    """A CA: its certificate (handed to every SuperNode and CLI) and its private key (kept by who signs)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ServerTls:
    """What a SuperLink serves TLS with: ``--ssl-ca-certfile``, ``--ssl-certfile``, ``--ssl-keyfile``."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class NodeKey:
    """A SuperNode's Flower key pair (OpenSSH format): the private key stays, the public key is registered."""

    private: Path
    public: Path


# -- generation ------------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aiotwin"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` atomically; private keys are created 0600 and never world-readable in between."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if private:
        tmp.chmod(PRIVATE_MODE)  # O_CREAT's mode is masked by the umask; make it exact
    tmp.replace(path)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def san_entries(names: Sequence[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP literals as IP addresses, everything else as DNS names."""
    out: list[x509.GeneralName] = []
    for name in names:
        if not name:
            raise ValueError("empty subject alternative name")
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def make_ca(common_name: str = "aiotwin FL CA", *, valid_days: int = CA_DAYS,
            not_before: dt.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its P-384 key (in memory)."""
    key = ec.generate_private_key(ec.SECP384R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA384()))
    return cert, key


def make_server_cert(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, sans: Sequence[str], *,
                     common_name: str | None = None, valid_days: int = SERVER_DAYS,
                     not_before: dt.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate for ``sans`` (IPs and host names) signed by the CA, and its P-256 key."""
    if not sans:
        raise ValueError("a server certificate needs at least one subject alternative name")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name or sans[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=valid_days))
            .add_extension(x509.SubjectAlternativeName(san_entries(sans)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA384()))
    return cert, key


def write_ca(directory: Path, *, common_name: str = "aiotwin FL CA", valid_days: int = CA_DAYS) -> CaFiles:
    """``ca.pem`` and ``ca.key`` (0600) under ``directory``."""
    cert, key = make_ca(common_name, valid_days=valid_days)
    return CaFiles(_write(directory / "ca.pem", _cert_pem(cert)),
                   _write(directory / "ca.key", _key_pem(key), private=True))


def write_server_cert(directory: Path, ca: CaFiles, sans: Sequence[str], *, name: str = "superlink",
                      valid_days: int = SERVER_DAYS) -> ServerTls:
    """``<name>.pem`` and ``<name>.key`` (0600) for ``sans``, signed by ``ca``; returns the SuperLink's TLS files."""
    ca_cert = load_cert(ca.cert)
    ca_key = _load_ec_private_pem(ca.key)
    cert, key = make_server_cert(ca_cert, ca_key, sans, valid_days=valid_days)
    return ServerTls(ca.cert, _write(directory / f"{name}.pem", _cert_pem(cert)),
                     _write(directory / f"{name}.key", _key_pem(key), private=True))


def node_key_bytes(key: ec.EllipticCurvePrivateKey, comment: str = "") -> tuple[bytes, bytes]:
    """The OpenSSH private and public key bytes of a node key (what Flower reads)."""
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public + (f" {comment}".encode() if comment else b"") + b"\n"


def write_node_key(directory: Path, *, name: str = "flwr-node", comment: str = "",
                   overwrite: bool = False) -> NodeKey:
    """A new ECDSA P-384 node key: ``<name>`` (0600) and ``<name>.pub`` in OpenSSH format.

    An existing key is kept (and validated) unless ``overwrite``: a node's identity at its SuperLink
    is its public key, so regenerating it means registering again.
    """
    files = NodeKey(directory / name, directory / f"{name}.pub")
    if files.private.exists() and not overwrite:
        load_node_private_key(files.private)
        if not files.public.exists():
            _, public = node_key_bytes(load_node_private_key(files.private), comment)
            _write(files.public, public)
        return files
    private, public = node_key_bytes(ec.generate_private_key(NODE_CURVE()), comment)
    _write(files.private, private, private=True)
    _write(files.public, public)
    return files


# -- loading and validation ------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PkiFileMissing("no such file", path=path) from None
    except OSError as exc:
        raise PkiFileMissing(f"cannot read: {exc.strerror or exc}", path=path) from exc


def _parse(path: Path, what: str, parse: Callable[[bytes], _T]) -> _T:
    data = _read(path)
    try:
        return parse(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiFormatError(f"not a {what} ({exc})", path=path) from exc


def load_cert(path: Path, *, now: dt.datetime | None = None) -> x509.Certificate:
    """A PEM certificate, valid at ``now`` (default: the current time)."""
    cert = _parse(path, "PEM certificate", x509.load_pem_x509_certificate)
    check_validity(cert, path, now=now)
    return cert


def check_validity(cert: x509.Certificate, path: Path | None = None, *, now: dt.datetime | None = None) -> None:
    """:class:`PkiCertExpired` unless ``now`` is inside the certificate's validity period."""
    at = now or _now()
    if at > cert.not_valid_after_utc:
        raise PkiCertExpired(f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", path=path)
    if at < cert.not_valid_before_utc:
        raise PkiCertExpired(f"certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                             path=path)


def _load_ec_private_pem(path: Path) -> ec.EllipticCurvePrivateKey:
    key = _parse(path, "PEM private key", lambda data: serialization.load_pem_private_key(data, password=None))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiKeyTypeError(f"expected an EC private key, got {type(key).__name__}", path=path)
    return key


def _check_node_curve(curve: ec.EllipticCurve, path: Path) -> None:
    if curve.name not in NIST_CURVES:
        raise PkiKeyTypeError(f"ECDSA curve {curve.name} is not a NIST curve Flower accepts ({', '.join(NIST_CURVES)})",
                              path=path)


def load_node_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A node's OpenSSH ECDSA private key (what ``--auth-supernode-private-key`` reads)."""
    key = _parse(path, "OpenSSH private key",
                 lambda data: serialization.load_ssh_private_key(data, password=None))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiKeyTypeError(f"expected an ECDSA key, got {type(key).__name__}", path=path)
    _check_node_curve(key.curve, path)
    return key


def load_node_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """A node's OpenSSH ECDSA public key (what ``flwr supernode register`` reads)."""
    key = _parse(path, "OpenSSH public key", serialization.load_ssh_public_key)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise PkiKeyTypeError(f"expected an ECDSA key, got {type(key).__name__}", path=path)
    _check_node_curve(key.curve, path)
    return key


def public_key_openssh(key: ec.EllipticCurvePublicKey) -> str:
    """``ecdsa-sha2-nistp384 AAAA…``: how a node's identity is shown and compared."""
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


def load_node_key(files: NodeKey) -> ec.EllipticCurvePrivateKey:
    """The private key, checked against the public key next to it (a mismatch is :class:`PkiFormatError`)."""
    private = load_node_private_key(files.private)
    if files.public.exists():
        public = load_node_public_key(files.public)
        if public_key_openssh(public) != public_key_openssh(private.public_key()):
            raise PkiFormatError(f"public key {files.public} does not belong to this private key", path=files.private)
    return private


def load_server_tls(files: ServerTls, *, now: dt.datetime | None = None) -> x509.Certificate:
    """Check a SuperLink's TLS files: CA and certificate valid, key matching, certificate signed by the CA."""
    ca = load_cert(files.ca_cert, now=now)
    cert = load_cert(files.cert, now=now)
    key = _parse(files.key, "PEM private key", lambda data: serialization.load_pem_private_key(data, password=None))
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiKeyTypeError(f"expected an EC or RSA private key, got {type(key).__name__}", path=files.key)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise PkiFormatError(f"key does not belong to certificate {files.cert}", path=files.key)
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiFormatError(f"certificate is not signed by the CA {files.ca_cert}", path=files.cert) from exc
    return cert


def cert_sans(cert: x509.Certificate) -> list[str]:
    """The certificate's subject alternative names (IPs and DNS names) as strings."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in ext.get_values_for_type(x509.IPAddress)] + list(ext.get_values_for_type(x509.DNSName))


def dev_pki(directory: Path, sans: Sequence[str] = ("127.0.0.1", "localhost"), *,
            name: str = "superlink") -> ServerTls:
    """A CA (reused if ``directory`` has one) and a server certificate for ``sans``: tests and experiments."""
    ca = CaFiles(directory / "ca.pem", directory / "ca.key")
    if not (ca.cert.exists() and ca.key.exists()):
        ca = write_ca(directory)
    return write_server_cert(directory, ca, sans, name=name)


__all__ = [
    "CA_DAYS", "NIST_CURVES", "NODE_CURVE", "SERVER_DAYS", "CaFiles", "NodeKey", "PkiCertExpired", "PkiError",
    "PkiFileMissing", "PkiFormatError", "PkiKeyTypeError", "ServerTls", "cert_sans", "check_validity", "dev_pki",
    "load_cert", "load_node_key", "load_node_private_key", "load_node_public_key", "load_server_tls", "make_ca",
    "make_server_cert", "node_key_bytes", "public_key_openssh", "san_entries", "write_ca", "write_node_key",
    "write_server_cert",
]
