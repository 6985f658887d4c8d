"""Certificates and node keys (aiotwin.flower.pki) and the authorized-key store (aiotwin.flower.auth): no Flower."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aiotwin.flower.auth import AuthorizedNodes, NodeRegistrationError, authorize_node
from aiotwin.flower.pki import (
    CaFiles,
    PkiCertExpired,
    PkiError,
    PkiFileMissing,
    PkiFormatError,
    PkiKeyTypeError,
    ServerTls,
    cert_sans,
    check_validity,
    dev_pki,
    load_cert,
    load_node_key,
    load_node_private_key,
    load_node_public_key,
    load_server_tls,
    make_ca,
    make_server_cert,
    public_key_openssh,
    write_ca,
    write_node_key,
    write_server_cert,
)


def test_ca_and_server_certificate_for_the_given_sans(tmp_path):
    ca = write_ca(tmp_path)
    tls = write_server_cert(tmp_path, ca, ["127.0.0.1", "localhost", "gw-1.lan"], name="gw")
    cert = load_server_tls(tls)
    assert sorted(cert_sans(cert)) == sorted(["127.0.0.1", "localhost", "gw-1.lan"])
    assert cert.issuer == load_cert(ca.cert).subject
    assert tls.ca_cert == ca.cert and tls.cert.name == "gw.pem"
    for key in (ca.key, tls.key):
        assert key.stat().st_mode & 0o777 == 0o600
    assert load_cert(ca.cert).extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_dev_pki_reuses_its_ca(tmp_path):
    a = dev_pki(tmp_path, name="a")
    ca_before = a.ca_cert.read_bytes()
    b = dev_pki(tmp_path, name="b")
    assert b.ca_cert.read_bytes() == ca_before
    load_server_tls(a)
    load_server_tls(b)


def test_node_key_is_openssh_ecdsa_p384_private_0600_and_kept(tmp_path):
    files = write_node_key(tmp_path, name="cam-1", comment="cam-1")
    assert files.private.stat().st_mode & 0o777 == 0o600
    assert files.private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert files.public.read_text().startswith("ecdsa-sha2-nistp384 ") and files.public.read_text().strip().endswith(
        "cam-1")
    private = load_node_key(files)
    assert private.curve.name == "secp384r1"
    assert public_key_openssh(load_node_public_key(files.public)) == public_key_openssh(private.public_key())
    before = files.private.read_bytes()
    assert write_node_key(tmp_path, name="cam-1") == files and files.private.read_bytes() == before  # kept
    write_node_key(tmp_path, name="cam-1", overwrite=True)
    assert files.private.read_bytes() != before


def test_missing_files_are_typed(tmp_path):
    with pytest.raises(PkiFileMissing) as err:
        load_cert(tmp_path / "nope.pem")
    assert err.value.path == tmp_path / "nope.pem" and isinstance(err.value, PkiError)
    with pytest.raises(PkiFileMissing):
        load_node_private_key(tmp_path / "nope")
    with pytest.raises(PkiFileMissing):
        load_server_tls(ServerTls(tmp_path / "a", tmp_path / "b", tmp_path / "c"))


def test_not_pem_is_a_format_error(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    for load in (load_cert, load_node_private_key, load_node_public_key):
        with pytest.raises(PkiFormatError, match="not a"):
            load(junk)
    key = write_node_key(tmp_path)
    with pytest.raises(PkiFormatError):
        load_cert(key.public)  # a key where a certificate belongs


def test_wrong_key_types_are_refused(tmp_path):
    ed = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "ed").write_bytes(ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                   serialization.NoEncryption()))
    (tmp_path / "ed.pub").write_bytes(ed.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                    serialization.PublicFormat.OpenSSH))
    with pytest.raises(PkiKeyTypeError, match="ECDSA"):
        load_node_private_key(tmp_path / "ed")
    with pytest.raises(PkiKeyTypeError, match="ECDSA"):
        load_node_public_key(tmp_path / "ed.pub")
    ca = write_ca(tmp_path / "ca")
    tls = write_server_cert(tmp_path / "ca", ca, ["127.0.0.1"])
    (tmp_path / "ed.pem").write_bytes(ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    with pytest.raises(PkiKeyTypeError):
        load_server_tls(ServerTls(tls.ca_cert, tls.cert, tmp_path / "ed.pem"))


def test_expired_and_not_yet_valid_certificates(tmp_path):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    ca_cert, ca_key = make_ca(not_before=old, valid_days=1)
    path = tmp_path / "old.pem"
    path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(PkiCertExpired, match="expired"):
        load_cert(path)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    cert, _ = make_server_cert(ca_cert, ca_key, ["127.0.0.1"], not_before=future)
    with pytest.raises(PkiCertExpired, match="not valid before"):
        check_validity(cert)
    check_validity(cert, now=future + dt.timedelta(hours=1))


def test_mismatched_key_and_foreign_ca_are_format_errors(tmp_path):
    a = dev_pki(tmp_path / "a")
    b = dev_pki(tmp_path / "b")
    with pytest.raises(PkiFormatError, match="does not belong"):
        load_server_tls(ServerTls(a.ca_cert, a.cert, b.key))
    with pytest.raises(PkiFormatError, match="not signed by the CA"):
        load_server_tls(ServerTls(a.ca_cert, b.cert, b.key))
    k1, k2 = write_node_key(tmp_path, name="k1"), write_node_key(tmp_path, name="k2")
    k2.public.write_bytes(k1.public.read_bytes())
    with pytest.raises(PkiFormatError, match="does not belong"):
        load_node_key(k2)


def test_ip_sans_are_ip_addresses(tmp_path):
    ca_cert, ca_key = make_ca()
    cert, _ = make_server_cert(ca_cert, ca_key, ["::1", "10.0.0.2", "gw"])
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ext.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("::1"), ipaddress.ip_address("10.0.0.2")]
    assert ext.get_values_for_type(x509.DNSName) == ["gw"]
    with pytest.raises(ValueError, match="at least one"):
        make_server_cert(ca_cert, ca_key, [])
    assert isinstance(CaFiles(tmp_path, tmp_path), CaFiles)


def test_authorized_nodes_store_keys_by_name(tmp_path):
    store = AuthorizedNodes(tmp_path / "gw")
    a, b = write_node_key(tmp_path / "a"), write_node_key(tmp_path / "b")
    path = store.add(a.public, "cam-0")
    assert path == tmp_path / "gw" / "authorized-nodes" / "cam-0.pub"
    assert public_key_openssh(load_node_public_key(path)) == public_key_openssh(load_node_public_key(a.public))
    with pytest.raises(NodeRegistrationError, match="already authorized as 'cam-0'"):
        store.add(a.public, "cam-9")
    store.add(b.public, "cam-0")  # the node made a new key: replaces the old one
    assert [n for n, _ in store.entries()] == ["cam-0"]
    store.add(a.public)  # default name: the file's stem
    assert [n for n, _ in store.entries()] == ["cam-0", "flwr-node"]
    with pytest.raises(ValueError, match="node name"):
        store.add(a.public, "../evil")
    with pytest.raises(PkiError):
        store.add(tmp_path / "a" / "flwr-node", "priv")  # a private key is not a public key
    assert store.remove("cam-0") and not store.remove("cam-0")


def test_authorize_without_a_superlink_only_stores(tmp_path):
    key = write_node_key(tmp_path / "k")
    reg = authorize_node(tmp_path / "gw", key.public, name="cam-0")
    assert reg.node_id is None and "no SuperLink" in (reg.error or "")
    assert reg.public_key.is_file()
