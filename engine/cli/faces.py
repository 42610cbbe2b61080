"""Face commands: enroll, verify, identify, people, export, import, embed."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from ..config import load_settings
from ..errors import BadInput, LikenessError, NoFace, NotThisPerson
from ..events import add_publish_arguments
from . import EXIT_BAD_INPUT, EXIT_NEGATIVE, EXIT_OK, one_line, output_file


LARGEST_HELP = "of a photo with several faces, take the largest (default: its subject, large and central)"


def register(commands) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--gallery", default=argparse.SUPPRESS, metavar="FILE_OR_URL",
                        help="gallery file, sqlite:///path or postgresql://user@host/db (default: LIKENESS_GALLERY_URL, "
                             "else Settings' gallery.url, else the encoder's gallery in the user's data folder)")
    publishing = argparse.ArgumentParser(add_help=False, parents=[common])
    add_publish_arguments(publishing)

    enroll = commands.add_parser("enroll", parents=[publishing], help="add a person from one or more photos")
    enroll.add_argument("name")
    enroll.add_argument("images", nargs="+", type=Path)
    enroll.add_argument("--largest", action="store_true",
                        help=LARGEST_HELP)
    enroll.add_argument("--force", action="store_true",
                        help="add the photos even when a face does not match the person's other shots (d > tau)")
    enroll.set_defaults(run=run_enroll)

    verify = commands.add_parser("verify", parents=[publishing], help="1:1: is the face in IMAGE this person?")
    verify.add_argument("name")
    verify.add_argument("image", type=Path)
    verify.add_argument("--largest", action="store_true", help=LARGEST_HELP)
    verify.set_defaults(run=run_verify)

    identify = commands.add_parser("identify", parents=[publishing], help="1:K: who are the faces in these images?")
    identify.add_argument("images", nargs="+", type=Path)
    identify.set_defaults(run=run_identify)

    people = commands.add_parser("people", parents=[common], help="list, rename or delete enrolled people")
    action = people.add_subparsers(dest="action", metavar="ACTION")
    action.add_parser("list", parents=[common], help="list people (the default)")
    rename = action.add_parser("rename", parents=[common], help="rename a person")
    rename.add_argument("old")
    rename.add_argument("new")
    delete = action.add_parser("delete", parents=[publishing], help="delete a person and every trace of their face")
    delete.add_argument("name")
    wipe = action.add_parser("delete-all", parents=[publishing], help="delete everyone and the whole log")
    wipe.add_argument("--yes", action="store_true", required=True, help="confirm")
    people.set_defaults(run=run_people)

    export = commands.add_parser("export", parents=[common], help="write the gallery to one portable file")
    export.add_argument("file", type=output_file)
    export.set_defaults(run=run_export)
    import_ = commands.add_parser("import", parents=[common], help="merge a file written by export")
    import_.add_argument("file", type=Path)
    import_.set_defaults(run=run_import)

    embed = commands.add_parser("embed", help="embedding of the subject of each image (one row each)")
    embed.add_argument("--largest", action="store_true", help=LARGEST_HELP)
    embed.add_argument("images", nargs="+", type=Path)
    embed.add_argument("--out", type=output_file,
                       help=".npy file (one row per image, NaN where no face); default: text on stdout")
    embed.set_defaults(run=run_embed)


DELIVERY_SECONDS = 5.0  # how long a command waits for its events to reach the broker or the webhook


@contextlib.contextmanager
def session(args, with_gallery: bool = True, publish: bool = True, liveness: str = "none"):
    """The command's Recognizer (engine/recognizer.py; liveness: the place whose liveness mode its streams
    get), closed at the end after its events had a few seconds to be delivered; what is left waits in the
    outbox for the next run or the window."""
    from ..faces.encoders import stronger_encoder
    from ..recognizer import Recognizer

    settings = load_settings()
    if with_gallery and (notice := stronger_encoder(settings.recognition.encoder)):
        print(f"note: {notice}", file=sys.stderr)
    recognizer = Recognizer.from_settings(settings, gallery=getattr(args, "gallery", None),
                                          with_gallery=with_gallery, publish=publish, liveness=liveness,
                                          mqtt_url=getattr(args, "mqtt", None), webhook_url=getattr(args, "webhook", None))
    others = recognizer.outbox.others if recognizer.outbox is not None else 0
    try:
        yield recognizer
    finally:
        if pending := recognizer.close(DELIVERY_SECONDS):
            print(f"warning: {pending} event(s) not delivered yet; they wait in the outbox and go out with the "
                  "next command or the window", file=sys.stderr)
        if lost := getattr(recognizer.gallery, "undelivered", 0):
            print(f"warning: the gallery server went away: {lost} log line(s) of this command were not written "
                  "(its decisions stand)", file=sys.stderr)
        if others:
            print(f"warning: {others} earlier event(s) for another broker or webhook still wait in the outbox; "
                  "they go out when that destination is given again", file=sys.stderr)


def face_rule(args) -> str:
    return "largest" if args.largest else "subject"


def path_text(path: Path) -> str:
    """A path as text that can always be stored and printed: bytes that are not UTF-8 become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def run_enroll(args) -> int:
    from ..images import load_image

    with session(args) as recognizer:
        faces, failures = [], []
        for path in args.images:
            try:
                photo = recognizer.find_face(load_image(path), where=str(path), rule=face_rule(args))
                faces.append(photo.face)
                if note := photo.note(str(path)):
                    print(one_line(note), file=sys.stderr)
            except BadInput as error:
                failures.append(one_line(error))
        if failures:
            print("\n".join(f"error: {f}" for f in failures), file=sys.stderr)
            print(f"Nothing was enrolled: fix or remove the {len(failures)} photo(s) above.", file=sys.stderr)
            return EXIT_BAD_INPUT
        try:
            count = recognizer.enroll(args.name, faces, [path_text(p.resolve()) for p in args.images], source="cli",
                                      force=args.force)
        except NotThisPerson as error:
            print(f"error: {error} Nothing was enrolled; if it is {args.name}, add --force.", file=sys.stderr)
            return EXIT_BAD_INPUT
    print(f"Enrolled {args.name}: {len(faces)} new photo(s), {count} in all.")
    return EXIT_OK


def run_verify(args) -> int:
    from ..images import load_image

    image = load_image(args.image)
    with session(args) as recognizer:
        recognizer.gallery.embeddings_of(args.name)  # an unknown name is refused before the face is looked for
        photo = recognizer.find_face(image, where=str(args.image), rule=face_rule(args), check_size=False)
        if note := photo.note(str(args.image)):
            print(one_line(note), file=sys.stderr)
        result = recognizer.verify(args.name, photo.face, source="cli")
    print(f"{'same person' if result.same else 'different person'}: {result.evidence()}")
    return EXIT_OK if result.same else EXIT_NEGATIVE


def run_identify(args) -> int:
    from ..images import load_image

    everyone_known, bad = True, False
    with session(args) as recognizer:
        for path in args.images:
            try:
                image = load_image(path)
            except BadInput as error:
                print(f"error: {one_line(error)}", file=sys.stderr)
                bad = True
                continue
            faces = recognizer.identify(image, source="cli")  # an empty gallery is refused at the first image
            if not faces:
                print(f"error: {one_line(path)}: no face found", file=sys.stderr)
                bad = True
            for face in faces:
                everyone_known &= face.match.recognized
                print(f"{one_line(path)}\t{describe_match(face.match)}\tbox={np.round(face.box).astype(int).tolist()}")
        if not bad:  # what the threshold means; a refusal stays one sentence
            print(f"note: {recognizer.identify_point().summary()}", file=sys.stderr)
    if bad:
        return EXIT_BAD_INPUT
    return EXIT_OK if everyone_known else EXIT_NEGATIVE


def describe_match(match) -> str:
    runner_up = f", runner-up {match.runner_up_name} at {match.runner_up_distance:.3f}" if match.runner_up_name else ""
    probability = f", P(same) {match.probability:.3f}" if match.probability is not None else ""
    if match.recognized:
        return (f"{match.name} (distance {match.distance:.3f} ≤ threshold {match.threshold:.3f}{probability}{runner_up}, "
                f"margin {match.margin:.3f})")
    return (f"not recognized (closest {match.best_name} at {match.distance:.3f}, threshold {match.threshold:.3f}"
            f"{probability})")


def run_people(args) -> int:
    with session(args, publish=args.action in ("delete", "delete-all")) as recognizer:
        gallery = recognizer.gallery
        if args.action == "rename":
            gallery.rename(args.old, args.new)
            print(f"Renamed {args.old} to {args.new}.")
        elif args.action == "delete":
            recognizer.delete(args.name, source="cli")
            print(f"Deleted {args.name} and every stored shot of their face.")
        elif args.action == "delete-all":
            recognizer.delete_all(source="cli")
            print("Deleted the whole gallery.")
        else:
            people = gallery.people()
            for person in people:
                print(f"{person.name}\t{person.embedding_count} shot(s)\tsince {person.created}")
            print(f"{len(people)} people", file=sys.stderr)
    return EXIT_OK


def run_export(args) -> int:
    with session(args, publish=False) as recognizer:
        recognizer.gallery.export(args.file)
        print(f"Exported {len(recognizer.gallery.people())} people to {args.file}.")
    return EXIT_OK


def run_import(args) -> int:
    from .progress import BarOnFirstCall

    progress = BarOnFirstCall("importing")
    with session(args, publish=False) as recognizer:
        report = recognizer.gallery.import_(args.file, progress)
    progress.close()
    print(f"Imported from {args.file}: {report}.")
    return EXIT_OK


def subject_faces(paths: list[Path], recognizer, rule: str):
    """Each image's PhotoFace (or the LikenessError that refused it), in order. Two images are read and embedded at
    a time, on two threads: ONNX Runtime and the image decoders let go of the GIL, so both cores stay busy; at most
    a few images wait decoded."""
    from concurrent.futures import ThreadPoolExecutor

    from ..images import load_image

    recognizer.load_models()  # once, before two threads ask for them

    def photo(path: Path):
        try:
            return recognizer.find_face(load_image(path), where=str(path), rule=rule, check_size=False)
        except LikenessError as error:
            return error

    with ThreadPoolExecutor(2, thread_name_prefix="embed") as pool:
        for start in range(0, len(paths), 8):
            yield from pool.map(photo, paths[start:start + 8])


def run_embed(args) -> int:
    with session(args, with_gallery=False, publish=False) as recognizer:
        return embed_images(args, recognizer)


def embed_images(args, recognizer) -> int:
    rows, missing = np.full((len(args.images), recognizer.pipeline.encoder.EMBEDDING_SIZE), np.nan, np.float32), 0
    refused = False  # an image that could not be read: the rows are still written, the exit code says so
    for row, (path, photo) in enumerate(zip(args.images, subject_faces(args.images, recognizer, face_rule(args)))):
        if isinstance(photo, NoFace):
            missing += 1
            print(f"{one_line(path)}: no face found; its row is NaN", file=sys.stderr)
        elif isinstance(photo, LikenessError):
            missing += 1
            refused = True
            print(f"error: {one_line(photo)} Its row is NaN.", file=sys.stderr)
        else:
            rows[row] = photo.face.embedding
            if note := photo.note(str(path)):
                print(one_line(note), file=sys.stderr)
    if args.out:
        np.save(args.out, rows)
        print(f"wrote {len(rows)} rows to {args.out} ({missing} without a face)", file=sys.stderr)
    else:
        for path, row in zip(args.images, rows):
            print(one_line(path) + "\t" + " ".join(f"{v:.6f}" for v in row))
    return EXIT_BAD_INPUT if refused else EXIT_OK
