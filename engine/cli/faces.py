"""Face commands: enroll, verify, identify, people, export, import, embed."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from ..config import load_settings
from ..errors import BadInput, LikenessError, NoFace
from ..gallery import Gallery, default_path, thumbnail_jpeg
from . import EXIT_BAD_INPUT, EXIT_NEGATIVE, EXIT_OK, output_file


LARGEST_HELP = "of a photo with several faces, take the largest (default: its subject, large and central)"


def register(commands) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--gallery", type=Path, default=argparse.SUPPRESS,
                        help="gallery file (default: the settings' encoder's gallery in the user's data folder)")

    enroll = commands.add_parser("enroll", parents=[common], help="add a person from one or more photos")
    enroll.add_argument("name")
    enroll.add_argument("images", nargs="+", type=Path)
    enroll.add_argument("--largest", action="store_true",
                        help=LARGEST_HELP)
    enroll.set_defaults(run=run_enroll)

    verify = commands.add_parser("verify", parents=[common], help="1:1: is the face in IMAGE this person?")
    verify.add_argument("name")
    verify.add_argument("image", type=Path)
    verify.add_argument("--largest", action="store_true", help=LARGEST_HELP)
    verify.set_defaults(run=run_verify)

    identify = commands.add_parser("identify", parents=[common], help="1:K: who are the faces in these images?")
    identify.add_argument("images", nargs="+", type=Path)
    identify.set_defaults(run=run_identify)

    people = commands.add_parser("people", parents=[common], help="list, rename or delete enrolled people")
    action = people.add_subparsers(dest="action", metavar="ACTION")
    action.add_parser("list", parents=[common], help="list people (the default)")
    rename = action.add_parser("rename", parents=[common], help="rename a person")
    rename.add_argument("old")
    rename.add_argument("new")
    delete = action.add_parser("delete", parents=[common], help="delete a person and every trace of their face")
    delete.add_argument("name")
    wipe = action.add_parser("delete-all", parents=[common], help="delete everyone and the whole log")
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
    embed.add_argument("--out", type=output_file, help=".npy file (one row per image, NaN where no face); default: text on stdout")
    embed.set_defaults(run=run_embed)


def _pipeline(args, with_gallery: bool = True):
    from ..pipeline import FacePipeline

    settings = load_settings().recognition
    pipeline = FacePipeline(settings)
    if with_gallery:
        pipeline.gallery = Gallery(gallery_path(args), pipeline.encoder.id)
    return pipeline


def _gallery(args):
    """The gallery alone, for commands that need no face model."""
    from ..faces.encode import encoder_id

    return Gallery(gallery_path(args), encoder_id(load_settings().recognition.encoder))


def face_rule(args) -> str:
    return "largest" if args.largest else "subject"


def path_text(path: Path) -> str:
    """A path as text that can always be stored and printed: bytes that are not UTF-8 become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def gallery_path(args) -> Path:
    return getattr(args, "gallery", None) or default_path(load_settings().recognition.encoder)


def run_enroll(args) -> int:
    from ..images import load_image

    pipeline = _pipeline(args)
    faces, failures = [], []
    for path in args.images:
        try:
            photo = pipeline.embed_one(load_image(path), where=str(path), rule=face_rule(args))
            faces.append(photo.face)
            if note := photo.note(str(path)):
                print(note, file=sys.stderr)
        except BadInput as error:
            failures.append(str(error))
    if failures:
        print("\n".join(f"error: {f}" for f in failures), file=sys.stderr)
        print(f"Nothing was enrolled: fix or remove the {len(failures)} photo(s) above.", file=sys.stderr)
        return EXIT_BAD_INPUT
    pipeline.gallery.enroll(
        args.name, np.stack([f.embedding for f in faces]), [path_text(p.resolve()) for p in args.images],
        [thumbnail_jpeg(f.chip) for f in faces],
    )
    count = len(pipeline.gallery.embeddings_of(args.name))
    print(f"Enrolled {args.name}: {len(faces)} new photo(s), {count} in all.")
    return EXIT_OK


def run_verify(args) -> int:
    from ..match import verify
    from ..images import load_image

    image = load_image(args.image)
    pipeline = _pipeline(args)
    enrolled = pipeline.gallery.embeddings_of(args.name)
    photo = pipeline.embed_one(image, where=str(args.image), rule=face_rule(args), check_size=False)
    if note := photo.note(str(args.image)):
        print(note, file=sys.stderr)
    face = photo.face
    result = verify(face.embedding, enrolled, pipeline.settings.tau, classifier=pipeline.classifier)
    pipeline.gallery.log_event("verify", args.name, result.distance, f"cli {'accepted' if result.same else 'rejected'}")
    verdict = "same person" if result.same else "different person"
    print(f"{verdict}: {result.evidence()}")
    return EXIT_OK if result.same else EXIT_NEGATIVE


def run_identify(args) -> int:
    from ..images import load_image

    pipeline = _pipeline(args)
    if not pipeline.gallery.people():
        raise BadInput("The gallery is empty: enroll someone first.")
    everyone_known, bad = True, False
    for path in args.images:
        try:
            faces = pipeline.observe(load_image(path))
        except BadInput as error:
            print(f"error: {error}", file=sys.stderr)
            bad = True
            continue
        if not faces:
            print(f"{path}: no face found", file=sys.stderr)
            bad = True
        for face in faces:
            everyone_known &= face.match.recognized
            print(f"{path}\t{describe_match(face.match)}\tbox={np.round(face.box).astype(int).tolist()}")
            pipeline.gallery.log_event("identify", face.match.name, face.match.distance, "cli")
    if bad:
        return EXIT_BAD_INPUT
    return EXIT_OK if everyone_known else EXIT_NEGATIVE


def describe_match(match) -> str:
    runner_up = f", runner-up {match.runner_up_name} at {match.runner_up_distance:.3f}" if match.runner_up_name else ""
    probability = f", P(same) {match.probability:.3f}" if match.probability is not None else ""
    if match.recognized:
        return f"{match.name} (distance {match.distance:.3f}{probability}{runner_up}, margin {match.margin:.3f})"
    return f"not recognized (closest {match.best_name} at {match.distance:.3f}{probability})"


def run_people(args) -> int:
    gallery = _gallery(args)
    if args.action == "rename":
        gallery.rename(args.old, args.new)
        print(f"Renamed {args.old} to {args.new}.")
    elif args.action == "delete":
        gallery.delete(args.name)
        print(f"Deleted {args.name} and every stored shot of their face.")
    elif args.action == "delete-all":
        gallery.delete_all()
        print("Deleted the whole gallery.")
    else:
        people = gallery.people()
        for person in people:
            print(f"{person.name}\t{person.embedding_count} shot(s)\tsince {person.created}")
        print(f"{len(people)} people", file=sys.stderr)
    return EXIT_OK


def run_export(args) -> int:
    gallery = _gallery(args)
    gallery.export(args.file)
    print(f"Exported {len(gallery.people())} people to {args.file}.")
    return EXIT_OK


def run_import(args) -> int:
    report = _gallery(args).import_(args.file)
    print(f"Imported from {args.file}: {report}.")
    return EXIT_OK


def run_embed(args) -> int:
    from ..images import load_image

    pipeline = _pipeline(args, with_gallery=False)
    rows, missing = np.full((len(args.images), pipeline.encoder.EMBEDDING_SIZE), np.nan, np.float32), 0
    refused = False  # an image that could not be read: the rows are still written, the exit code says so
    for row, path in enumerate(args.images):
        try:
            photo = pipeline.embed_one(load_image(path), where=str(path), rule=face_rule(args), check_size=False)
        except NoFace:
            missing += 1
            print(f"{path}: no face found; its row is NaN", file=sys.stderr)
            continue
        except LikenessError as error:
            missing += 1
            refused = True
            print(f"error: {error} Its row is NaN.", file=sys.stderr)
            continue
        rows[row] = photo.face.embedding
        if note := photo.note(str(path)):
            print(note, file=sys.stderr)
    if args.out:
        np.save(args.out, rows)
        print(f"wrote {len(rows)} rows to {args.out} ({missing} without a face)", file=sys.stderr)
    else:
        for path, row in zip(args.images, rows):
            print(str(path) + "\t" + " ".join(f"{v:.6f}" for v in row))
    return EXIT_BAD_INPUT if refused else EXIT_OK
