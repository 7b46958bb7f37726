"""Take the screenshots docs/report.md shows, with headless Chromium at 1,280 px.

    rareflow demo --out /tmp/demo
    python docs/report/screenshots.py /tmp/demo/out/report.html

Writes report-top.png (the page as it opens), report-findings.png (the findings section),
report-attribution.png (the Sankey and the bar chart) and report-trace.png (a teardown trace)
into this folder. Each section is shot on its own by hiding the others in a copy of the page."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 1280
SHOTS = {"report-top.png": (None, 1000), "report-findings.png": ("findings", 1300),
         "report-attribution.png": ("attribution", 1020), "report-trace.png": ("traces", 560)}


def shoot(page: Path, section: str | None, height: int, out: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed")
    html = page.read_text("utf-8")
    if section:
        html = html.replace("</head>", "<style>header,main>section{display:none}"
                            f"main>section#{section}{{display:block}}</style></head>")
    copy = page.with_name(f"shot-{out.stem}.html")
    copy.write_text(html, "utf-8")
    try:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={WIDTH},{height}",
                        "--virtual-time-budget=15000", f"--screenshot={out}", copy.as_uri()],
                       check=True, capture_output=True, timeout=180)
    finally:
        copy.unlink()


def main() -> None:
    page = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as profile:
        for name, (section, height) in SHOTS.items():
            shoot(page, section, height, HERE / name, Path(profile))
            print(HERE / name)


if __name__ == "__main__":
    main()
