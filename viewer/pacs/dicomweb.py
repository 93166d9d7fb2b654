"""DICOMweb, the second transport (dicomweb-client): QIDO-RS search, WADO-RS retrieve, STOW-RS send.

A node with a ``dicomweb_url`` is searched, retrieved from and sent to over HTTP with the same records, cache and
messages as over DICOM networking. A node with a user name logs in with HTTP basic authentication, its password
read from the system's password store (``credentials``) and sent only over https (or to this computer).
This module is imported only when a node uses DICOMweb.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import requests

from engine.runtime.errors import Cancelled
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings

ANY_SYNTAX = (("application/dicom", "*"),)  # every instance as it is stored (the cache keeps what the PACS holds)


class _WildcardSession(requests.Session):
    """Sends QIDO wildcards as '*', not '%2A': RFC 3986 allows both in a query, and Orthanc's DICOMweb plugin (1.7)
    takes '%2A' for a literal character, so 'Smith*' found nobody."""

    def prepare_request(self, request):
        prepared = super().prepare_request(request)
        prepared.url = prepared.url.replace("%2A", "*")
        return prepared


def ping(node: PacsNode, settings: PacsSettings) -> float:
    """The round trip of a one-study QIDO-RS search, in seconds."""
    import time

    started = time.perf_counter()
    with _client(node, settings) as client:
        client.search_for_studies(limit=1, fields=["StudyInstanceUID"])
    return time.perf_counter() - started


def search(node: PacsNode, settings: PacsSettings, level: str, keys: dict, limit: int | None) -> list:
    """QIDO-RS at ``level`` with the matching and return keys of a C-FIND; the answers as pydicom datasets (studies:
    at most ``limit`` + 1)."""
    from pydicom import Dataset

    filters = {key: value for key, value in keys.items() if value and key not in ("StudyInstanceUID", "SeriesInstanceUID")}
    fields = [key for key, value in keys.items() if not value]
    where = {"study_instance_uid": keys.get("StudyInstanceUID") or None}
    with _client(node, settings) as client:
        if level == "STUDY":
            answers = client.search_for_studies(search_filters=filters, fields=fields, fuzzymatching=True,
                                                limit=None if limit is None else limit + 1)
        elif level == "SERIES":
            answers = client.search_for_series(**where, search_filters=filters, fields=fields)
        else:
            answers = client.search_for_instances(**where, series_instance_uid=keys["SeriesInstanceUID"], fields=fields)
    return [Dataset.from_json(answer) for answer in answers]


def retrieve(node: PacsNode, settings: PacsSettings, study_uid: str, series_uid: str, missing: set[str],
             receive: Callable, cancelled: Callable[[], bool]) -> dict:
    """WADO-RS of each missing instance, handed to ``receive(dataset) -> status``; the outcome as ``retrieve`` reads it."""
    outcome = {"status": 0x0000, "failed": 0, "lost": False}
    with _client(node, settings) as client:
        for sop in sorted(missing):
            if cancelled():
                raise Cancelled()
            try:
                dataset = client.retrieve_instance(study_uid, series_uid, sop, media_types=ANY_SYNTAX)
            except (requests.ConnectionError, requests.Timeout):
                outcome["lost"] = True
                break
            except (requests.HTTPError, ValueError):  # this instance cannot be sent (e.g. not in any syntax it offers)
                outcome["failed"] += 1
                continue
            if receive(dataset) != 0x0000:
                outcome["failed"] += 1
    return outcome


def send(node: PacsNode, settings: PacsSettings, paths: list[Path], progress: Callable[[int, int], None],
         cancelled: Callable[[], bool]) -> list[str]:
    """STOW-RS of each file; what was not stored and why ("name: reason"), empty when all were."""
    import pydicom

    failures = []
    with _client(node, settings) as client:
        for done, path in enumerate(paths, start=1):
            if cancelled():
                raise Cancelled()
            answer = client.store_instances([pydicom.dcmread(path)])
            failed = answer.get("FailedSOPSequence", [])
            if failed:
                failures.append(f"{Path(path).name}: failure reason 0x{int(failed[0].get('FailureReason', 0)):04X}")
            progress(done, len(paths))
    return failures


@contextmanager
def _client(node: PacsNode, settings: PacsSettings) -> Iterator:
    """A DICOMweb client for ``node`` that fails at once (no retries) with a message saying what to check."""
    from dicomweb_client.api import DICOMwebClient

    from viewer.pacs.credentials import basic_auth

    login = basic_auth(node)
    with _WildcardSession() as session:
        session.auth = login
        client = DICOMwebClient(url=node.dicomweb_url.rstrip("/"), session=session, timeout=settings.timeout_s)
        client.set_http_retry_params(retry=False)
        try:
            yield client
        except requests.HTTPError as err:
            raise PacsError(_http_problem(node, err.response, logged_in=login is not None)) from err
        except requests.Timeout as err:
            raise PacsError(f"{node.describe()} did not answer within {settings.timeout_s:g} s") from err
        except requests.ConnectionError as err:
            raise PacsError(f"cannot reach {node.describe()}: {_reason(err)}") from err
        except ValueError as err:  # an answer that is not DICOM JSON or multipart DICOM
            raise PacsError(f"{node.describe()} answered with something that is not DICOMweb ({err})") from err


def _http_problem(node: PacsNode, response, logged_in: bool) -> str:
    code = getattr(response, "status_code", 0)
    login = (f"it refused the user name {node.username!r} or its password: check both in Nodes..." if logged_in else
             "it asks for a user name and password: enter them in Nodes...")
    what = {401: login,
            403: "it refuses this computer (forbidden)",
            404: "there is no DICOMweb service at this address (check the path, e.g. /dicom-web)",
            }.get(code, f"it answered HTTP {code} {getattr(response, 'reason', '')}".strip())
    return f"{node.describe()}: {what}"


def _reason(err: Exception) -> str:
    text = str(err)
    if "Connection refused" in text:
        return "nothing accepts connections at that address (is the server running, is the port right?)"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo failed" in text:
        return "the host name is not known"
    return text[:200]
