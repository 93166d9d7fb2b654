"""DICOMweb passwords, kept in the operating system's password store (keyring: Windows Credential Manager, macOS
Keychain, the Secret Service on Linux), never in the settings file.

A password is filed under the node's DICOMweb address and user name, not its display name: renaming a node keeps
it, and a node pointed at another address has no password until one is entered for that address, so a password
is never sent to a server it was not entered for.
"""

from __future__ import annotations

from viewer.pacs.nodes import PacsError, PacsNode

SERVICE = "SaDNN Viewer DICOMweb"


def _account(node: PacsNode) -> str:
    return f"{node.username}@{node.dicomweb_url.strip().rstrip('/')}"


def _store():
    import keyring
    from keyring.backends import fail

    store = keyring.get_keyring()
    if isinstance(store, fail.Keyring):
        raise PacsError("this computer has no password store the viewer can use (Windows Credential Manager, macOS "
                        "Keychain or a Secret Service such as GNOME Keyring), so a DICOMweb password cannot be kept")
    return keyring


def save_password(node: PacsNode, password: str) -> None:
    """Keep ``password`` for the node's user at its address; PacsError when there is no password store."""
    if not node.username:
        raise PacsError(f"{node.name}: a password needs a user name")
    store = _store()
    try:
        store.set_password(SERVICE, _account(node), password)
    except Exception as err:  # keyring.errors.PasswordSetError, a locked store, a refused permission
        raise PacsError(f"the password for {node.name} was not saved: the password store refused it ({err})") from err


def forget_password(node: PacsNode) -> None:
    """Remove the node's saved password, if there is one (a store that cannot be reached keeps it)."""
    import keyring.errors

    try:
        _store().delete_password(SERVICE, _account(node))
    except (PacsError, keyring.errors.KeyringError):
        pass


def password_for(node: PacsNode) -> str | None:
    """The saved password of the node's user at its address, None when none was saved."""
    store = _store()
    try:
        return store.get_password(SERVICE, _account(node))
    except Exception as err:  # a locked or unreachable store
        raise PacsError(f"the password for {node.name} cannot be read from the password store ({err})") from err


def basic_auth(node: PacsNode) -> tuple[str, str] | None:
    """(user, password) to send to a DICOMweb node with a user name, None for one without; PacsError when the node's
    settings forbid a login (a password never travels unencrypted) or no password is saved."""
    if not node.username:
        return None
    problems = node.problems()
    if problems:
        raise PacsError(f"{node.describe()}: {problems[0]}")
    secret = password_for(node)
    if secret is None:
        raise PacsError(f"{node.describe()}: no password is saved for the user {node.username!r}: enter it in Nodes...")
    return node.username, secret
