"""Commands for a gallery shared on a PostgreSQL server: `server init` prepares the server, `gallery copy` moves a
gallery between SQLite and PostgreSQL (either way)."""
from __future__ import annotations

import sys

from . import EXIT_OK


def register(commands) -> None:
    server = commands.add_parser("server", help="prepare a PostgreSQL server for a shared gallery")
    actions = server.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser(
        "init", help="create the gallery's schema and its two roles on a PostgreSQL server",
        description="Create (or migrate) the gallery's tables on the server at URL, for the settings' encoder, and "
                    "two group roles: one that enrolls (reads and writes people and the log) and one for kiosks "
                    "(reads people, adds log lines, nothing else). Run it as the database's owner; the password "
                    "comes from ~/.pgpass, PGPASSFILE or PGPASSWORD.")
    init.add_argument("url", metavar="URL", help="postgresql://owner@host/database?sslmode=require")
    init.add_argument("--enroll-role", default="likeness_enroll", metavar="NAME")
    init.add_argument("--kiosk-role", default="likeness_kiosk", metavar="NAME")
    init.set_defaults(run=run_server_init)

    gallery = commands.add_parser("gallery", help="move a gallery between SQLite and PostgreSQL")
    actions = gallery.add_subparsers(dest="action", required=True, metavar="ACTION")
    copy = actions.add_parser(
        "copy", help="copy a whole gallery into an empty one, SQLite or PostgreSQL, either way",
        description="Copy people, embeddings, sources, thumbnails and the events log from SRC_URL into the empty "
                    "gallery at DST_URL (sqlite:///path or postgresql://...). Refused when the two galleries "
                    "belong to different encoders or the destination already holds people.")
    copy.add_argument("source", metavar="SRC_URL")
    copy.add_argument("target", metavar="DST_URL")
    copy.set_defaults(run=run_gallery_copy)


def run_server_init(args) -> int:
    from ..config import load_settings
    from ..errors import BadInput
    from ..faces.encoders import encoder_id
    from ..gallery import is_postgres
    from ..gallery.postgres import init_server, where_of

    if not is_postgres(args.url):
        raise BadInput(f"server init needs a postgresql:// URL, not {args.url!r}.")
    encoder = encoder_id(load_settings().recognition.encoder)
    init_server(args.url, encoder, args.enroll_role, args.kiosk_role)
    print(f"The gallery on {where_of(args.url)} is ready for encoder {encoder}, with the roles {args.enroll_role} "
          f"(enrolls) and {args.kiosk_role} (kiosks).\nGive each machine its own login, e.g. "
          f"CREATE ROLE door1 LOGIN PASSWORD '...' IN ROLE {args.kiosk_role}; and its password in that machine's "
          "~/.pgpass.")
    return EXIT_OK


def run_gallery_copy(args) -> int:
    from ..gallery import copy_gallery
    from .progress import ProgressBar

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        bar = bar or ProgressBar(total, "copying")
        bar.update(done)

    people, shots, events = copy_gallery(args.source, args.target, progress)
    if bar:
        bar.close()
    print(f"Copied {people} people ({shots} shot(s)) and {events} log line(s).", file=sys.stdout)
    return EXIT_OK
