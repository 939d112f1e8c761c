"""The access check's TLS handshake through a forwarded channel (labctl.tools.gateway_probe._tls),
against a real TLS server on a loopback socket: a CA-signed certificate for 127.0.0.1 verifies,
one from another CA does not, and plain TCP (the K3s test double's API) is said to be no TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labctl.tools.gateway_probe import _tls

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("k3s-server-ca"))
        .issuer_name(_name("k3s-server-ca"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server_files(
    tmp: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("k3s"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + day)
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "server.crt", tmp / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(cert_file), str(key_file)


def _serve(handle: Callable[[socket.socket], None]) -> int:
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            handle(conn)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return port


def _tls_server(cert: str, key: str) -> Callable[[socket.socket], None]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handle(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    return handle


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_of_the_labs_ca_for_127_0_0_1_verifies(tmp_path: Path) -> None:
    ca_key, ca = _ca()
    port = _serve(_tls_server(*_server_files(tmp_path, ca_key, ca)))
    with socket.create_connection(("127.0.0.1", port)) as channel:
        assert _tls(channel, _pem(ca)) == "TLS handshake verified against the lab's CA"  # type: ignore[arg-type]


def test_a_certificate_of_another_ca_is_refused(tmp_path: Path) -> None:
    ca_key, ca = _ca()
    _, other = _ca()
    port = _serve(_tls_server(*_server_files(tmp_path, ca_key, ca)))
    with socket.create_connection(("127.0.0.1", port)) as channel:
        result = _tls(channel, _pem(other))  # type: ignore[arg-type]
    assert result.startswith("TLS: ")
    assert "CERTIFICATE_VERIFY_FAILED" in result


def test_plain_tcp_is_not_tls() -> None:
    _, ca = _ca()

    def json_line_api(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b'{"ok": false, "error": "not json"}\n')

    port = _serve(json_line_api)
    with socket.create_connection(("127.0.0.1", port)) as channel:
        result = _tls(channel, _pem(ca))  # type: ignore[arg-type]
    assert result.startswith("TLS: ")
    assert "verified" not in result
