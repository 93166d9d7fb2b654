"""The PACS browser: pick a node, test it, search studies, see their series, retrieve one and open it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDateEdit, QDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout,
)

from viewer.pacs.cache import SeriesCache, cache_root
from viewer.pacs.connection import echo
from viewer.pacs.nodes import PacsError, PacsNode, PacsSettings, load_settings, save_settings
from viewer.pacs.query import SeriesRecord, StudyQuery, StudyRecord, find_series, find_studies
from viewer.pacs.retrieve import retrieve_series
from viewer.qt.pacs_nodes import PacsNodesDialog
from viewer.qt.worker import TaskRunner

ANY_DATE = QDate(1900, 1, 1)
STUDY_COLUMNS = ("Patient", "Patient ID", "Date", "Description", "Accession", "Modalities", "Series", "Images")
SERIES_COLUMNS = ("#", "Modality", "Description", "Images", "Here")


class PacsBrowser(QDialog):
    """Non-modal; its network work runs in the window's ``runner`` (progress and Esc to cancel in the status bar)."""

    def __init__(self, runner: TaskRunner, open_folder: Callable[[Path], None], config: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle("PACS: search and retrieve")
        self.resize(1000, 640)
        self.runner, self.open_folder, self.config = runner, open_folder, Path(config)
        self.studies: list[StudyRecord] = []
        self.series: list[SeriesRecord] = []
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings = self._load()
        layout = QVBoxLayout(self)
        layout.addLayout(self._node_row())
        layout.addLayout(self._search_form())
        self.study_table = _table(STUDY_COLUMNS)
        self.series_table = _table(SERIES_COLUMNS)
        self.study_table.itemSelectionChanged.connect(self._study_chosen)
        self.series_table.itemDoubleClicked.connect(lambda _: self.retrieve())
        layout.addWidget(self.study_table, 3)
        layout.addWidget(QLabel("Series of the selected study (double-click to retrieve and open):"))
        layout.addWidget(self.series_table, 2)
        layout.addLayout(self._retrieve_row())
        layout.addWidget(self.status)
        runner.failed.connect(self._failed)
        runner.cancelled.connect(lambda: self._say("Cancelled. Images that arrived are kept; retrieve again to finish."))
        runner.progressed.connect(lambda done, total, eta: self._say(f"{self.runner.name}: {done} of {total} {eta}"))
        self._fill_nodes()

    # building
    def _node_row(self) -> QHBoxLayout:
        self.node_box = QComboBox()
        self.node_box.setMinimumWidth(320)
        echo_button, nodes_button = QPushButton("Echo"), QPushButton("Nodes...")
        echo_button.setToolTip("Test the connection (C-ECHO)")
        echo_button.clicked.connect(self.echo)
        nodes_button.clicked.connect(self.edit_nodes)
        row = QHBoxLayout()
        row.addWidget(QLabel("PACS"))
        row.addWidget(self.node_box, 1)
        row.addWidget(echo_button)
        row.addWidget(nodes_button)
        return row

    def _search_form(self) -> QFormLayout:
        self.patient_name, self.patient_id, self.accession = QLineEdit(), QLineEdit(), QLineEdit()
        self.patient_name.setPlaceholderText("from the start of the name, e.g. Smith or Smith, J")
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(["", "CT", "CR", "DX", "MR"])
        self.date_from, self.date_to = _date_box(), _date_box()
        search = QPushButton("Search")
        search.setDefault(True)
        search.clicked.connect(self.search)
        for field in (self.patient_name, self.patient_id, self.accession):
            field.returnPressed.connect(self.search)
        dates = QHBoxLayout()
        for widget in (self.date_from, QLabel("to"), self.date_to, QLabel("Modality"), self.modality, search):
            dates.addWidget(widget)
        form = QFormLayout()
        form.addRow("Patient name", self.patient_name)
        ids = QHBoxLayout()
        for widget in (self.patient_id, QLabel("Accession"), self.accession):
            ids.addWidget(widget)
        form.addRow("Patient ID", ids)
        form.addRow("Study date", dates)
        return form

    def _retrieve_row(self) -> QHBoxLayout:
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.runner.cancel)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(cancel)
        row.addWidget(self.retrieve_button)
        return row

    # settings
    def _load(self) -> PacsSettings:
        try:
            return load_settings(self.config)
        except PacsError as err:
            self._say(str(err))
            return PacsSettings()

    def _fill_nodes(self) -> None:
        self.node_box.clear()
        self.node_box.addItems([node.describe() for node in self.settings.nodes])
        if not self.settings.nodes:
            self._say("No PACS is configured yet: press Nodes... to add one (its AE title, host and port).")

    def node(self) -> PacsNode | None:
        index = self.node_box.currentIndex()
        if 0 <= index < len(self.settings.nodes):
            return self.settings.nodes[index]
        self._say("Choose a PACS first (Nodes... to add one).")
        return None

    def edit_nodes(self) -> None:
        dialog = PacsNodesDialog(self.settings, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        edited = dialog.settings()
        try:
            save_settings(edited, self.config)
        except (PacsError, OSError) as err:
            self._say(f"The PACS settings were not saved: {err}")
            return
        self.settings = edited
        self._fill_nodes()
        self._say("PACS settings saved.")

    # work
    def echo(self) -> None:
        node, settings = self.node(), self.settings
        if node is not None:
            self.runner.run(f"Echo {node.name}", lambda *_: echo(node, settings),
                            lambda seconds: self._say(f"{node.describe()} answered in {seconds * 1000:.0f} ms."))

    def query(self) -> StudyQuery:
        day = (lambda box: None if box.date() == ANY_DATE else box.date().toPython())
        return StudyQuery(self.patient_name.text(), self.patient_id.text(), self.accession.text(),
                          self.modality.currentText(), day(self.date_from), day(self.date_to))

    def search(self) -> None:
        node, settings, query = self.node(), self.settings, self.query()
        if node is None:
            return
        problems = query.problems()
        if problems:
            self._say("; ".join(problems))
            return
        self._say(f"Searching {node.name}...")
        self.runner.run(f"Searching {node.name}", lambda _p, _r, cancelled: find_studies(node, settings, query, cancelled),
                        self._show_studies)

    def _show_studies(self, studies: list[StudyRecord]) -> None:
        self.studies = studies
        rows = [(s.patient_name or "(no name)", s.patient_id, _date(s.date), s.description, s.accession, s.modalities,
                 _number(s.series), _number(s.instances)) for s in studies]
        _fill(self.study_table, rows)
        _fill(self.series_table, [])
        self._say(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found." if studies else "No study matches.")
        if len(studies) == 1:
            self.study_table.selectRow(0)

    def _study_chosen(self) -> None:
        study, node, settings = self._selected_study(), self.node(), self.settings
        if study is None or node is None:
            return
        if self.runner.busy:  # chosen by the search that just ended: list once it has
            self.runner.after(self._study_chosen)
            return
        self.runner.run("Listing series", lambda _p, _r, cancelled: find_series(node, settings, study.study_uid, "", cancelled),
                        self._show_series)

    def _show_series(self, series: list[SeriesRecord]) -> None:
        self.series = series
        _fill(self.series_table, [(s.number, s.modality, s.description, _number(s.instances), _here(s)) for s in series])
        if len(series) == 1:
            self.series_table.selectRow(0)

    def retrieve(self) -> None:
        """Bring the selected series (or every series of the selected study) and open it when it is complete."""
        study, node, settings = self._selected_study(), self.node(), self.settings
        if study is None or node is None:
            self._say("Select a study first.")
            return
        rows = sorted({index.row() for index in self.series_table.selectedIndexes()})
        chosen = [self.series[r] for r in rows] or self.series
        if not chosen:
            self._say("This study has no series to retrieve.")
            return
        root = cache_root()

        def run(progress, _partial, cancelled) -> Path:
            caches = []
            for number, series in enumerate(chosen, start=1):
                step = progress if len(chosen) == 1 else (lambda done, total, n=number: progress(n - 1, len(chosen)))
                caches.append(retrieve_series(node, settings, study.study_uid, series.series_uid, root, step, cancelled))
            return caches[0].folder if len(caches) == 1 else caches[0].folder.parent

        self.runner.run(f"Retrieving from {node.name}", run, self._retrieved,
                        then=lambda: self._show_series(self.series))  # the "Here" column, whatever the outcome

    def _retrieved(self, folder: Path) -> None:
        self._say(f"Retrieved into {folder}; opening it.")
        self.runner.after(lambda: self.open_folder(folder))

    def _selected_study(self) -> StudyRecord | None:
        rows = {index.row() for index in self.study_table.selectedIndexes()}
        return self.studies[min(rows)] if rows and min(rows) < len(self.studies) else None

    def _failed(self, text: str) -> None:
        if self.isVisible():
            self._say(text)

    def _say(self, text: str) -> None:
        self.status.setText(text)


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[tuple]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(str(value)))


def _date_box() -> QDateEdit:
    box = QDateEdit()
    box.setCalendarPopup(True)
    box.setDisplayFormat("yyyy-MM-dd")
    box.setMinimumDate(ANY_DATE)
    box.setSpecialValueText("any")
    box.setDate(ANY_DATE)
    return box


def _date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _here(series: SeriesRecord) -> str:
    """Whether the series is in the local cache: complete, or how much of it."""
    try:
        cache = SeriesCache(cache_root(), series.study_uid, series.series_uid)
    except PacsError:
        return ""
    if cache.is_complete():
        return "complete"
    count = len(cache.present())
    return f"partial: {count} of {series.instances or '?'}" if count else ""
