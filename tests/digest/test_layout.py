"""The digest email as a browser lays it out: headless Chromium at 1200 and 400 px.

Checks what a reader sees: no horizontal scrolling on a 400 px phone, the chart shown
at a size where its smallest text is still legible (>= 9 CSS px), the MSO wrapper for
Outlook desktop present. Headless Chromium will not make a window narrower than ~500
px, so the email is shown in an iframe of exactly the width under test (as webmail
shows it, in a frame). A script appended to a copy of the email (the email itself
carries none) measures inside the frame and writes the figures into the outer page;
`--dump-dom` prints it. CI installs Chromium (.ci/run); without it this test skips.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncd.digest import chart
from syncd.digest.render import write_preview
from tests.digest.test_metrics import fixture_digest, fixture_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MIN_TEXT_PX = 9.0

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="LAYOUT NOT CHECKED: Chromium is not installed (apt-get install -y chromium);"
    " .ci/run installs it in CI",
)

PROBE = """<script>
(function () {
  var img = document.querySelector("img.chart");
  var out = parent.document.createElement("pre");
  out.id = "measure";
  out.textContent = JSON.stringify({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
    chart: img ? img.getBoundingClientRect().width : null
  });
  parent.document.body.appendChild(out);
})();
</script>
"""
FRAME = (
    '<!DOCTYPE html><html><body style="margin:0">'
    '<iframe style="width:{width}px;height:900px;border:0" srcdoc="{email}"></iframe>'
    "</body></html>"
)


def _measure(email: Path, width: int, profile: Path) -> dict[str, Any]:
    assert CHROMIUM is not None
    # The chart is referenced by file name: srcdoc resolves it against the outer page.
    page = email.with_name(f"frame-{width}.html")
    page.write_text(
        FRAME.format(width=width, email=html.escape(email.read_text(encoding="utf-8"))),
        encoding="utf-8",
    )
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1300,1000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="measure">(.*?)</pre>', proc.stdout)
    assert match, f"no measurement (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"'))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout")
    email, _png = write_preview(fixture_digest(), fixture_settings(), out / "digest.html")
    text = email.read_text(encoding="utf-8")
    assert "<!--[if mso]>" in text and "<![endif]-->" in text  # Outlook desktop's wrapper
    probe = out / "measured.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return probe


@pytest.mark.parametrize("width", [1200, 400])
def test_no_horizontal_scroll_and_legible_chart(page: Path, width: int, tmp_path: Path) -> None:
    got = _measure(page, width, tmp_path / "profile")
    assert got["scroll"] <= got["client"], got  # nothing wider than the window
    shown = got["chart"]
    assert shown is not None and shown > 0
    smallest = chart.SMALL_TEXT * shown / chart.WIDTH
    assert smallest >= MIN_TEXT_PX, f"chart text {smallest:.1f} px at {width} px: {got}"
    if width == 1200:
        assert shown == chart.DISPLAY_WIDTH  # full size on a desktop
