"""The labelling page: its API, and end to end in a real headless Chromium (skipped without one)."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request

import numpy as np
import pytest
import tifffile

from microdl.analysis.agreement import pairwise_kappa
from microdl.data.damage_store import DamageStore
from microdl.workflows.damage_label import make_server


@pytest.fixture
def served(tmp_path):
    img = np.full((300, 400), 120, np.uint8)
    sites = []
    for y, x in [(50, 50), (150, 200), (250, 350)]:
        img[y - 5:y + 5, x - 5:x + 5] = 5
        sites.append({"x": x - 0.5, "y": y - 0.5, "area_px": 100, "bbox": (x - 5, y - 5, x + 5, y + 5)})
    tifffile.imwrite(tmp_path / "p.tif", img)
    store = DamageStore(tmp_path / "store")
    image = store.add_image(tmp_path / "p.tif", sample="S", strain=0.2)
    ids = store.add_sites(image, sites, {})
    server = make_server(store, port=0, annotator="ann")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield store, ids, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read(), r.headers["Content-Type"]


def _post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_api(served):
    store, ids, url = served
    body, ctype = _get(url + "/api/next?annotator=bob")
    site = json.loads(body)["site"]
    assert site["site_id"] == ids[0] and site["remaining"] == 3 and site["strain"] == 0.2
    png, ctype = _get(url + f"/api/crop/{ids[0]}.png?context=1")
    assert ctype == "image/png" and png[:4] == b"\x89PNG"
    assert _post(url + "/api/label", {"site_id": ids[0], "label": "notch", "annotator": "bob"})[0] == 200
    code, err = _post(url + "/api/label", {"site_id": ids[0], "label": "banana", "annotator": "bob"})
    assert code == 400 and "label must be one of" in err["error"]
    code, err = _post(url + "/api/label", {"site_id": 999, "label": "notch", "annotator": "bob"})
    assert code == 400 and "no site" in err["error"]
    assert json.loads(_get(url + "/api/next?annotator=bob")[0])["site"]["site_id"] == ids[1]
    assert _post(url + "/api/undo", {"annotator": "bob"})[1]["site"]["site_id"] == ids[0]
    stats = json.loads(_get(url + "/api/stats")[0])
    assert stats["counts"]["notch"] == 1 and stats["annotators"] == {"bob": 1}


def test_pairwise_kappa():
    latest = {1: {"a": "x", "b": "x"}, 2: {"a": "y", "b": "y"}, 3: {"a": "x", "b": "y"}, 4: {"a": "y", "c": "y"}}
    res = {(r["a"], r["b"]): r for r in pairwise_kappa(latest)}
    assert res[("a", "b")]["n_sites"] == 3 and res[("a", "b")]["agreement"] == pytest.approx(2 / 3)
    # by hand: p_o = 2/3, p_e = (2/3 * 1/3) + (1/3 * 2/3) = 4/9, kappa = (2/3 - 4/9) / (1 - 4/9) = 0.4
    assert res[("a", "b")]["kappa"] == pytest.approx(0.4)
    assert res[("a", "c")]["kappa"] is None and ("b", "c") not in res


def _browser():
    """A headless Chromium through Selenium, or a skip with the reason."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("no Chromium here: apt-get install chromium chromium-driver (see README)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
                "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_label_in_a_real_browser(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    store, ids, url = served
    browser = _browser()
    try:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 15)
        wait.until(lambda b: b.find_element(By.ID, "site-id").text == str(ids[0]))
        assert browser.find_element(By.ID, "annotator").get_attribute("value") == "ann"
        wait.until(lambda b: b.execute_script("const i = document.getElementById('crop');"
                                              "return i.complete && i.naturalWidth > 0;"))
        browser.find_element(By.CSS_SELECTOR, "button.cls[data-label='interface']").click()  # a click
        wait.until(lambda b: b.find_element(By.ID, "site-id").text == str(ids[1]))
        browser.find_element(By.TAG_NAME, "body").send_keys("1")  # key 1: the first class, inclusion
        wait.until(lambda b: b.find_element(By.ID, "site-id").text == str(ids[2]))
        wait.until(ec.text_to_be_present_in_element((By.ID, "counts"), "2 / 3"))
        browser.save_screenshot(str(tmp_path / "label.png"))
    finally:
        browser.quit()
    rows = store.labels()
    assert [(r["site_id"], r["label"], r["annotator"], r["source"]) for r in rows] == [
        (ids[0], "interface", "ann", "browser"), (ids[1], "inclusion", "ann", "browser")]
