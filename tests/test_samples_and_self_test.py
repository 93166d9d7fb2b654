"""The samples the app offers, the first-run screen, and ``--self-test`` (what the installer smoke test runs)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import DATA  # noqa: E402
from tests.viewer_support import finish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """resources/samples as `make samples` fills it, in a temporary folder."""
    if not (DATA / "ct" / "totalseg_abd_dicom").is_dir():
        pytest.skip(f"real test data not available: {DATA}")
    pytest.importorskip("data_store")
    out = tmp_path_factory.mktemp("samples")
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "collect_samples.py"), "--shared", str(DATA), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def test_collected_samples_carry_their_licences(samples, monkeypatch):
    from viewer.samples import available_samples

    monkeypatch.setenv("SADNN_SAMPLES", str(samples))
    assert [s.key for s in available_samples()] == ["ct", "xray"]
    assert "MIT" in (samples / "chest_cr" / "LICENSE.txt").read_text()
    assert "Apache License 2.0" in (samples / "abdominal_ct" / "NOTICE.txt").read_text()
    assert len(list((samples / "abdominal_ct").glob("CT.*"))) == 20


def test_first_run_screen_says_demo_and_opens_a_sample(qtbot, models_folder, samples, monkeypatch, tmp_path):
    monkeypatch.setenv("SADNN_SAMPLES", str(samples))
    monkeypatch.setenv("SADNN_CONFIG", str(tmp_path / "config"))
    from PySide6.QtWidgets import QPushButton

    from viewer.bundles import installed_models
    from viewer.qt.main_window import MainWindow
    from viewer.welcome import is_first_run, mark_welcomed

    assert is_first_run()
    mark_welcomed()
    assert not is_first_run()
    window = MainWindow(installed_models(models_folder))
    qtbot.addWidget(window)
    window.show_welcome()
    assert "not for clinical use" in window.welcome.findChildren(type(window.message))[0].text()
    buttons = {b.text(): b for b in window.welcome.findChildren(QPushButton)}
    assert {"Open sample CT", "Open sample X-ray"} <= set(buttons)
    buttons["Open sample X-ray"].click()
    finish(qtbot, window)
    finish(qtbot, window)
    assert window.study is not None and window.study.volume.modality == "CR"  # the JPEG 2000 chest CR decoded
    assert window.study.volume.is_radiograph and not window.welcome.isVisible()


def test_self_test_runs_both_models_on_the_samples_and_exports(samples, tmp_path):
    """What the installer's smoke test runs, here on the source tree with the shipped demo models."""
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_SAMPLES": str(samples),
                   "SADNN_CONFIG": str(tmp_path / "config")}
    environment.pop("SADNN_MODELS", None)
    result = subprocess.run([sys.executable, "-m", "viewer", "--self-test", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, env=environment, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((tmp_path / "out" / "self_test.json").read_text())
    assert report["models"]["segmentation"]["name"] == "sadnn-seg-demo" and report["ct"]["liver_ml"] > 100
    assert "liver_seg.dcm" in report["ct"]["exported"] and report["xray"]["saliency_masks"] > 0
    assert "review.json" in report["xray"]["exported"]
    assert {"keyring.backends.Windows", "keyring.backends.macOS", "keyring.backends.SecretService"} <= set(report["password_store"]["backends"])
    assert report["ct"]["picture"]["std"] > 10 and report["xray"]["picture"]["std"] > 10  # the sample X-ray rendered black before
    assert not (tmp_path / "config").exists()  # no first-run screen in a self-test


def test_a_missing_sample_fails_the_self_test_with_one_line(tmp_path):
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_SAMPLES": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "viewer", "--self-test", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 1 and "self-test failed: bundled sample missing" in result.stdout


def test_a_missing_qt_platform_library_is_named_with_the_apt_command(monkeypatch, capsys):
    """On an X server without libxcb-cursor0 (a fresh Debian/Ubuntu), the launcher says what to install."""
    import viewer.__main__ as launcher

    def load(library: str):
        if library in ("libxcb-cursor.so.0", "libxcb-keysyms.so.1"):
            raise OSError(f"{library}: cannot open shared object file")

    monkeypatch.setattr(launcher.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert launcher.missing_xcb_packages(load) == ["libxcb-cursor0", "libxcb-keysyms1"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no X11 plugin: nothing to check
    assert launcher.missing_xcb_packages(load) == []
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setattr(launcher, "missing_xcb_packages", lambda: ["libxcb-cursor0", "libxcb-keysyms1"])
    assert launcher.main([]) == 2
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-keysyms1" in capsys.readouterr().err


def test_without_a_display_the_hint_names_this_interpreter(monkeypatch, capsys):
    import viewer.__main__ as launcher

    monkeypatch.setattr(launcher.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert launcher.main([]) == 2
    assert f"xvfb-run -a {sys.executable} -m viewer" in capsys.readouterr().err


def test_without_samples_the_welcome_promises_none_and_says_how_to_get_them(qtbot, models_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("SADNN_SAMPLES", str(tmp_path / "no samples here"))
    from PySide6.QtWidgets import QLabel, QPushButton

    from viewer.bundles import installed_models
    from viewer.qt.main_window import MainWindow

    window = MainWindow(installed_models(models_folder))
    qtbot.addWidget(window)
    window.show_welcome()
    text = window.welcome.findChildren(QLabel)[0].text()
    assert "not installed" in text and "make samples" in text and "Try it on the bundled samples" not in text
    assert not [b for b in window.welcome.findChildren(QPushButton) if b.text().startswith("Open sample")]
    samples_menu = next(a.menu() for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open sample")
    assert [a.text() for a in samples_menu.actions()] == ["No samples installed (make samples)"]
    assert not samples_menu.actions()[0].isEnabled()
