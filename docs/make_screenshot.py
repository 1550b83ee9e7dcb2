"""Regenerate docs/dashboard.png: `dpo demo` in a scratch home, `dpo serve`, headless Chromium.

    python docs/make_screenshot.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).with_name("dashboard.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DPO_HOME": home}
        dpo = [sys.executable, "-m", "dpo"]
        subprocess.run([*dpo, "demo"], env=env, check=True, capture_output=True)
        subprocess.run([*dpo, "goals", "add", "demo", "--kpi", "revenue", "--target", "150000",
                        "--name", "Revenue this month"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        made = subprocess.run([*dpo, "tokens", "create", "demo"], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        token = re.search(r"dpo_[A-Za-z0-9_-]+", made.stdout + made.stderr)
        assert token, made.stdout
        server = subprocess.Popen([*dpo, "serve", "--port", "8765"], env=env,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            time.sleep(3)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium,
                                             args=["--headless", "--no-sandbox", "--disable-gpu",
                                                   "--disable-background-networking"])  # fmt: skip
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto("http://127.0.0.1:8765/")
                page.fill("#token", token[0])
                page.click("#login-form button")
                page.wait_for_selector("#chart svg polyline")
                page.screenshot(path=str(OUT), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
