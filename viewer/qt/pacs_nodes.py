"""Edits the PACS nodes and this viewer's DICOM identity (AE title, C-MOVE port, timeout, retrieve method)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QListWidget, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from viewer.pacs.credentials import forget_password, save_password
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings
from viewer.qt.quiet import quietly


class PacsNodesDialog(QDialog):
    """A list of nodes with a form for the selected one; ``settings()`` gives what was edited (validated by the caller)."""

    def __init__(self, settings: PacsSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("PACS nodes")
        self.setMinimumWidth(780)  # room for the address and certificate paths
        self._settings = self._initial = settings
        self.nodes = QListWidget()
        self.nodes.addItems([node.name for node in settings.nodes])
        self.name, self.ae_title, self.host, self.url = QLineEdit(), QLineEdit(), QLineEdit(), QLineEdit()
        self.url.setPlaceholderText("optional: http(s)://host:port/dicom-web to use DICOMweb instead")
        self.username, self.password = QLineEdit(), QLineEdit()
        self.username.setPlaceholderText("DICOMweb only, when the server asks for a login")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.tls = QCheckBox("DICOM over TLS (encrypted)")
        self.tls_ca = QLineEdit()
        self.tls_ca.setPlaceholderText("the PACS's CA certificate (PEM); empty: this computer's trusted authorities")
        self._passwords: dict[tuple[str, str], str] = {}  # (address, user) -> typed, kept in the password store on Save
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.ae_title.setMaxLength(16)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c0392b")
        layout = QVBoxLayout(self)
        layout.addWidget(self._node_box())
        layout.addWidget(self._own_box(settings))
        layout.addWidget(self.problems)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._shown = -1  # the row of the node the form shows; -1: a new node
        self.nodes.currentRowChanged.connect(self._switch)
        if settings.nodes:
            self.nodes.setCurrentRow(0)

    def _node_box(self) -> QGroupBox:
        box = QGroupBox("Remote nodes (PACS, router, workstation)")
        add, save_node, remove = QPushButton("New"), QPushButton("Apply to node"), QPushButton("Remove")
        add.clicked.connect(self._new)
        save_node.clicked.connect(self._apply)
        remove.clicked.connect(self._remove)
        form = QFormLayout()
        for label, widget in (("Name", self.name), ("AE title", self.ae_title), ("Host", self.host), ("Port", self.port),
                              ("TLS", self.tls), ("Trusted CA", _with_chooser(self.tls_ca, "The PACS's CA certificate")),
                              ("DICOMweb", self.url), ("User", self.username), ("Password", self.password)):
            form.addRow(label, widget)
        buttons = QHBoxLayout()
        for button in (add, save_node, remove):
            buttons.addWidget(button)
        form.addRow(buttons)
        row = QHBoxLayout(box)
        row.addWidget(self.nodes, 1)
        row.addLayout(form, 2)
        return box

    def _own_box(self, settings: PacsSettings) -> QGroupBox:
        box = QGroupBox("This viewer")
        self.own_ae = QLineEdit(settings.ae_title)
        self.own_ae.setMaxLength(16)
        self.store_port = QSpinBox()
        self.store_port.setRange(1, 65535)
        self.store_port.setValue(settings.store_port)
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(settings.timeout_s)
        self.method = QComboBox()
        self.method.addItems(["C-GET", "C-MOVE"])
        self.method.setCurrentText(settings.retrieve_with)
        self.tls_certificate, self.tls_key = QLineEdit(settings.tls_certificate), QLineEdit(settings.tls_key)
        self.tls_certificate.setPlaceholderText("for a TLS PACS that asks for one (PEM)")
        form = QFormLayout(box)
        form.addRow("AE title", self.own_ae)
        form.addRow("Retrieve with", self.method)
        form.addRow("C-MOVE port", self.store_port)
        form.addRow("Timeout", self.timeout)
        form.addRow("TLS certificate", _with_chooser(self.tls_certificate, "This viewer's TLS certificate"))
        form.addRow("TLS private key", _with_chooser(self.tls_key, "This viewer's TLS private key"))
        note = QLabel("<small>C-GET needs nothing from the PACS but this viewer's AE title. C-MOVE also needs the PACS "
                      "to know this computer and port (not over TLS). Over TLS the PACS's certificate is checked "
                      "against its trusted CA; this viewer's certificate is offered to a PACS that asks for one. A "
                      "DICOMweb password is kept in this computer's password store, never in the settings file, and "
                      "sent only over https.</small>")
        note.setWordWrap(True)
        form.addRow(note)
        return box

    def settings(self) -> PacsSettings:
        return replace(self._settings, ae_title=self.own_ae.text(), store_port=self.store_port.value(),
                       timeout_s=self.timeout.value(), retrieve_with=self.method.currentText(),
                       tls_certificate=self.tls_certificate.text().strip(), tls_key=self.tls_key.text().strip())

    def accept(self) -> None:
        if self._form_changed() and not self._apply():
            return
        problems = self.settings().problems()
        if problems:
            self.problems.setText("Not saved: " + "; ".join(problems))
            return
        try:
            for node in self._settings.nodes:
                typed = self._passwords.get((node.dicomweb_url, node.username))
                if typed is not None and node.dicomweb_url and node.username:
                    save_password(node, typed)
        except PacsError as err:
            self.problems.setText(f"Not saved: {err}")
            return
        kept = {(node.dicomweb_url, node.username) for node in self._settings.nodes}
        for node in self._initial.nodes:  # a login no node uses any more: its password goes too
            if node.username and (node.dicomweb_url, node.username) not in kept:
                forget_password(node)
        super().accept()

    def _switch(self, row: int) -> None:
        """Another node picked in the list: the form's unsaved edits are applied first (nothing typed is lost); an
        edit that is not valid keeps its node selected, with the reason shown."""
        if self._form_changed():
            target = self._settings.nodes[row].name if 0 <= row < len(self._settings.nodes) else None
            if not self._apply(then_show=target):
                with quietly(self.nodes):
                    self.nodes.setCurrentRow(self._shown)
            return
        self._show_node(row)

    def _show_node(self, row: int) -> None:
        """Fill the form with the node at ``row``, or empty it for a new node (row -1)."""
        self._shown = row if 0 <= row < len(self._settings.nodes) else -1
        node = self._settings.nodes[self._shown] if self._shown >= 0 else PacsNode("", "", "", 104)
        for field, text in ((self.name, node.name), (self.ae_title, node.ae_title), (self.host, node.host),
                            (self.url, node.dicomweb_url), (self.username, node.username), (self.tls_ca, node.tls_ca)):
            field.setText(text)
        self.port.setValue(max(node.port, 1))
        self.tls.setChecked(node.tls)
        self.password.clear()
        self.password.setPlaceholderText("unchanged" if node.username else "")

    def _new(self) -> None:
        if self._form_changed() and not self._apply():
            return
        with quietly(self.nodes):
            self.nodes.setCurrentRow(-1)
        self._show_node(-1)
        self.name.setFocus()

    def _form_node(self) -> PacsNode:
        return PacsNode(self.name.text().strip(), self.ae_title.text(), self.host.text().strip(), self.port.value(),
                        self.url.text().strip(), self.username.text().strip(), self.tls.isChecked(), self.tls_ca.text().strip())

    def _form_changed(self) -> bool:
        """The form holds a node that is not saved in the list (typed in, but "Apply to node" not pressed)."""
        if self._shown >= 0:
            return self._form_node() != self._settings.nodes[self._shown] or bool(self.password.text())
        return bool(self.name.text().strip() or self.host.text().strip() or self.url.text().strip())

    def _apply(self, then_show: str | None = None) -> bool:
        """Add the form as a node, or change the one it shows; False (and why, shown) when it is not valid."""
        node = self._form_node()
        problems = node.problems()
        if problems:
            self.problems.setText("; ".join(problems))
            return False
        if self.password.text() and not (node.dicomweb_url and node.username):
            self.problems.setText("a password needs a DICOMweb address and a user name")
            return False
        if self.password.text():
            self._passwords[(node.dicomweb_url, node.username)] = self.password.text()
        replacing = self._settings.nodes[self._shown].name if self._shown >= 0 else None
        self._settings = self._settings.with_node(node, replacing)
        self._refill(then_show or node.name)
        return True

    def _remove(self) -> None:
        if self._shown >= 0:
            self._settings = self._settings.without_node(self._settings.nodes[self._shown].name)
            self._refill(None)  # an empty form: Save must not add the removed node back from it

    def _refill(self, current: str | None) -> None:
        self.problems.clear()
        names = [node.name for node in self._settings.nodes]
        row = names.index(current) if current in names else -1
        with quietly(self.nodes):
            self.nodes.clear()
            self.nodes.addItems(names)
            self.nodes.setCurrentRow(row)
        self._show_node(row)


def _with_chooser(field: QLineEdit, title: str) -> QWidget:
    """``field`` with a "Choose..." button that fills it with a file's path."""
    choose = QPushButton("Choose...")
    choose.clicked.connect(lambda: field.setText(QFileDialog.getOpenFileName(field, title, field.text())[0] or field.text()))
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(field, 1)
    layout.addWidget(choose)
    return row
