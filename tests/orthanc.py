"""A real Orthanc PACS for the tests: Debian's `orthanc` package (installed by `make test`), started on loopback
with a generated configuration (its own AE title, free ports, a temporary storage folder)."""

from __future__ import annotations

import base64
import ctypes
import io
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from viewer.pacs.nodes import PacsNode, PacsSettings

PACS_AE, VIEWER_AE = "ORTHANC_TEST", "SADNN_TEST"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_binary() -> str:
    """The Orthanc executable, or a skip saying why there is none (CI installs it: .ci/run)."""
    found = shutil.which("Orthanc") or next((p for p in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(p).exists()), None)
    if found is None:
        pytest.skip("Orthanc is not installed: `make test` installs Debian's orthanc package where apt-get is "
                    "available to root (apt-get install orthanc orthanc-dicomweb)")
    return found


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills this server when the test process dies, even by a hard crash that
    skips fixture teardown (Linux PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Orthanc:
    """One Orthanc process with its own storage; ``stop``/``kill``/``start`` keep the storage."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, tls: dict[str, Path] | None = None):
        """``users``: logins (user -> password) that its HTTP API and DICOMweb then require; ``tls``: ``make_pki``'s
        files, for DICOM over TLS only, with a client certificate signed by its CA required; neither by default."""
        self.folder = Path(folder)
        self.users = dict(users or {})
        self.dicom_port, self.http_port, self.store_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None
        (self.folder / "storage").mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "sadnn-test", "StorageDirectory": str(self.folder / "storage"), "IndexDirectory": str(self.folder / "storage"),
            "DicomAet": PACS_AE, "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": bool(self.users), "RegisteredUsers": self.users,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": False, "DicomAlwaysAllowStore": False, "DicomCheckModalityHost": False,
            "DicomModalities": {"viewer": [VIEWER_AE, "127.0.0.1", self.store_port]},
            "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.exists() else [],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpCompressionEnabled": False, "StorageCompression": False, "ConcurrentJobs": 1,
        }
        if tls:
            config.update({"DicomTlsEnabled": True, "DicomTlsCertificate": str(tls["server_crt"]),
                           "DicomTlsPrivateKey": str(tls["server_key"]), "DicomTlsTrustedCertificates": str(tls["ca_crt"]),
                           "DicomTlsRemoteCertificateRequired": True})
        (self.folder / "orthanc.json").write_text(json.dumps(config, indent=1))

    def start(self) -> None:
        with open(self.folder / "orthanc.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen([orthanc_binary(), str(self.folder / "orthanc.json")], cwd=self.folder,
                                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                self.rest("/system")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not start within 30 s")

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed PACS does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    # its REST API (for loading the samples and checking what arrived, never for what the viewer does)
    def rest(self, path: str, payload: bytes | None = None, method: str | None = None):
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=payload, method=method)
        for user, password in list(self.users.items())[:1]:
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body and answer.headers.get_content_type() == "application/json" else body

    def upload(self, dataset_or_path) -> str:
        """Store one instance through the REST API; its Orthanc ID."""
        if isinstance(dataset_or_path, (str, Path)):
            payload = Path(dataset_or_path).read_bytes()
        else:
            buffer = io.BytesIO()
            dataset_or_path.save_as(buffer, enforce_file_format=True)
            payload = buffer.getvalue()
        return self.rest("/instances", payload)["ID"]

    def node(self) -> PacsNode:
        return PacsNode("Test PACS", PACS_AE, "127.0.0.1", self.dicom_port)

    def web_node(self) -> PacsNode:
        """The same server over DICOMweb (the orthanc-dicomweb plugin)."""
        if not DICOMWEB_PLUGIN.exists():
            pytest.skip("the orthanc-dicomweb package is not installed (make test installs it with orthanc)")
        return PacsNode("Test PACS web", "", "", 0, f"http://127.0.0.1:{self.http_port}/dicom-web")

    def settings(self, **changes) -> PacsSettings:
        return PacsSettings(**{"ae_title": VIEWER_AE, "store_port": self.store_port, "timeout_s": 10.0, **changes})


def make_pki(folder: Path) -> dict[str, Path]:
    """A certificate authority, a server certificate for 127.0.0.1/localhost and a client certificate signed by it,
    and a second, unrelated authority (PEM files in ``folder``)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def certificate(name, key, issuer_name, issuer_key, ca=False, extensions=()):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(name, cert, key):
        (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))

    files = {}
    for authority in ("ca", "rogue_ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Test {authority}")])
        cert = certificate(f"Test {authority}", key, name, key, ca=True,
                           extensions=[x509.SubjectKeyIdentifier.from_public_key(key.public_key())])
        write(authority, cert, key)
        files[authority] = (cert, key)
    ca_cert, ca_key = files["ca"]
    authority_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    for name, usage, alt in (("server", ExtendedKeyUsageOID.SERVER_AUTH,
                              [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                             ("client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("viewer.test")])):
        key = ec.generate_private_key(ec.SECP256R1())
        write(name, certificate(f"Test {name}", key, ca_cert.subject, ca_key,
                                extensions=[x509.ExtendedKeyUsage([usage]), x509.SubjectAlternativeName(alt), authority_id]), key)
    return {f"{name}_{kind}": folder / f"{name}.{kind}" for name in ("ca", "rogue_ca", "server", "client") for kind in ("crt", "key")}
