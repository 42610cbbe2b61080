"""Commands for a gallery shared on a PostgreSQL server: `server init` prepares the server, `gallery copy` moves a
gallery between SQLite and PostgreSQL (either way); `gallery reencode` moves a gallery to another encoder."""
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
    reencode = actions.add_parser(
        "reencode", help="move everyone to another encoder, into a new gallery (the old one is kept)",
        description="Re-embed every shot of the settings' gallery with ENCODER (default: the default encoder), "
                    "from the photo it was enrolled from when that file is still there, else from the aligned face "
                    "stored with it, into that encoder's own gallery (or --into), which must be empty; then switch "
                    "the settings to ENCODER. The old gallery is left as it was: switch back to use it again.")
    reencode.add_argument("--to", dest="encoder", metavar="ENCODER", help="dlib+sface, sface, dlib+facenet, dlib, ...")
    reencode.add_argument("--into", metavar="FILE_OR_URL", help="the new gallery (default: the encoder's own file)")
    reencode.add_argument("--gallery", metavar="FILE_OR_URL", help="the gallery to re-encode (default: the settings')")
    reencode.set_defaults(run=run_gallery_reencode)


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
    from .progress import BarOnFirstCall

    progress = BarOnFirstCall("copying")
    people, shots, events = copy_gallery(args.source, args.target, progress)
    progress.close()
    print(f"Copied {people} people ({shots} shot(s)) and {events} log line(s).", file=sys.stdout)
    return EXIT_OK


def run_gallery_reencode(args) -> int:
    from ..config import load_settings, save_settings
    from ..errors import BadInput
    from ..faces.encoders import DEFAULT_ENCODER, with_encoder
    from ..pipeline import FacePipeline
    from ..recognizer import gallery_for
    from ..reencode import reencode
    from .progress import BarOnFirstCall

    settings = load_settings()
    new = with_encoder(settings, args.encoder or DEFAULT_ENCODER)
    if new.recognition.encoder == settings.recognition.encoder and args.into is None:
        raise BadInput(f"The gallery already uses {new.recognition.encoder}; name another encoder with --to.")
    progress = BarOnFirstCall("re-embedding")
    with gallery_for(settings, args.gallery) as source, gallery_for(new, args.into) as target:
        report = reencode(source, target, FacePipeline(new.recognition), progress)
        where = target.status().where
    progress.close()
    for sentence in report.left_out:
        print(f"warning: left out {sentence}", file=sys.stderr)
    print(f"Re-embedded {report.people} people with {new.recognition.encoder} into {where}: "
          f"{report.from_photos} shot(s) from their photos, {report.from_thumbnails} from the stored faces "
          f"(slightly less accurate, see the README), {len(report.left_out)} left out. The old gallery is unchanged.")
    if args.into is None:
        save_settings(new)
        print(f"Settings now use {new.recognition.encoder} (τ {new.recognition.tau}); to go back, set Settings › "
              f"Recognition › encoder to {settings.recognition.encoder or 'dlib'}: its gallery is still there.")
    return EXIT_OK
