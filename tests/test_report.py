"""`report`: attendance from a real gallery's events log, as a table, CSV and HTML."""
import csv
import os
import time

import pytest

from engine.cli import main
from engine.config import Settings
from engine.faces.encoders import encoder_id
from engine.gallery import Gallery

# UTC+1 all year (a POSIX TZ string needs no time zone database): 23:30 UTC is already the next local day
LOCAL_ZONE = "CET-1"
LOG = [  # (UTC time, kind, person, detail)
    ("2025-05-01T07:02:00+00:00", "recognized", "Ada", "kiosk"),
    ("2025-05-01T07:40:00+00:00", "unknown", None, "kiosk"),
    ("2025-05-01T08:15:00+00:00", "identify", "Grace", "cli"),  # the kind an older version logged
    ("2025-05-01T12:00:00+00:00", "spoof", "Grace", "kiosk; a phone border"),  # not an attendance
    ("2025-05-01T16:31:00+00:00", "recognized", "Ada", "kiosk"),
    ("2025-05-01T17:00:00+00:00", "rejected", "Grace", "cli"),
    ("2025-05-01T17:10:00+00:00", "verify", "Grace", "cli rejected"),  # an older version's verification
    ("2025-05-01T23:30:00+00:00", "verified", "Grace", "window"),  # 00:30 on 2 May, local time
    ("2025-05-02T09:00:00+00:00", "recognized", "=HYPERLINK(1)", "kiosk"),
    ("2025-05-03T09:00:00+00:00", "recognized", "Ada", "kiosk"),  # after the range
]


@pytest.fixture
def local_zone():
    old = os.environ.get("TZ")
    os.environ["TZ"] = LOCAL_ZONE
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def gallery(tmp_path, monkeypatch, local_zone):
    path = tmp_path / "gallery.sqlite"
    with Gallery(path, encoder_id(Settings().recognition.encoder)) as g:
        for when, kind, person, detail in LOG:
            monkeypatch.setitem(g.log_event.__globals__, "now", lambda when=when: when)  # the time it is logged
            g.log_event(kind, person, 0.4, detail)
    return path


def report(gallery, *words) -> int:
    return main(["report", "--gallery", str(gallery), "--from", "2025-05-01", "--to", "2025-05-02", *words])


@pytest.mark.parametrize("page", [1000, 2])  # events are read newest first, a growing page at a time
def test_the_table_gives_first_and_last_recognition_per_local_day(gallery, page, capsys, monkeypatch):
    monkeypatch.setattr("engine.cli.report.FIRST_PAGE", page)
    assert report(gallery) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["date", "person", "first", "last", "seen", "written", "by"]
    assert [line.split() for line in lines[1:]] == [
        ["2025-05-01", "Ada", "08:02:00", "17:31:00", "2", "this", "computer"],
        ["2025-05-01", "Grace", "09:15:00", "09:15:00", "1", "this", "computer"],
        ["2025-05-02", "Grace", "00:30:00", "00:30:00", "1", "this", "computer"],
        ["2025-05-02", "=HYPERLINK(1)", "10:00:00", "10:00:00", "1", "this", "computer"],
    ]


def test_csv_rows_and_a_name_that_looks_like_a_formula(gallery, tmp_path, capsys):
    out = tmp_path / "attendance.csv"
    assert report(gallery, "--csv", str(out)) == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["date", "person", "first", "last", "seen", "written by"]
    here = "this computer"
    assert rows[1:] == [["2025-05-01", "Ada", "08:02:00", "17:31:00", "2", here],
                        ["2025-05-01", "Grace", "09:15:00", "09:15:00", "1", here],
                        ["2025-05-02", "Grace", "00:30:00", "00:30:00", "1", here],
                        ["2025-05-02", "'=HYPERLINK(1)", "10:00:00", "10:00:00", "1", here]]
    assert "3 people on 2 days written to" in capsys.readouterr().out


def test_the_html_page_is_self_contained_with_a_chart_per_day(gallery, tmp_path):
    out = tmp_path / "attendance.html"
    assert report(gallery, "--html", str(out)) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and page.count("<h2>") == 2
    assert "Thursday 01 May 2025" in page and "Friday 02 May 2025" in page
    assert "<title>Ada 08:02-17:31</title>" in page
    assert "=HYPERLINK(1)" in page and "<script" not in page
    assert "src=" not in page and "href=" not in page and "@import" not in page  # nothing fetched from elsewhere
    # Ada's bar runs from 08:02 to 17:31 on a 20 px per hour axis that starts at x=160
    assert f'x="{160 + (8 + 2 / 60) * 20:.1f}"' in page and f'width="{(17 + 31 / 60 - 8 - 2 / 60) * 20:.1f}"' in page


def test_a_day_with_nobody_says_so(gallery, capsys):
    assert main(["report", "--gallery", str(gallery), "--from", "2025-06-01", "--to", "2025-06-30"]) == 0
    assert capsys.readouterr().out.strip() == "Nobody was recognised from 2025-06-01 to 2025-06-30."


@pytest.mark.parametrize("words, said", [
    (["--from", "2025-05-02", "--to", "2025-05-01"], "end on 2025-05-01 before it starts on 2025-05-02"),
    (["--from", "2025-5-1"], "'2025-5-1' is not a day written like 2025-05-01"),
    (["--from", "20250501"], "is not a day written like"),
    (["--from", "2025-02-30"], "is not a day written like"),
])
def test_bad_dates_are_refused_with_a_sentence(gallery, words, said, capsys):
    try:
        code = main(["report", "--gallery", str(gallery), *words])
    except SystemExit as done:  # argparse refuses a malformed day itself
        code = done.code
    assert code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


@pytest.mark.parametrize("as_url", [False, True])
def test_a_missing_gallery_is_refused(tmp_path, capsys, as_url):
    missing = tmp_path / "none.sqlite"
    assert main(["report", "--gallery", f"sqlite://{missing}" if as_url else str(missing)]) == 2
    assert "There is no gallery at" in capsys.readouterr().err
    assert not missing.exists()
