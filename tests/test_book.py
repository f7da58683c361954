"""The strict book build (-W) and a real-browser check of a rendered chapter."""
import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import numpy as np
import pytest

from helpers import book, paths, staging

pytestmark = pytest.mark.book
BOOK_SET = os.environ.get("ISOBOOK_TEST_BOOK", "smoke")
"""The book these checks build and read: a parameter set's staged book (default ``smoke``, the small set ``make
test`` builds: every chapter, both objectives, the controls, in minutes), or ``default`` for the full-scale book."""
ROOT = paths.ROOT if BOOK_SET == "default" else staging.STAGED / BOOK_SET
BUILD = paths.BUILD if BOOK_SET == "default" else ROOT / "_build"
HTML = BUILD / "html"
CHAPTER = HTML / "notebooks" / "00_models_and_data.html"
SHOTS = BUILD / "screenshots"


@pytest.fixture(scope="module")
def built():
    """The strict build of the book under test: the one ``make test`` made a moment before
    (``ISOBOOK_TEST_REUSE_BUILD=1``: its return code and log, if made by these helpers), else built here."""
    if os.environ.get("ISOBOOK_TEST_REUSE_BUILD") and (last := book.last_build(ROOT)) is not None:
        return last
    if BOOK_SET == "default":
        return book.build(capture=True)
    return staging.build(BOOK_SET, capture=True)[1]


def test_book_builds_with_warnings_as_errors(built):
    log = built.stdout + built.stderr
    assert built.returncode == 0, log[-4000:]
    assert "build succeeded" in log
    assert (HTML / "index.html").is_file() and CHAPTER.is_file()
    # stage 2 executed every notebook and stored it as myst-nb looks it up: the build itself executes none
    executed = book.EXECUTING.findall(log)
    assert not executed, f"the build executed {executed}: stage 2's cache entries did not match myst-nb's lookup"


def _chromium() -> str:
    for c in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(c):
            return shutil.which(c)
    raise AssertionError("the browser check needs Chromium (Debian: apt-get install chromium); `make test` installs it")


def _headless(*args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tempfile.mkdtemp()}"]
    return subprocess.run(["timeout", "90", _chromium(), *flags, *args], capture_output=True, text=True)


def test_browser_renders_chapter_with_title_and_figures(built):
    assert built.returncode == 0
    dom = _headless("--virtual-time-budget=5000", "--dump-dom", CHAPTER.as_uri()).stdout
    assert re.search(r"<h1[^>]*>\s*Models and data", dom), "chapter title not rendered"
    imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', dom)
    figures = [s for s in imgs if "_images" in s]
    assert len(figures) >= 3, f"expected the chapter's figures, found {imgs}"
    for src in figures:
        assert (CHAPTER.parent / src).resolve().stat().st_size > 5_000
    assert "glue" not in dom.lower() or "{glue" not in dom, "an unresolved glue reference"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "00_models_and_data.png"
    res = _headless("--window-size=1280,2400", f"--screenshot={shot}", CHAPTER.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.stat().st_size > 20_000


CHAPTERS = sorted(p.stem for p in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MISSING = re.compile(r"(?<![\w.-])(nan|NaN|<NA>|NaT|None(?! (?:of|the|is|was|are)\b))(?![\w-])")
"""A missing value printed where a number or a word belongs (English "None of ..." is prose)."""


def output_text(html: str) -> str:
    """The text a reader sees in a page's cell outputs and glued text (not in the hidden code inputs)."""
    from html.parser import HTMLParser

    class Outputs(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.parts = [], []

        def handle_starttag(self, tag, attrs):
            classes = (dict(attrs).get("class") or "").split()
            self.stack.append("in" if "cell_input" in classes or tag in ("script", "style") else
                              "out" if "cell_output" in classes or "output" in classes else "")

        def handle_endtag(self, tag):
            if self.stack:
                self.stack.pop()

        def handle_data(self, data):
            if "in" not in self.stack:
                self.parts.append(data)

    p = Outputs()
    p.feed(html)
    return " ".join(p.parts)


def test_output_text_finds_a_missing_value_outside_code_only():
    page = ('<div class="cell_input"><pre>sweep = None; x = np.nan</pre></div>'
            '<div class="cell_output"><table><td>0.5</td><td>nan</td><td>None</td></table></div>'
            '<p>None of the seeds</p>')
    found = MISSING.findall(output_text(page))
    assert found == ["nan", "None"]               # the table's nan and None; never the code's, never prose
    assert not MISSING.findall(output_text('<div class="cell_output"><p>n/a, nanometre, non-None</p></div>'))


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_renders_with_figures_and_math(built, stem):
    import nbformat

    assert built.returncode == 0
    page = HTML / "notebooks" / f"{stem}.html"
    title = nbformat.read(paths.NOTEBOOKS / f"{stem}.ipynb", 4).cells[0].source.splitlines()[0].lstrip("# ").strip()
    dom = _headless("--virtual-time-budget=8000", "--dump-dom", page.as_uri()).stdout
    assert re.search(rf"<h1[^>]*>\s*{re.escape(title)}", dom), f"title {title!r} not rendered"
    images = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', dom)
    assert images, "no figure rendered"
    figures = re.findall(r"<figure\b.*?</figure>", dom, flags=re.S)     # every figure numbered and captioned
    captioned = sum(len(re.findall(r'<img[^>]+src="[^"]*_images/', f)) for f in figures
                    if "<figcaption" in f and "caption-number" in f)
    assert captioned == len(images), f"{len(images) - captioned} of {len(images)} figure(s) without a numbered caption"
    assert "Traceback (most recent call last)" not in dom
    missing = sorted(set(MISSING.findall(output_text(dom))))
    assert not missing, f"the page shows {missing}: a missing value must be explained or absent"
    if "$" in (paths.NOTEBOOKS / f"{stem}.ipynb").read_text():
        assert "mjx-container" in dom, "math not typeset (MathJax is served from _static)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    res = _headless("--window-size=1280,6000", "--virtual-time-budget=8000", f"--screenshot={SHOTS / (stem + '.png')}",
                    page.as_uri())
    assert res.returncode == 0


BARE_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$|^(nan|inf|-inf)$")
"""The text form of a glued Python int or float (a string glued through helpers.words is quoted)."""


def bare_glues(glued: dict) -> list[str]:
    """Keys of a myst-nb glue store (``*.glue.json``) whose value is a bare number: no unit, no noun, no digits
    chosen (helpers.words.quantity / count make the text)."""
    return sorted(k for k, v in glued.items()
                  if set(v.get("data", {})) == {"text/plain"} and BARE_NUMBER.match(v["data"]["text/plain"].strip()))


def test_bare_glue_finder_tells_a_number_from_a_formatted_one():
    def g(text):
        return {"data": {"text/plain": text}}
    store = {"a": g("0.5418"), "b": g("'0.54 of all occurrences'"), "c": g("6"), "d": g("-1.2e-05"), "e": g("nan"),
             "f": {"data": {"text/plain": "<Figure>", "image/png": "..."}}, "g": g("'3 fine-tuning seeds'")}
    assert bare_glues(store) == ["a", "c", "d", "e"]


def test_no_glued_number_is_bare(built):
    """Every number a page glues carries its unit or noun and the digits it deserves: a chapter that glues a raw
    float shows 17 digits (or "nan") and leaves the reader to guess what it measures."""
    assert built.returncode == 0
    stores = sorted((BUILD / "jupyter_execute").rglob("*.glue.json"))
    assert stores, "myst-nb wrote no glue store"
    bare = {p.name.removesuffix(".glue.json"): keys for p in stores if (keys := bare_glues(json.loads(p.read_text())))}
    assert not bare, f"glued bare numbers (format them with helpers.words.quantity or count): {bare}"


def test_build_progress_names_each_notebook_with_an_estimate_and_hides_the_tcp_note(tmp_path):
    """The progress reader on the build's real log lines (myst-nb's, colour codes included)."""
    import io

    root = str(paths.ROOT)
    lines = ["\x1b[01mreading sources... \x1b[39;49;00m[ 20%] \x1b[35mnotebooks/01_finetuning\x1b[39;49;00m\n",
             f"{root}/notebooks/01_finetuning.ipynb: Executing notebook using local CWD [mystnb]\n",
             "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...\n",
             f"{root}/notebooks/01_finetuning.ipynb: Executed notebook in 75.20 seconds [mystnb]\n",
             f"{root}/notebooks/02_isotropy.ipynb: Executing notebook using local CWD [mystnb]\n",
             f"{root}/notebooks/02_isotropy.ipynb: Executing notebook failed: CellExecutionError [mystnb]\n"]
    clock = iter(range(0, 1000, 10))
    out = io.StringIO()
    p = book.Progress(["notebooks/00_models_and_data", "notebooks/01_finetuning", "notebooks/02_isotropy"],
                      {"notebooks/01_finetuning": 80.0, "notebooks/02_isotropy": 100.0}, out=out,
                      clock=lambda: next(clock))
    for ln in lines:
        p.feed(ln)
    text = out.getvalue()
    assert "without encryption" not in text
    assert "[book 2/3] executing notebooks/01_finetuning" in text and "it took 1m20s in the last build" in text
    assert "about 3m00s left" in text                      # 80 s + 100 s for it and the notebooks after it
    assert "[book] notebooks/01_finetuning executed in 1m15s" in text
    assert "[book 3/3] executing notebooks/02_isotropy" in text and "notebooks/02_isotropy FAILED" in text
    assert p.times["notebooks/01_finetuning"] == 75.2
    assert book.toc_notebooks()[0] == "notebooks/findings" and "notebooks/status" in book.toc_notebooks()


def test_findings_page_shows_no_missing_value_or_traceback(built):
    assert built.returncode == 0
    dom = _headless("--virtual-time-budget=8000", "--dump-dom", (HTML / "notebooks" / "findings.html").as_uri()).stdout
    assert re.search(r"<h1[^>]*>\s*Findings", dom) and "Traceback (most recent call last)" not in dom
    missing = sorted(set(MISSING.findall(output_text(dom))))
    assert not missing, f"the findings page shows {missing}"


def test_status_page_says_whether_the_build_reproduces_its_reference(built):
    """The build status page checks the book against its set's reference ledger and says the result in one sentence:
    reproduces, differs (with the cells), or that no reference is committed for it."""
    assert built.returncode == 0
    dom = _headless("--virtual-time-budget=8000", "--dump-dom", (HTML / "notebooks" / "status.html").as_uri()).stdout
    assert re.search(r"<h1[^>]*>\s*Build status", dom) and "Traceback (most recent call last)" not in dom
    assert re.search(r"This build (reproduces the reference ledger|DIFFERS from the reference ledger|has no reference ledger|was built "
                     r"on other parameters)",
                     output_text(dom)), "the status page does not say whether the build reproduces its reference"


class _Tables(HTMLParser):
    """The tables of a built page: each as (hidden, header, rows), ``hidden`` when inside a cell whose output is a
    click away (tag ``hide-output``)."""

    def __init__(self):
        super().__init__()
        self.divs, self.tables, self.cell, self.row, self.current = [], [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div":
            self.divs.append("tag_hide-output" in (a.get("class") or ""))
        elif tag == "table":
            self.current = {"hidden": any(self.divs), "rows": []}
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "div" and self.divs:
            self.divs.pop()
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.current is not None:
            self.current["rows"].append(self.row)
            self.row = None
        elif tag == "table" and self.current is not None:
            rows = self.current["rows"]
            self.tables.append((self.current["hidden"], rows[0] if rows else [], rows[1:]))
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_tables(stem: str) -> list[tuple[bool, list[str], list[list[str]]]]:
    parser = _Tables()
    parser.feed((HTML / "notebooks" / f"{stem}.html").read_text(encoding="utf-8"))
    return parser.tables


def column(tables, name: str, key: str = "claim") -> dict[str, str]:
    """{claim: value} of the first shown table with a column ``name`` (a table whose index is the claim has an
    empty first header)."""
    for hidden, header, rows in tables:
        if hidden or name not in header:
            continue
        k = header.index(key) if key in header else 0
        return {r[k]: r[header.index(name)] for r in rows if len(r) == len(header)}
    raise AssertionError(f"no shown table has a column {name!r}; headers: {[h for _, h, _ in tables]}")


def test_every_statement_of_a_verdict_agrees_across_the_pages(built):
    """One account: each claim's verdict is the same word in the findings table, the findings page's summary, its
    layer grid, the ledger of chapter 06, that chapter's grid and the objectives' comparison on both pages."""
    assert built.returncode == 0
    findings, ledger = page_tables("findings"), page_tables("06_claims_ledger")
    verdicts = column(findings, "verdict here")
    assert set(verdicts) >= {f"C{i}" for i in range(1, 8)}, verdicts
    assert column(ledger, "verdict") == verdicts
    for tables in (findings, ledger):
        assert column(tables, "verdict (mean of layers)") == verdicts
        lead = [h for h in next(h for hidden, h, _ in tables if not hidden and "same decisive verdict" in h)
                if h.startswith("verdict: ")][0]
        assert column(tables, lead) == verdicts
    text = " ".join((HTML / "notebooks" / "findings.html").read_text(encoding="utf-8").split())
    said = dict(re.findall(r"<strong>(C[1-7]) (supported|contradicted|inconclusive)</strong>", text))
    assert said and all(verdicts[c] == w for c, w in said.items()), (said, verdicts)


SHORTENED = ("findings", "06_claims_ledger", "03_local_structure", "04_elongated_directions", "05_enhancement")
"""The pages whose shown tables are a wider table's chosen columns (the full table a click away)."""


@pytest.mark.parametrize("stem", sorted(set(SHORTENED) | {"00_models_and_data", "01_finetuning", "02_isotropy",
                                                          "07_during_finetuning", "08_geometry_during_pretraining"}))
def test_a_shown_table_has_at_most_eight_columns(built, stem):
    """A reader sees at most 8 columns in a table of every chapter; where a table was shortened, the full one is a
    click away."""
    assert built.returncode == 0
    wide = [(len(h), h[:3]) for hidden, h, _ in page_tables(stem) if not hidden and len(h) > 8]
    assert not wide, f"{stem} shows tables of more than 8 columns: {wide}"
    if stem in SHORTENED:
        assert any(hidden for hidden, _, _ in page_tables(stem)), "the full table is not a click away"


INTERVAL = re.compile(r"([+-]?\d[\d.]*(?:e[+-]?\d+)?) \[([+-]?\d[\d.]*(?:e[+-]?\d+)?), ([+-]?\d[\d.]*(?:e[+-]?\d+)?)\]")


def quantity_range(name: str) -> tuple[float, float] | None:
    """The range of a quantity named in a table's row label (helpers.intervals: BOUNDS, counts, spreads, shares)."""
    from helpers import intervals as I

    name = name.strip()
    if name in I.BOUNDS:
        lo, hi = I.BOUNDS[name]
        return (-np.inf if lo is None else lo, np.inf if hi is None else hi)
    if name.startswith(I.COUNTS):
        return (0.0, np.inf)
    if name in I.AT_LEAST_ONE:
        return (1.0, np.inf)
    if "share" in name:
        return (0.0, 1.0)
    return None


def test_the_range_finder_knows_the_book_quantities():
    assert quantity_range("IsoScore") == (0.0, 1.0) and quantity_range("log10 I(W)") == (-np.inf, 0.0)
    assert quantity_range("pcs_90") == (0.0, np.inf) and quantity_range("variance share above 10x mean") == (0, 1)
    assert quantity_range("a name of nothing") is None
    assert INTERVAL.findall("0.4985 [0.1665, 1.321]") == [("0.4985", "0.1665", "1.321")]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_interval_leaves_its_quantitys_range(built, stem):
    """Every interval printed in a row named by a bounded quantity (IsoScore, log10 I(W), counts, shares, ...) lies
    in that quantity's range: a level's interval is taken on a scale where it cannot leave it."""
    assert built.returncode == 0
    outside = []
    for _, header, rows in page_tables(stem):
        for row in rows:
            if not row or (bounds := quantity_range(row[0])) is None:
                continue
            for cell in row[1:]:
                for m, lo, hi in INTERVAL.findall(cell):
                    if not all(bounds[0] - 1e-9 <= float(x) <= bounds[1] + 1e-9 for x in (m, lo, hi)):
                        outside.append(f"{row[0]}: {cell}")
    assert not outside, f"{stem} prints intervals outside their quantity's range: {outside[:10]}"
