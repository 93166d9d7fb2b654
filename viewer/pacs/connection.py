"""One DICOM association with a PACS node (pynetdicom), and the words for every way it can fail."""

from __future__ import annotations

import socket
import ssl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings

REJECTION_REASONS = {  # (source, reason) of an A-ASSOCIATE-RJ (PS3.8 9.3.4) -> what to check
    (1, 2): "it does not support the application context",
    (1, 3): "it does not know this viewer's AE title {calling!r}: ask its administrator to add it",
    (1, 7): "it is not called {called!r}: check the node's AE title",
    (2, 1): "it does not support the protocol version",
    (3, 1): "it is too busy (temporary congestion): try again later",
    (3, 2): "it has reached its limit of connections: try again later",
}

# TLS alerts of a PACS that wants a certificate from this viewer, or does not trust the one it was given
REFUSED_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "UNKNOWN_CA", "BAD_CERTIFICATE")


def _close_even_when_shutdown_fails(self) -> None:
    """pynetdicom 3.0's AssociationSocket._shutdown_socket skips close() when shutdown() raises, which it does for a
    connection that failed or that the peer already dropped: every such association leaked a file descriptor until
    the garbage collector found it. This closes the socket in every case."""
    sock = self.socket
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def application_entity(settings: PacsSettings):
    """A pynetdicom AE with this viewer's title and timeouts."""
    from pynetdicom import AE, transport

    transport.AssociationSocket._shutdown_socket = _close_even_when_shutdown_fails

    ae = AE(ae_title=settings.ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout_s
    ae.connection_timeout = settings.timeout_s
    return ae


@contextmanager
def associated(ae, node: PacsNode, settings: PacsSettings, **options) -> Iterator:
    """An established association with ``node`` (released on exit, aborted on an exception); PacsError otherwise."""
    if node.tls:
        options["tls_args"] = (tls_context(node, settings), node.host)
    started = time.monotonic()
    try:
        association = ae.associate(node.host, node.port, ae_title=node.ae_title, **options)
    except OSError as err:  # the host name does not resolve (pynetdicom looks it up first)
        raise PacsError(f"cannot reach {node.describe()}: {_network_problem(node, settings.timeout_s) or err}") from err
    if not association.is_established:
        raise PacsError(_why_not(association, node, settings, time.monotonic() - started))
    try:
        yield association
    except BaseException:
        association.abort()
        raise
    if association.is_established:
        association.release()
    else:  # the peer ended it: make sure the transport is closed too
        association.abort()


def tls_context(node: PacsNode, settings: PacsSettings) -> ssl.SSLContext:
    """The client side of a TLS association with ``node``: its certificate checked against ``node.tls_ca`` (else the
    system's trust store) and its host name; this viewer's certificate offered when one is configured."""
    for path, what in ((node.tls_ca, f"{node.name}'s trusted certificate"), (settings.tls_certificate, "this viewer's TLS certificate"),
                       (settings.tls_key, "this viewer's TLS private key")):
        if path and not Path(path).is_file():
            raise PacsError(f"{what} {path} is not there: choose it again in Nodes...")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=node.tls_ca or None)
        if settings.tls_certificate:
            context.load_cert_chain(settings.tls_certificate, settings.tls_key)
    except (ssl.SSLError, ValueError) as err:
        raise PacsError(f"the TLS certificates for {node.name} cannot be used ({err.args[-1] if err.args else err}): "
                        "they must be PEM files, the key matching the certificate") from err
    return context


def lost(association) -> bool:
    """Whether the association ended before the work did (aborted by the peer, connection dropped, timeout)."""
    return association.is_aborted or not association.is_established


def echo(node: PacsNode, settings: PacsSettings) -> float:
    """C-ECHO ``node`` (a one-study QIDO-RS search over DICOMweb); the round trip in seconds, or PacsError saying
    what failed."""
    if node.dicomweb_url:
        from viewer.pacs.dicomweb import ping

        return ping(node, settings)
    from pynetdicom.sop_class import Verification

    ae = application_entity(settings)
    ae.add_requested_context(Verification)
    started = time.perf_counter()
    with associated(ae, node, settings) as association:
        status = association.send_c_echo()
        if not status:
            raise PacsError(f"{node.describe()} did not answer the echo within {settings.timeout_s:g} s")
        if status.Status != 0x0000:
            raise PacsError(f"{node.describe()} answered the echo with status 0x{status.Status:04X}")
    return time.perf_counter() - started


def _answer(association):
    """The peer's A-ASSOCIATE answer, or None. pynetdicom 3.0 drops an answer that arrives, and closes the connection,
    before the requesting thread looks for it (a fast local PACS rejecting at once, about one in thirty times): the
    association then reads as aborted while the rejection waits unread in its queue."""
    from pynetdicom.pdu_primitives import A_ASSOCIATE

    if association.acceptor.primitive is not None:
        return association.acceptor.primitive
    pending = association.dul.peek_next_pdu()
    return pending if isinstance(pending, A_ASSOCIATE) else None


def _why_not(association, node: PacsNode, settings: PacsSettings, waited_s: float) -> str:
    where = node.describe()
    answer = _answer(association)
    if answer is not None and answer.result in (0x01, 0x02):
        source, reason = int(answer.result_source), int(answer.diagnostic)
        text = REJECTION_REASONS.get((source, reason), f"{answer.reason_str} (source {source}, reason {reason})")
        return f"{where} refused the connection: " + text.format(calling=settings.ae_title, called=node.ae_title)
    network = _network_problem(node, settings.timeout_s)
    if network:
        return f"cannot reach {where}: {network}"
    handshake = _tls_problem(node, settings) if node.tls else None
    if handshake:
        return f"{where}: {handshake}"
    if association.is_aborted and answer is None:
        if waited_s >= settings.timeout_s * 0.9:
            return f"{where} accepted the connection but did not answer within {settings.timeout_s:g} s"
        tls = "" if node.tls else ", does it require TLS?"
        return f"{where} closed the connection without answering (is it a DICOM server, is the port right{tls})"
    return f"{where} ended the connection without accepting it (it accepts none of what this viewer asked for)"


def _tls_problem(node: PacsNode, settings: PacsSettings) -> str | None:
    """Why a TLS connection with the node fails, in words (the handshake, then its verdict on this viewer's
    certificate, which TLS 1.3 sends after it); None when it holds."""
    try:
        with socket.create_connection((node.host, node.port), timeout=min(settings.timeout_s, 10)) as plain:
            with tls_context(node, settings).wrap_socket(plain, server_hostname=node.host) as secure:
                secure.settimeout(3)  # its verdict on this viewer arrives at once; silence means it waits for us
                try:
                    secure.recv(1)
                except TimeoutError:
                    return None  # it waits for this viewer to speak: the TLS connection holds
    except ssl.SSLCertVerificationError as err:
        return (f"its TLS certificate is not trusted ({err.verify_message}): give the node the certificate of the "
                "authority that signed it")
    except ssl.SSLError as err:
        if any(alert in str(err) for alert in REFUSED_CERTIFICATE_ALERTS):
            return ("it refused this viewer's TLS certificate or asks for one: set this viewer's certificate in "
                    "Nodes... and have the PACS trust it")
        return f"the TLS connection failed ({err.reason or err})"
    except (OSError, PacsError):
        return None
    return None


def _network_problem(node: PacsNode, timeout_s: float) -> str | None:
    """Why a plain TCP connection to the node fails, in words; None when it opens."""
    try:
        with socket.create_connection((node.host, node.port), timeout=min(timeout_s, 10)):
            return None
    except socket.gaierror:
        return f"the host name {node.host!r} is not known"
    except ConnectionRefusedError:
        return f"nothing accepts connections on port {node.port} (is the PACS running, is the port right?)"
    except TimeoutError:
        return f"no answer within {min(timeout_s, 10):g} s (a firewall, or the wrong host?)"
    except OSError as err:
        return err.strerror or str(err)
