"""Render a written report in headless Chromium: a full-page PNG screenshot to look at, and the count of
images that did not load (each figure must load from the folder, with no network).
`python benchmarks/report_screenshots.py REPORT_DIR [OUT.png] [--height PX]`; prints the images and the
broken ones; exits 1 when one is broken or Chromium is absent."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PROBE = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
         "document.body.setAttribute('data-images', imgs.length);"
         "document.body.setAttribute('data-broken', imgs.filter(i=>!i.complete||i.naturalWidth===0)"
         ".map(i=>i.getAttribute('src')).join(' '));});</script>")


def chromium(*args: str) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("no chromium here: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180).stdout


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    height = int(sys.argv[sys.argv.index("--height") + 1]) if "--height" in sys.argv else 12000
    args = [a for a in args if a != str(height)]
    report = Path(args[0]) / "report.html"
    shot = Path(args[1]) if len(args) > 1 else Path(args[0]) / "screenshot.png"
    probe = report.with_name(".probe.html")
    probe.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--dump-dom", probe.resolve().as_uri())
    probe.unlink()
    body = dom[dom.index("<body"):dom.index(">", dom.index("<body"))]
    broken = body.split('data-broken="')[1].split('"')[0].split()
    print(f"images: {body.split('data-images=')[1].split()[0]}, broken: {broken or 'none'}")
    chromium(f"--window-size=1200,{height}", f"--screenshot={shot.resolve()}", report.resolve().as_uri())
    print(f"wrote {shot}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
