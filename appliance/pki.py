"""A small certificate authority (site CA, hub CA), CSRs, fingerprints and HTTPS pinned to a CA fingerprint."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825


class PinMismatch(ValueError):
    """The peer's CA is not the one the token pins: maybe the wrong address, maybe someone in between."""


class PeerError(RuntimeError):
    """The peer answered with an error, or could not be reached; the message says which."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def fingerprint(cert_pem: str | bytes) -> str:
    """sha256:<hex> of the certificate's DER encoding (what tokens pin and what the wizard shows)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_key_and_csr(common_name: str) -> tuple[str, str]:
    """A fresh P-256 key (never leaves this box) and a CSR for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return _key_pem(key), csr.public_bytes(serialization.Encoding.PEM).decode()


def common_name(cert_pem: str) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def key_matches(cert: x509.Certificate, key) -> bool:
    """Whether the private key is the certificate's (their public keys are the same)."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


class CertificateAuthority:
    """ca.key (0600) and ca.crt in one directory; issues leaf certificates for CSRs it was given."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.key_path = self.directory / "ca.key"
        self.cert_path = self.directory / "ca.crt"

    def exists(self) -> bool:
        return self.key_path.exists() and self.cert_path.exists()

    @classmethod
    def create(cls, directory: Path, name: str) -> "CertificateAuthority":
        ca = cls(directory)
        if ca.exists():
            return ca
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Egret"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        ca.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(ca.directory, 0o700)
        write_private(ca.key_path, _key_pem(key))
        ca.cert_path.write_text(cert.public_bytes(serialization.Encoding.PEM).decode())
        return ca

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_pem)

    def issue(self, csr_pem: str, name: str, *, sans: list[str] = (), days: int = LEAF_DAYS) -> str:
        """A certificate for the CSR's key, named `name` (the CSR's own subject is not trusted), for TLS both ways."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("the certificate request's signature is invalid")
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        alt = []
        for san in [name, *sans]:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                alt.append(x509.DNSName(san))
        now = _now()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(alt))), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def ensure_leaf(self, cert_path: Path, key_path: Path, name: str, sans: list[str] = ()) -> None:
        """This box's own certificate: issued once and kept, reissued if another CA signed it or a SAN is new."""
        if cert_path.exists() and key_path.exists() and verifies(cert_path.read_text(), self.cert_pem):
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            have = {str(v.value) for v in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}
            if common_name(cert_path.read_text()) == name and set(map(str, sans)) <= have:
                return
        key_pem, csr_pem = new_key_and_csr(name)
        write_private(key_path, key_pem)
        cert_path.write_text(self.issue(csr_pem, name, sans=list(sans)))


def verifies(cert_pem: str, ca_pem: str) -> bool:
    """True if cert_pem was signed by the CA in ca_pem."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:  # InvalidSignature, a wrong key type, a malformed PEM: all mean "not issued by this CA"
        return False


def tls_files(settings, unit_state_dir: str) -> dict[str, Path]:
    """Where a TLS unit keeps its server certificate, key and the CA its clients' certificates must chain to."""
    base = Path(settings.state_dir) / unit_state_dir / "tls"
    return {"cert": base / "server.crt", "key": base / "server.key", "ca": base / "ca.crt"}


def install_server_tls(settings, unit_state_dir: str, ca: CertificateAuthority, name: str,
                       sans: list[str] = (), client_ca_pem: str | None = None) -> dict[str, Path]:
    """This unit's server certificate from `ca` (issued once) and its client trust root, where gunicorn reads them."""
    files = tls_files(settings, unit_state_dir)
    files["cert"].parent.mkdir(parents=True, exist_ok=True)
    ca.ensure_leaf(files["cert"], files["key"], name, sans)
    ca_pem = client_ca_pem or ca.cert_pem
    if not files["ca"].exists() or files["ca"].read_text() != ca_pem:
        files["ca"].write_text(ca_pem)
    return files


# --- HTTPS between boxes --------------------------------------------------------------------------------
def client_context(ca_pem: str | None, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """TLS that trusts exactly one CA (or, with None, nothing: only to fetch a CA whose fingerprint we pin).

    Host names are not checked: the trust root is a private CA pinned by fingerprint, and every certificate it
    issues belongs to a box of the same site or hub; boxes are often reached by an address the cert lacks.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    if ca_pem is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=ca_pem)
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def request(method: str, url: str, *, ca_pem: str | None, body: dict | None = None,
            cert: tuple[Path, Path] | None = None, timeout: float = 15.0) -> dict:
    """One JSON request over HTTPS to a peer; PeerError with the peer's own message on failure."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=client_context(ca_pem, cert)) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", {}).get("message") or exc.reason
        except (ValueError, AttributeError):
            message = exc.reason
        raise PeerError(f"{url} refused: {message} (HTTP {exc.code})", status=exc.code) from None
    except OSError as exc:  # URLError and SSLError are OSErrors
        reason = getattr(exc, "reason", exc)
        raise PeerError(f"cannot reach {url}: {reason}") from None


def fetch_pinned_ca(base_url: str, expected: str, path: str = "/ca") -> str:
    """The peer's CA certificate, only if its fingerprint is the one the token pins (then used as trust root)."""
    answer = request("GET", base_url.rstrip("/") + path, ca_pem=None)
    ca_pem = answer.get("ca_certificate", "")
    try:
        got = fingerprint(ca_pem)
    except ValueError:
        raise PeerError(f"{base_url} sent no valid CA certificate") from None
    if got != expected:
        raise PinMismatch(f"The peer at {base_url} presents CA {got}, but the token pins {expected}: "
                          "this is not the box that issued the token. Nothing was changed.")
    # the CA must also be the one that signed the TLS server we are talking to
    request("GET", base_url.rstrip("/") + path, ca_pem=ca_pem)
    return ca_pem


def peer_certificate(environ) -> dict | None:
    """The verified client certificate of this request (gunicorn TLS with --cert-reqs 1; werkzeug's server in
    tests), or None."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    return getpeercert() if getpeercert else None


def peer_name(environ) -> str | None:
    cert = peer_certificate(environ)
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


# --- the box's own APIs over HTTPS ([tls] enabled) ---------------------------------------------------------
def api_tls_files(settings) -> dict[str, Path]:
    """The certificate every API unit serves, its key, and the CA clients trust (clouds.yaml's cacert).
    An `operator` marker next to them means an operator installed their own: never replaced by the box."""
    base = Path(settings.state_dir) / "tls"
    return {"cert": base / "server.crt", "key": base / "server.key", "ca": base / "ca.crt",
            "operator": base / "operator.json"}


def wizard_tls_files(settings) -> dict[str, Path]:
    """The wizard's self-signed certificate (before setup there is no CA yet; the console shows its fingerprint)."""
    base = Path(settings.state_dir) / "firstboot" / "tls-wizard"
    return {"dir": base, "cert": base / "wizard.crt", "key": base / "wizard.key"}


def api_sans(settings) -> list[str]:
    """Names the API certificate must cover: loopback, the public host the catalog names, this host, extras."""
    names = ["127.0.0.1", "::1", "localhost", settings.public_host, socket.gethostname(),
             *settings.tls.get("sans", [])]
    return sorted({str(n) for n in names if n})


def node_name(settings) -> str:
    """This box's name in a site and in its certificates (setting [service.cluster] node_name, else the host)."""
    return settings.section("cluster").get("node_name") or socket.gethostname().split(".")[0]


def box_ca(settings) -> CertificateAuthority:
    """Every box has a CA from its first start (it signs the API certificate); founding a site makes it the
    site CA, so it lives in the cluster unit's state directory."""
    return CertificateAuthority.create(Path(settings.state_dir) / "cluster" / "ca", f"Egret {node_name(settings)}")


def ensure_api_tls(settings) -> dict[str, Path]:
    """Issue (once; again when a name is new) the API certificate from the box CA, unless an operator's is in."""
    files = api_tls_files(settings)
    if files["operator"].exists():
        return files
    ca = box_ca(settings)
    files["cert"].parent.mkdir(parents=True, exist_ok=True)
    ca.ensure_leaf(files["cert"], files["key"], f"egret-api-{node_name(settings)}", api_sans(settings))
    if not files["ca"].exists() or files["ca"].read_text() != ca.cert_pem:
        files["ca"].write_text(ca.cert_pem)
    return files


def install_operator_tls(settings, cert_pem: str, key_pem: str, ca_pem: str | None = None) -> dict:
    """An operator's own certificate (and the CA that signed it, or the cert itself if self-signed) for every API.
    Refused unless the key matches the certificate and the certificate chains to the given CA."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem.encode())
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate and unencrypted PEM private key: {exc}") from None
    leaf = certs[0]
    if not key_matches(leaf, key):
        raise ValueError("the private key does not belong to the certificate")
    trust = ca_pem or cert_pem
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cadata=trust)
    except ssl.SSLError as exc:
        raise ValueError(f"the CA file holds no usable certificate: {exc}") from None
    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in certs]
    # the file may carry intermediates after the leaf: each must be issued by the next, the last by the CA
    chain_ok = all(verifies(pems[i], pems[i + 1]) for i in range(len(pems) - 1))
    if ca_pem and not (chain_ok and verifies(pems[-1], ca_pem)):
        raise ValueError("the certificate was not issued by the given CA")
    files = api_tls_files(settings)
    files["cert"].parent.mkdir(parents=True, exist_ok=True)
    write_private(files["key"], key_pem)
    files["cert"].write_text(cert_pem)
    files["ca"].write_text(trust)
    info = {"fingerprint": fingerprint(cert_pem), "subject": leaf.subject.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat() if hasattr(leaf, "not_valid_after_utc")
            else leaf.not_valid_after.isoformat()}
    files["operator"].write_text(json.dumps(info, indent=1))
    return info


def ensure_wizard_tls(settings) -> dict[str, Path]:
    """A self-signed certificate for the wizard (kept across restarts, so the fingerprint on the console holds)."""
    files = wizard_tls_files(settings)
    if files["cert"].exists() and files["key"].exists():
        return files
    # the console banner and the wizard unit may both get here at boot: each writes a whole directory and renames
    # it into place; the loser's rename fails and it uses the winner's, so the fingerprint shown is the one served
    tmp = files["dir"].with_name(f".tls-wizard-{os.getpid()}")
    files = {**files, "cert": tmp / "wizard.crt", "key": tmp / "wizard.key"}
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Egret setup wizard")])
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    tmp.mkdir(parents=True, exist_ok=True)
    write_private(files["key"], _key_pem(key))
    files["cert"].write_text(cert.public_bytes(serialization.Encoding.PEM).decode())
    try:
        os.rename(tmp, files["dir"])
    except OSError:  # another process was first
        shutil.rmtree(tmp, ignore_errors=True)
    return wizard_tls_files(settings)


def browser_fingerprint(cert_pem: str) -> str:
    """SHA-256 of the certificate as browsers show it (AB:CD:...), for the console next to the setup code."""
    digest = fingerprint(cert_pem).split(":", 1)[1].upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))

def unit_tls_args(settings, unit) -> list[str]:
    """gunicorn's TLS arguments for a unit that is not TLS by itself, when the box serves every API over TLS."""
    if not settings.tls_enabled:
        return []
    files = wizard_tls_files(settings) if unit.service == "firstboot" else api_tls_files(settings)
    return ["--certfile", str(files["cert"]), "--keyfile", str(files["key"])]


def verify_arg(settings) -> str | bool:
    """What `requests` should verify this box's own APIs against: the CA file in TLS mode."""
    return str(api_tls_files(settings)["ca"]) if settings.tls_enabled else True
