"""`report`: attendance from the gallery's events log: the first and last time each person was recognised on
each day (local time), as a table, a CSV file or one self-contained HTML page with a chart per day."""
from __future__ import annotations

import argparse
import csv
import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from . import EXIT_OK, output_file

FIRST_PAGE = 1000  # events read at first; the page grows fourfold until it reaches back to the start date
RECOGNISED_KINDS = ("recognized", "verified", "identify")  # "identify": the name logs had before "recognized"
LEGACY_VERIFY = "verify"  # logs before "verified"/"rejected": an accepted one says so in its detail


@dataclass
class Attendance:
    day: date
    person: str
    first: datetime
    last: datetime
    seen: int
    writers: set[str] = field(default_factory=set)  # a shared gallery's logins that wrote these lines

    @property
    def written_by(self) -> str:
        """Who wrote the lines: the server's logins (a kiosk cannot write another's), or this computer."""
        return ", ".join(sorted(self.writers)) or "this computer"


def register(commands) -> None:
    report = commands.add_parser("report", help="attendance: first and last recognition of each person per day")
    report.add_argument("--from", dest="start", type=day_argument, default=None, metavar="DATE",
                        help="first day, YYYY-MM-DD (default: today)")
    report.add_argument("--to", dest="end", type=day_argument, default=None, metavar="DATE",
                        help="last day, YYYY-MM-DD (default: the first day)")
    out = report.add_mutually_exclusive_group()
    out.add_argument("--csv", type=output_file, metavar="FILE", help="write a CSV file instead of printing a table")
    out.add_argument("--html", type=output_file, metavar="FILE", help="write one HTML page with a chart per day")
    report.add_argument("--gallery", default=None, metavar="FILE_OR_URL",
                        help="gallery file or URL (default: the settings' gallery)")
    report.set_defaults(run=run_report)


def day_argument(text: str) -> date:
    """An argparse type: a calendar day written YYYY-MM-DD, nothing else."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a day written like 2025-05-01")


def run_report(args) -> int:
    from ..errors import BadInput

    start = args.start or date.today()
    end = args.end or start
    if end < start:
        raise BadInput(f"The report would end on {end} before it starts on {start}; give --from before --to.")
    with _open_gallery(args.gallery) as gallery:
        rows = attendance(gallery, start, end)
    if args.csv:
        write_csv(rows, args.csv)
    elif args.html:
        args.html.write_text(html_page(rows, start, end), encoding="utf-8")
    else:
        print(table(rows) if rows else f"Nobody was recognised from {start} to {end}.")
    if args.csv or args.html:
        people = len({row.person for row in rows})
        print(f"{people} people on {len({row.day for row in rows})} days written to {args.csv or args.html}")
    return EXIT_OK


def _open_gallery(location: str | None):
    """The gallery to read; a file that does not exist is refused (opening it would create an empty one)."""
    from ..config import load_settings
    from ..errors import BadInput
    from ..gallery import default_path, gallery_url, sqlite_path
    from ..recognizer import gallery_for

    settings = load_settings()
    url = gallery_url(settings) if location is None else location
    if not url:
        path: Path | None = default_path(settings.recognition.encoder)
    elif url.startswith("sqlite://"):
        path = sqlite_path(url)
    else:
        path = None if "://" in url else Path(url)
    if path is not None and not path.is_file():
        raise BadInput(f"There is no gallery at {path}.")
    return gallery_for(settings, location)


def attendance(gallery, start: date, end: date) -> list[Attendance]:
    """One row per day and person recognised from `start` to `end` (local days, both included), ordered by
    day, then by first arrival."""
    since = datetime.combine(start, datetime.min.time()).astimezone()
    until = datetime.combine(end + timedelta(days=1), datetime.min.time()).astimezone()
    rows: dict[tuple[date, str], Attendance] = {}
    for when, person, writer in recognitions(gallery, since, until):
        row = rows.setdefault((when.date(), person), Attendance(when.date(), person, when, when, 0))
        row.first, row.last, row.seen = min(row.first, when), max(row.last, when), row.seen + 1
        if writer:
            row.writers.add(writer)
    return sorted(rows.values(), key=lambda row: (row.day, row.first, row.person))


def recognitions(gallery, since: datetime, until: datetime):
    """(local time, name, server login that wrote it or None) of each recognition or accepted verification logged
    in [since, until)."""
    limit = FIRST_PAGE
    while True:  # events() gives the newest `limit`; grow it until it reaches back past `since`
        events = gallery.events(limit)
        if len(events) < limit or _when(events[-1]) < since:
            break
        limit *= 4
    for event in reversed(events):
        if not event.person or not since <= (when := _when(event)) < until:
            continue
        if event.kind in RECOGNISED_KINDS or (event.kind == LEGACY_VERIFY and "accepted" in (event.detail or "")):
            yield when.astimezone(), event.person, event.written_by


def _when(event) -> datetime:
    return datetime.fromisoformat(event.time)


def table(rows: list[Attendance]) -> str:
    lines = [("date", "person", "first", "last", "seen", "written by")]
    lines += [(str(r.day), r.person, f"{r.first:%H:%M:%S}", f"{r.last:%H:%M:%S}", str(r.seen), r.written_by)
              for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def write_csv(rows: list[Attendance], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["date", "person", "first", "last", "seen", "written by"])
        for r in rows:
            writer.writerow([r.day, _cell(r.person), f"{r.first:%H:%M:%S}", f"{r.last:%H:%M:%S}", r.seen,
                             _cell(r.written_by)])


def _cell(text: str) -> str:
    """A name a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 2em}}
td,th{{padding:2px 12px;text-align:left;border-bottom:1px solid #ddd}}svg text{{font:11px sans-serif;fill:#444}}</style>
</head><body><h1>{title}</h1>
{days}
</body></html>
"""
LABEL_PX, HOUR_PX, ROW_PX = 160, 20, 18


def html_page(rows: list[Attendance], start: date, end: date) -> str:
    """One page, no external files: per day a chart (a bar from first to last recognition per person,
    on a 0-24 h axis) and the table."""
    title = f"Attendance {start} to {end}" if end != start else f"Attendance {start}"
    days = sorted({row.day for row in rows})
    parts = [_day_section(day, [row for row in rows if row.day == day]) for day in days]
    return PAGE.format(title=html.escape(title), days="\n".join(parts) or "<p>Nobody was recognised.</p>")


def _day_section(day: date, rows: list[Attendance]) -> str:
    cells = "".join(f"<tr><td>{html.escape(r.person)}</td><td>{r.first:%H:%M:%S}</td><td>{r.last:%H:%M:%S}</td>"
                    f"<td>{r.seen}</td><td>{html.escape(r.written_by)}</td></tr>" for r in rows)
    return (f"<h2>{day:%A %d %B %Y}</h2>\n{_chart(rows)}\n<table><tr><th>person</th><th>first</th><th>last</th>"
            f"<th>seen</th><th>written by</th></tr>{cells}</table>")


def _chart(rows: list[Attendance]) -> str:
    width, height = LABEL_PX + 24 * HOUR_PX + 10, ROW_PX * len(rows) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for hour in range(0, 25, 3):
        x = LABEL_PX + hour * HOUR_PX
        parts.append(f'<line x1="{x}" y1="0" x2="{x}" y2="{height - 16}" stroke="#ddd"/>'
                     f'<text x="{x}" y="{height - 4}" text-anchor="middle">{hour:02d}</text>')
    for i, r in enumerate(rows):
        x0, x1, y = LABEL_PX + _hours(r.first) * HOUR_PX, LABEL_PX + _hours(r.last) * HOUR_PX, i * ROW_PX
        name = html.escape(r.person)
        parts.append(f'<text x="{LABEL_PX - 6}" y="{y + 13}" text-anchor="end">{name}</text>'
                     f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 2):.1f}" height="{ROW_PX - 6}" '
                     f'fill="#3b7dd8"><title>{name} {r.first:%H:%M}-{r.last:%H:%M}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _hours(moment: datetime) -> float:
    return moment.hour + moment.minute / 60 + moment.second / 3600
