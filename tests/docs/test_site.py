"""The documentation site builds in strict mode, and its pages load in a real browser.

``mkdocs build --strict`` fails on a broken link, a missing page, a page left
out of the navigation or a docstring the API pages cannot read. The build
happens once per test session (a lock shares it between xdist workers), into
a temporary folder. The browser test serves the built site on 127.0.0.1 and
opens the landing page, the scenario reference and a notebook page in
headless Chromium (Debian's package, installed by scripts/ensure-chromium.sh,
which ``make test`` runs): no console error, no failed request, every image
loaded.

Without mkdocs or Chromium these tests skip with the reason on a developer's
machine, and fail in CI (``CI=true``), where ``make test`` installs both.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.docs.browser import Browser, find_chromium

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: make test installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once with --strict; every xdist worker waits for the same build."""
    if importlib.util.find_spec("mkdocs") is None:
        _unavailable("mkdocs is not installed: pip install -e '.[docs]'")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the folder of this session, the same for each of its workers
    out, log, failed = shared / "docs-site", shared / "docs-site.log", shared / "docs-site.failed"
    with open(shared / "docs-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists() and not failed.exists():
            build = subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                 str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                cwd=ROOT, capture_output=True, text=True,
                env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
            log.write_text(build.stdout + build.stderr)
            if build.returncode != 0:
                failed.touch()
    if failed.exists():
        problems = [line for line in log.read_text().splitlines()
                    if line.startswith(("WARNING", "ERROR")) or "Error" in line]
        pytest.fail("mkdocs build --strict failed:\n" + "\n".join(problems[-30:] or [log.read_text()[-3000:]]))
    return out


def test_the_site_builds_in_strict_mode_with_every_page(site: Path) -> None:
    for page in ("index.html", "reference/scenario/index.html", "reference/cli/index.html",
                 "reference/api/index.html", "reference/summary-columns/index.html", "theory/index.html",
                 "how-to/visibility-timeout/index.html", "notebooks/01-ack-lost-resend/index.html"):
        assert (site / page).is_file(), page
    # The README's pictures keep their paths (docs/*.png) and are part of the site.
    for picture in sorted((ROOT / "docs").glob("*.png")):
        assert (site / picture.name).is_file(), picture.name


def test_generated_reference_names_every_field_of_the_schema(site: Path) -> None:
    from docsgen.scenario_reference import walk

    html = (site / "reference/scenario/index.html").read_text(encoding="utf-8")
    for model, _ in walk():
        for name, info in model.model_fields.items():
            assert f"<code>{info.alias or name}</code>" in html, (model.__name__, name)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(("path", "title", "least_images"), [
    ("/", "alosim", 1),
    ("/reference/scenario/", "Scenario files", 0),
    ("/notebooks/01-ack-lost-resend/", "ack", 1),
])
def test_pages_load_in_chromium_without_errors_and_with_every_image(
        served: str, tmp_path: Path, path: str, title: str, least_images: int) -> None:
    chromium = find_chromium()
    if chromium is None:
        _unavailable("chromium is not installed: run scripts/ensure-chromium.sh as root "
                     "(apt-get install chromium)")
    with Browser(chromium, tmp_path / "profile") as browser:
        report = browser.load(served + path)
    assert title.lower() in report.title.lower(), report.title
    assert report.errors == [], report.errors
    assert len(report.images) >= least_images, report.images
    assert report.missing_images == [], report.missing_images
