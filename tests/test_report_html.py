"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium, driven from the command
line): its key elements are in the rendered page and its plots are drawn on the screenshot."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import compose_config
from mhcompare.stages import aggregate
from support.synthetic_runs import write_planted_sweep

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          timeout=180)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed; run scripts/install_chromium.sh (Debian's chromium package)")
    outputs = tmp_path_factory.mktemp("outputs")
    write_planted_sweep(outputs / "planted")
    aggregate.run(compose_config(["experiment_name=planted", "stage=aggregate"], outputs=outputs))
    html = outputs / "planted" / "report" / "performance_comparison.html"
    # the page must stand alone: copy it away from the PNGs and CSVs beside it
    alone = tmp_path_factory.mktemp("alone") / "report.html"
    shutil.copy(html, alone)
    return alone


def test_the_rendered_page_has_every_section_table_and_plot(page, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr.decode()[-2000:]
    text = dom.stdout.decode("utf-8")
    for anchor in ("recommendation", "training", "inference", "evaluation", "judge", "power", "human-judgement",
                   "models", "provenance"):
        assert f'id="{anchor}"' in text, anchor
    assert "<strong>alpha</strong>, clearly ahead on 1 of 1 metrics" in text
    assert "alpha (a) · beta (b) · gamma (b)" in text
    assert len(re.findall(r"<table>", text)) >= 6
    images = re.findall(r'<img alt="[^"]*" data-file="([^"]+)" src="data:image/png;base64,', text)
    assert sorted(images) == ["bars_evaluation.png", "bars_training.png", "latency_throughput.png", "loss_curves.png"]
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_the_screenshot_shows_the_report_with_its_plots(page, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    out = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2600", page.as_uri())
    assert out.returncode == 0 and shot.exists(), out.stderr.decode()[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2600)
    colours = image.getcolors(maxcolors=1 << 20)
    counts = {rgb: n for n, rgb in colours}
    assert len(counts) > 500  # text, tables and plots, not a blank or error page
    # the model colours of the plots are drawn: alpha's blue and gamma's green bars and lines
    for rgb in ((0x1F, 0x77, 0xB4), (0x2C, 0xA0, 0x2C)):
        near = sum(n for colour, n in counts.items() if all(abs(a - b) <= 24 for a, b in zip(colour, rgb)))
        assert near > 500, rgb
