"""One self-contained HTML file (issue 12): `analogc sweep ... --html` and `analogc report
MODEL --html`. Parsed strictly (every table has rows, every image is an embedded PNG that
decodes, nothing is fetched), then opened in a real headless browser when one is installed
(Debian's chromium-headless-shell driven by Playwright; skipped, saying so, otherwise)."""
import base64
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from analogc.cli import main

CHROMIUM = next((p for p in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if Path(p).exists()), None)


class _Strict(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.tables, self.rows, self.imgs, self.external = [], 0, [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "link", "iframe", "object") or any(
                (v or "").startswith(("http:", "https:", "//")) for k, v in a.items() if k in ("src", "href")):
            self.external.append((tag, a))
        if tag == "table":
            self.tables += 1
            self.rows.append(0)
        if tag == "tr" and self.rows:
            self.rows[-1] += 1
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def _check(path: Path, min_tables: int, min_imgs: int) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    p = _Strict()
    p.feed(text)
    p.close()
    assert not p.stack, p.stack
    assert not p.external, p.external
    assert p.tables >= min_tables and all(r >= 2 for r in p.rows), p.rows  # header + data rows
    assert len(p.imgs) >= min_imgs
    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        w, h = struct.unpack(">II", png[16:24])
        assert w > 100 and h > 100


def _browser(path: Path, min_tables: int, min_imgs: int) -> None:
    pw = pytest.importorskip("playwright.sync_api", reason="playwright not installed: no real-browser check")
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium-headless-shell): no real-browser check")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = b.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        tables = page.eval_on_selector_all("table", "ts => ts.map(t => [t.rows.length, t.getBoundingClientRect().height])")
        imgs = page.eval_on_selector_all("img", "is => is.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        b.close()
    assert len(tables) >= min_tables and all(n >= 2 and h > 10 for n, h in tables), tables
    assert len(imgs) >= min_imgs and all(c and w > 100 and h > 100 for c, w, h in imgs), imgs
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # nothing fetched


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    assert main(["sweep", "--family", "mlp", "--sizes", "2", "--hw", "pcm-hermes", "--hw", "freespace",
                 "--workers", "1", "--format", "csv", "--html", str(d / "sweep.html")]) == 0
    assert main(["report", "mlp", "--hw", "pcm-hermes", "--hw", "freespace", "--format", "json",
                 "--html", str(d / "report.html")]) == 0
    return d


@pytest.mark.parametrize("name,tables,imgs", [("sweep.html", 4, 5), ("report.html", 5, 1)])
def test_html_is_self_contained_and_strict(pages, name, tables, imgs):
    _check(pages / name, tables, imgs)


@pytest.mark.parametrize("name,tables,imgs", [("sweep.html", 4, 5), ("report.html", 5, 1)])
def test_html_renders_in_headless_chromium(pages, name, tables, imgs):
    _browser(pages / name, tables, imgs)
