"""Screenshots of an insitu4d report in headless Chromium, to look at it as a reader would.

Usage: python scripts/report_screenshots.py OUT/report.html [SHOTS_DIR]

Writes ``top.png`` (the first screen, 1280 × 900) and ``full.png`` (the page 1280 px wide and
tall enough for all of it) into SHOTS_DIR (default: beside the report, ``screenshots/``).
Needs Chromium: on Debian/Ubuntu ``sudo apt-get install chromium`` (the binary is looked for
as ``chromium``, ``chromium-browser``, ``google-chrome``, or the CHROMIUM environment variable).
Runs offline: the report embeds its figures, and background networking is switched off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("Chromium not found: install it (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome.")


def shoot(report: Path, out: Path, size: tuple[int, int]) -> Path:
    """One screenshot of ``report`` at window ``size`` (width, height) px."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                        f"--screenshot={out}", report.resolve().as_uri()], check=True, capture_output=True,
                       timeout=120)
    return out


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    report = Path(sys.argv[1])
    if not report.is_file():
        sys.exit(f"{report} does not exist.")
    shots = Path(sys.argv[2]) if len(sys.argv) > 2 else report.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    html = report.read_text(encoding="utf-8")
    height = 900 + 420 * html.count("<figure>") + 24 * html.count("<tr>")  # the page's height, roughly
    for name, size in (("top.png", (1280, 900)), ("full.png", (1280, height))):
        print(shoot(report, shots / name, size))


if __name__ == "__main__":
    main()
