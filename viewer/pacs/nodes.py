"""The PACS nodes this viewer talks to and its own DICOM identity, kept in the user's configuration folder.

The file holds AE titles, hosts, ports, DICOMweb addresses and user names: DICOM networking (DIMSE) has no
passwords, and no field of this format can hold one; a DICOMweb password lives in the operating system's password
store (``credentials``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from engine.runtime.atomic import write_atomic
from engine.runtime.errors import EngineError

SETTINGS_FILE = "pacs.json"
LOOPBACK = ("localhost", "127.0.0.1", "::1")  # the hosts a DICOMweb password may travel to over plain http
AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: 16 printable characters, no backslash


class PacsError(EngineError):
    """A PACS operation that did not do what was asked, said so that the user (or clinic IT) can act on it."""


@dataclass(frozen=True)
class PacsNode:
    """A remote DICOM application: a PACS, a router or a workstation, reached with DICOM networking (AE title, host,
    port) or, when ``dicomweb_url`` is set, with DICOMweb (QIDO-RS, WADO-RS, STOW-RS) at that address, as
    ``username`` when the server asks for a login (HTTP basic authentication)."""

    name: str
    ae_title: str
    host: str
    port: int
    dicomweb_url: str = ""
    username: str = ""
    tls: bool = False  # DICOM networking over TLS (PS3.15 B.1, the secure transport connection profile)
    tls_ca: str = ""  # the PEM certificate(s) to trust for this node; empty: the operating system's trust store

    def problems(self) -> list[str]:
        """What is wrong with this node's settings, in words (empty when it may be used)."""
        if self.dicomweb_url:
            return [*_name_problems(self.name), *_url_problems(self.dicomweb_url),
                    *_user_problems(self.username, self.dicomweb_url)]
        if self.username:
            return [*_name_problems(self.name), "a user name is only used with DICOMweb (DICOM networking has no login)"]
        return [*_name_problems(self.name), *_ae_problems(self.ae_title, "the PACS's AE title"),
                *_host_problems(self.host), *_port_problems(self.port, "the port")]

    def describe(self) -> str:
        if self.dicomweb_url:
            return f"{self.name} (DICOMweb at {self.dicomweb_url})"
        return f"{self.name} ({self.ae_title.strip()} at {self.host}:{self.port}{', TLS' if self.tls else ''})"


@dataclass(frozen=True)
class PacsSettings:
    """This viewer's AE title, where C-MOVE delivers to it, the timeout, the retrieve method and the nodes."""

    ae_title: str = "SADNN_VIEWER"
    store_port: int = 11112  # this computer's port for C-MOVE deliveries (the PACS must know it)
    timeout_s: float = 30.0
    retrieve_with: str = "C-GET"  # or "C-MOVE"
    nodes: tuple[PacsNode, ...] = field(default_factory=tuple)
    tls_certificate: str = ""  # this viewer's PEM certificate, for a TLS node that asks for one (mutual TLS)
    tls_key: str = ""  # its PEM private key

    def problems(self) -> list[str]:
        found = [*_ae_problems(self.ae_title, "this viewer's AE title"), *_port_problems(self.store_port, "the C-MOVE port")]
        if not 1 <= self.timeout_s <= 600:
            found.append("the timeout must be between 1 and 600 seconds")
        if self.retrieve_with not in ("C-GET", "C-MOVE"):
            found.append(f"retrieve with C-GET or C-MOVE, not {self.retrieve_with!r}")
        if bool(self.tls_certificate) != bool(self.tls_key):
            found.append("this viewer's TLS certificate and its private key go together: give both or neither")
        if self.retrieve_with == "C-MOVE" and any(node.tls and not node.dicomweb_url for node in self.nodes):
            found.append("C-MOVE is not offered over TLS (the PACS would connect back unencrypted): retrieve with C-GET")
        names = [node.name for node in self.nodes]
        found += [f"two nodes are called {name!r}" for name in sorted({n for n in names if names.count(n) > 1})]
        return found + [f"{node.name or 'a node'}: {problem}" for node in self.nodes for problem in node.problems()]

    def node(self, name: str) -> PacsNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise PacsError(f"no PACS node called {name!r} is configured")

    def with_node(self, node: PacsNode, replacing: str | None = None) -> PacsSettings:
        """These settings with ``node`` added, or put in the place of the node called ``replacing``."""
        kept = [n for n in self.nodes if n.name != (replacing or node.name)]
        position = next((i for i, n in enumerate(self.nodes) if n.name == (replacing or node.name)), len(kept))
        return replace(self, nodes=tuple(kept[:position] + [node] + kept[position:]))

    def without_node(self, name: str) -> PacsSettings:
        return replace(self, nodes=tuple(n for n in self.nodes if n.name != name))


def load_settings(folder: Path) -> PacsSettings:
    """The settings saved in ``folder``; defaults when there are none; PacsError for a file that is not ours."""
    path = Path(folder) / SETTINGS_FILE
    if not path.exists():
        return PacsSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = tuple(PacsNode(str(n["name"]), str(n["ae_title"]), str(n["host"]), int(n["port"]),
                               str(n.get("dicomweb_url", "")), str(n.get("username", "")), _flag(n, "tls"),
                               str(n.get("tls_ca", ""))) for n in data.pop("nodes", []))
        known = {key: data[key] for key in ("ae_title", "store_port", "timeout_s", "retrieve_with", "tls_certificate",
                                            "tls_key") if key in data}
        settings = PacsSettings(**known, nodes=nodes)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise PacsError(f"the PACS settings in {path} cannot be read ({type(err).__name__}: {err}); "
                        "fix or delete the file to start again") from err
    problems = settings.problems()
    if problems:
        raise PacsError(f"the PACS settings in {path} are not valid: {'; '.join(problems)}")
    return settings


def _flag(node: dict, key: str) -> bool:
    """A true/false field; anything else is refused (a hand-edited "tls": "yes" must not mean an unencrypted link)."""
    value = node.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} of node {node.get('name')!r} must be true or false, not {value!r}")
    return value


def save_settings(settings: PacsSettings, folder: Path) -> None:
    """Write the settings atomically (refused when they are not valid)."""
    problems = settings.problems()
    if problems:
        raise PacsError(f"not saved: {'; '.join(problems)}")
    Path(folder).mkdir(parents=True, exist_ok=True)
    data = {**asdict(settings), "nodes": [asdict(node) for node in settings.nodes]}
    write_atomic(Path(folder) / SETTINGS_FILE, json.dumps(data, indent=2).encode("utf-8"))


def _name_problems(name: str) -> list[str]:
    return [] if name.strip() else ["give the node a name"]


def _ae_problems(title: str, what: str) -> list[str]:
    if not AE_TITLE.match(title) or not title.strip():
        return [f"{what} must be 1 to 16 printable characters without a backslash (got '{title}')"]
    return []


def _host_problems(host: str) -> list[str]:
    if not host.strip() or any(c.isspace() for c in host.strip()):
        return [f"the host must be a name or an IP address (got {host!r})"]
    return []


def _url_problems(url: str) -> list[str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return [f"the DICOMweb address must be http(s)://host[:port]/path, without a user name or password (got {url!r})"]
    return []


def _user_problems(user: str, url: str) -> list[str]:
    from urllib.parse import urlsplit

    if user != user.strip() or ":" in user or any(not c.isprintable() for c in user):
        return [f"the user name may not contain a colon, spaces at either end or control characters (got {user!r})"]
    parts = urlsplit(url.strip())
    if user and parts.scheme != "https" and parts.hostname not in LOOPBACK:
        return ["a login needs the server's https address (over http:// the password would travel unencrypted)"]
    return []


def _port_problems(port: int, what: str) -> list[str]:
    return [] if isinstance(port, int) and 1 <= port <= 65535 else [f"{what} must be between 1 and 65535 (got {port!r})"]
