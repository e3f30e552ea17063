"""`transferlab report RUN`: one self-contained page per run folder (fne, finetune, sweep, words), bounded,
and the same pages opened in a real headless Chromium (clicks, console errors, a screenshot)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

WORDS = ["cat", "dog", "horse", "frog", "paris", "london", "tokyo", "rome", "car", "truck", "bus", "apple", "banana"]


@pytest.fixture(scope="module")
def fne_dir(fne_run) -> Path:
    """The shared FNE run's folder (conftest's ``fne_run``)."""
    return fne_run.run_dir


@pytest.fixture(scope="module")
def ft_run(small_folder, tmp_path_factory) -> Path:
    import transferlab as tl

    out = tmp_path_factory.mktemp("rep") / "ft"
    tl.finetune(small_folder, model="efficientnet_lite0", image_size=48, epochs=2, batch_size=8, workers=0,
                freeze="all", quiet=True, out=out)
    return out


@pytest.fixture(scope="module")
def words_run(tmp_path_factory) -> Path:
    from transferlab.cli import main

    out = tmp_path_factory.mktemp("rep") / "words"
    assert main(["words", "report", *WORDS, "--query", "frog", "paris", "--analogy", "man:king:woman",
                 "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def sweep_run(small_folder, tmp_path_factory) -> Path:
    import transferlab as tl

    out = tmp_path_factory.mktemp("rep") / "sweep"
    tl.sweep({"command": "fne", "base": {"data": str(small_folder), "image_size": 48, "workers": 0},
              "grid": {"layers": ["last", "stages"]}}, out=out, quiet=True)
    return out


def page_data(html: str) -> tuple[list[str], dict]:
    thumbs = re.search(r"<script type='application/json' id='thumbs'>(.*?)</script>", html, re.S).group(1)
    data = re.search(r"<script type='application/json' id='data'>(.*?)</script>", html, re.S).group(1)
    return json.loads(thumbs), json.loads(data)


def test_fne_report_shows_every_mistake_with_its_picture(fne_dir, capsys):
    code, out, err = run_cli(["report", fne_dir, "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["kind"] == "fne" and err == ""
    html = (fne_dir / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: it opens from disk
    thumbs, data = page_data(html)
    assert all(t.startswith("data:image/jpeg;base64,") for t in thumbs) and info["unreadable_images"] == 0
    preds = (fne_dir / "predictions.csv").read_text().splitlines()[1:]
    wrong = [line for line in preds if line.split(",")[3] == "0"]
    assert sum(len(v) for v in data["cells"].values()) == len(wrong)  # 12 per cell is more than these have
    metrics = json.loads((fne_dir / "metrics.json").read_text())
    for c, m in metrics["per_class"].items():
        assert f"<td>{c}</td><td class='num' data-v='{m['precision']}'>" in html
    assert html.count("<tr><td>") >= len(metrics["compare"])  # the per-layer table, one row per layer + all
    assert "Nearest training images" in html and html.count("<br>cosine ") == 6 * 6
    assert json.loads((fne_dir / "run.json").read_text())["report"]["html"] == str(fne_dir / "report.html")


def test_the_page_is_bounded(fne_dir):
    import transferlab as tl

    info = tl.report(fne_dir, per_cell=1, gallery=2, queries=1, neighbours=2, max_images=100)
    thumbs, data = page_data(Path(info["html"]).read_text())
    assert all(len(v) <= 1 for v in data["cells"].values())
    assert len(thumbs) <= 2 * len(data["cells"]) + 2 + 2 + 1 + 2
    info = tl.report(fne_dir, max_images=3, queries=0)
    thumbs, data = page_data(Path(info["html"]).read_text())
    assert info["per_cell"] == 0 and data["cells"] == {k: [] for k in data["cells"]}


def test_a_probe_run_elsewhere_finds_the_features_of_its_embed_run(fne_dir, tmp_path, capsys):
    code, _, _ = run_cli(["probe", fne_dir, "--layers", "bn2", "--post", "l2", "--out", tmp_path / "p"], capsys)
    assert code == 0
    code, out, _ = run_cli(["report", tmp_path / "p", "--json", "--queries", "2", "--neighbours", "3"], capsys)
    html = (tmp_path / "p" / "report.html").read_text()
    assert code == 0 and html.count("<br>cosine ") == 2 * 3 and "l2-post-processed" in html


def test_finetune_report_has_learning_curves_and_the_chosen_epoch(ft_run, capsys):
    code, out, _ = run_cli(["report", ft_run], capsys)
    assert code == 0 and "report.html" in out
    html = (ft_run / "report.html").read_text()
    best = json.loads((ft_run / "metrics.json").read_text())["best_epoch"]
    assert "Learning curves" in html and f"<td>chosen: {best}</td>" in html
    assert "data:image/png;base64," in html and "softmax probability" in html


def test_a_folder_that_is_not_a_finished_run_is_one_line(tmp_path, fne_dir, capsys):
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = run_cli(["report", tmp_path], capsys)
    assert code == 2 and err.count("\n") == 1 and "is not a transferlab run folder" in err
    code, _, err = run_cli(["report", tmp_path / "missing"], capsys)
    assert code == 2 and "run folder not found" in err
    half = tmp_path / "half"
    shutil.copytree(fne_dir, half)
    manifest = json.loads((half / "run.json").read_text())
    (half / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    code, _, err = run_cli(["report", half], capsys)
    assert code == 2 and "it is running" in err and err.count("\n") == 1


def test_words_report(words_run, capsys):
    html = (words_run / "report.html").read_text()
    assert "<svg id='cluster-map'" in html and html.count("<circle") == len(WORDS)
    assert "man : king :: woman : ?</td><td>queen (" in html and "<td>frog</td>" in html
    stamp = (words_run / "report.html").stat().st_mtime_ns
    code, _, _ = run_cli(["report", words_run], capsys)  # redrawn from words-report.json, no vectors needed
    assert code == 0 and (words_run / "report.html").read_text() == html
    assert (words_run / "report.html").stat().st_mtime_ns >= stamp


def test_sweep_report_links_each_runs_report(sweep_run, capsys):
    code, out, _ = run_cli(["report", sweep_run, "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["kind"] == "sweep" and len(info["run_reports"]) == 2
    html = (sweep_run / "report.html").read_text()
    for name, rel in info["run_reports"].items():
        assert f"<a href='{rel}'>{name}</a>" in html and (sweep_run / rel).is_file()
        assert "keeps no features" in (sweep_run / rel).read_text()  # a sweep's runs leave them in the cache


# ------------------------------------------------------------------ in a real browser
def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium here: `apt-get install chromium chromium-driver` (make setup does it where apt is "
                    "available)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2000",
              "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    yield driver
    driver.quit()


def _open(driver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert driver.execute_script("return document.querySelectorAll('img[data-t]:not([src])').length") == 0


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["fne", "ft"])
def test_clicking_a_confusion_cell_shows_its_images(browser, kind, fne_dir, ft_run, tmp_path):
    from selenium.webdriver.common.by import By

    import transferlab as tl

    run = {"fne": fne_dir, "ft": ft_run}[kind]
    tl.report(run)
    _open(browser, run / "report.html")
    cells = browser.find_elements(By.CSS_SELECTOR, ".cm td.hit")
    assert cells, "the run made no mistake to click"
    cells[0].click()
    view = browser.find_element(By.ID, "cell-view")
    n = int(cells[0].get_attribute("data-n"))
    shown = view.find_elements(By.CSS_SELECTOR, "figure img[src^='data:image/jpeg']")
    assert len(shown) == min(n, 12) and "predicted" in view.text
    assert browser.execute_script("return document.querySelector('#cell-view img').naturalWidth") > 0
    header = browser.find_element(By.CSS_SELECTOR, "table.per-class th:nth-child(3)")  # sort by recall
    header.click()
    recalls = [float(td.text) for td in browser.find_elements(By.CSS_SELECTOR, "table.per-class td:nth-child(3)")]
    assert recalls == sorted(recalls)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    shot = tmp_path / f"report-{kind}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


@pytest.mark.browser
def test_sweep_and_words_pages_open_without_errors(browser, sweep_run, words_run, tmp_path):
    from selenium.webdriver.common.by import By

    import transferlab as tl

    tl.report(sweep_run)
    _open(browser, sweep_run / "report.html")
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "stages")
    link.click()
    assert "Confusion matrix" in browser.page_source  # the run's own report
    _open(browser, words_run / "report.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cluster-map circle")) == len(WORDS)
    assert browser.save_screenshot(str(tmp_path / "words.png"))
