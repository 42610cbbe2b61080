"""Recognizer: one recognition session, built from the settings. It owns the face pipeline (detector, encoder,
passive liveness), the encoder's gallery and the pair classifier; the window, the CLI and the benchmarks each
hold one and never assemble the parts themselves.

    recognizer = Recognizer.from_settings(load_settings())
    ada = recognizer.find_face(load_image("ada.jpg"), "ada.jpg").face
    recognizer.enroll("Ada", [ada], ["ada.jpg"])
    recognizer.verify("Ada", recognizer.find_face(load_image("door.jpg")).face)    # a Verification
    for face in recognizer.identify(load_image("group.jpg")):                     # each face with its .match
        print(face.match.name if face.match.recognized else "not recognized")

Every decision (verify, identify, enroll, delete, and the stream decisions of engine.streams) is recorded: a line in the
gallery's events log and, when Settings › Integrations or the command line name an MQTT broker or a webhook,
an event out through the disk-backed outbox (engine/events), delivered in the background.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Settings
from .errors import BadInput, DeletedButReadElsewhere, LikenessError, NotThisPerson, UnknownPerson
from .events import (
    Decision, Outbox, forget_all_in, forget_in, machine_name, outbox_from_settings, outbox_path, sinks_from_settings,
)
from .faces.encoders import SHIPPED_ENCODERS, encoder_id, open_encoder
from .gallery import GalleryBase, gallery_url, open_gallery, person_name, thumbnail_jpeg
from .match import GalleryMatrix, Identification, Verification, identify, verify
from .operating import IdentifyPoint, IdentifyPoints
from .pair_classifier import PairClassifier, pair_classifier_for
from .faces.liveness import assess_frames
from .pipeline import FaceObservation, FacePipeline, PhotoFace, StageTimes, liveness_monitor

if TYPE_CHECKING:
    from .streams import FaceDecision

# Whose liveness mode applies to a stream: none (off), the window's, the kiosk's, or `watch`'s (the kiosk's without
# its challenge: a door without a screen has nobody to show a challenge to).
LIVENESS_PLACES = ("none", "window", "kiosk", "watch")
# The gallery logs these changes itself, in the transaction that makes them (a deletion without the name).
LOGGED_BY_THE_GALLERY = ("enrolled", "deleted")


def gallery_for(settings: Settings, location: Path | str | None = None, keep_copy: bool = False) -> GalleryBase:
    """The gallery of the settings' encoder where the settings put it (gallery.url, or LIKENESS_GALLERY_URL;
    empty: the encoder's own file in the data folder), or at `location`: a file path or a gallery URL.
    keep_copy: a shared gallery's copy on this machine, to recognise from while the server is away (the window
    and the kiosk; a one-off command keeps none)."""
    url = gallery_url(settings) if location is None else str(location)
    if url and "://" not in url:
        url = "sqlite://" + str(Path(url).absolute())
    return open_gallery(url, encoder_id(settings.recognition.encoder), keep_copy=keep_copy)


def liveness_mode(settings: Settings, place: str) -> str:
    """The liveness mode (engine.config.LIVENESS_MODES) of the streams at this place (LIVENESS_PLACES)."""
    if place not in LIVENESS_PLACES:
        raise ValueError(f"liveness place must be one of {LIVENESS_PLACES}, not {place!r}")
    kiosk = settings.liveness.kiosk_mode
    return {"none": "off", "window": settings.liveness.mode, "kiosk": kiosk,
            "watch": "passive" if kiosk == "passive+challenge" else kiosk}[place]


def liveness_threshold(settings: Settings, place: str) -> float | None:
    """The spoof-score threshold of passive liveness on streams at this place, None when it is off."""
    return None if liveness_mode(settings, place) == "off" else settings.liveness.threshold


def names_new_gallery(old: Settings, new: Settings) -> bool:
    """Whether new settings name another gallery: another encoder, or another place (gallery_url(), which
    LIKENESS_GALLERY_URL may set)."""
    return (new.recognition.encoder != old.recognition.encoder) or gallery_url(new) != gallery_url(old)


class Recognizer:
    """Enroll, verify, identify and observe with the encoder, gallery and decision rule the settings name.
    The face models load on first use: a command that only edits the gallery never waits for them."""

    def __init__(self, settings: Settings, gallery: GalleryBase | None, *, liveness: str = "none",
                 gallery_location: Path | str | None = None, outbox: Outbox | None = None,
                 publish: bool = False, presence: bool = False, problems: tuple[str, ...] = (),
                 owns_gallery: bool = True):
        self.settings, self.gallery, self.outbox = settings, gallery, outbox
        self.owns_gallery = owns_gallery  # False: the gallery was lent (the window's), its lender closes it
        self.publish, self.presence = publish, presence  # whether new Integrations settings make a new outbox
        self.liveness, self.gallery_location = liveness, gallery_location
        self.problems = list(problems)  # what this session cannot do, in sentences (the window shows them)
        self.encoder_id = encoder_id(settings.recognition.encoder)
        self.times = StageTimes()
        self._pipeline: FacePipeline | None = None
        self._classifier: PairClassifier | None = None
        self._classifier_loaded = False  # loaded when a decision needs it: `people list` never does
        self._points = IdentifyPoints()  # the 1:K point of the gallery as it is

    @classmethod
    def from_settings(cls, settings: Settings, *, gallery: GalleryBase | Path | str | None = None,
                      with_gallery: bool = True, liveness: str = "none", publish: bool = True, presence: bool = False,
                      mqtt_url: str | None = None, webhook_url: str | None = None) -> Recognizer:
        """A session of these settings. gallery: a gallery file or URL instead of the settings' own, or an open
        gallery lent to this session (the window holds its gallery once; the lender closes it).
        liveness: "none", "window" or "kiosk", whose liveness mode applies to the streams given to observe().
        publish: send decisions to the MQTT broker or webhook of the settings, or of mqtt_url / webhook_url
        ("" turns one off). presence: this is a long-lived session (the window, the kiosk): it says on MQTT that
        the machine is online and keeps a shared gallery's copy to recognise from while the server is away."""
        lent = isinstance(gallery, GalleryBase)
        location = None if isinstance(gallery, GalleryBase) else gallery
        opened = gallery if isinstance(gallery, GalleryBase) else (
            gallery_for(settings, location, keep_copy=presence) if with_gallery else None)
        outbox, problems = None, []
        try:
            if publish:
                try:
                    outbox = outbox_from_settings(settings, mqtt_url=mqtt_url, webhook_url=webhook_url,
                                                  status=presence)
                except LikenessError as error:
                    if not presence:
                        raise
                    problems.append(f"Decisions are not sent out: {error}")  # the window still recognises
            return cls(settings, opened, liveness=liveness, gallery_location=location,
                       outbox=outbox, publish=publish, presence=presence, problems=tuple(problems),
                       owns_gallery=not lent)
        except BaseException:
            if opened is not None and not lent:
                opened.close()
            if outbox is not None:
                outbox.close()
            raise

    @staticmethod
    def check(settings: Settings) -> None:
        """Raise LikenessError (one sentence) unless these settings can make a recognizer: a trained encoder
        file that ONNX Runtime cannot load, a classifier decision without a pair classifier of the encoder, or
        an MQTT broker or webhook that cannot be used as given (a password in the URL, a bad port)."""
        encoder = settings.recognition.encoder
        identity = encoder_id(encoder)  # says when a trained encoder's file does not exist
        if encoder not in ("", *SHIPPED_ENCODERS):
            open_encoder(encoder, use_gpu=False)
        pair_classifier_for(settings.recognition.decision, identity)
        for sink in sinks_from_settings(settings, status=False):  # made without connecting
            sink.close()

    @property
    def classifier(self) -> PairClassifier | None:
        """The pair classifier that decides when the settings say "classifier", else None (d <= tau decides)."""
        if not self._classifier_loaded:
            self._classifier = pair_classifier_for(self.settings.recognition.decision, self.encoder_id)
            self._classifier_loaded = True
        return self._classifier

    @property
    def pipeline(self) -> FacePipeline:
        """Detector, encoder and passive liveness, loaded on first use."""
        if self._pipeline is None:
            self._pipeline = FacePipeline(self.settings.recognition,
                                          liveness_threshold=liveness_threshold(self.settings, self.liveness))
        return self._pipeline

    def load_models(self) -> str:
        """Load the face models now rather than at the first face; returns where the encoder runs."""
        return self.provider

    @property
    def provider(self) -> str:
        """Where the encoder runs, and why there: "CUDA" or "CPU (...)"."""
        return str(self.pipeline.encoder.provider)

    @property
    def tau(self) -> float:
        return self.settings.recognition.tau

    def identify_point(self, matrix: GalleryMatrix | None = None) -> IdentifyPoint:
        """The 1:K operating point (engine/operating.py) of the gallery as it is now; recomputed only when the
        gallery, tau, the stranger rate or the encoder changed."""
        matrix = self._gallery().matrix() if matrix is None else matrix
        return self._points.of(matrix, self.tau, self.settings.recognition.stranger_rate, self.encoder_id)

    def _gallery(self) -> GalleryBase:
        if self.gallery is None:
            raise RuntimeError("this Recognizer was made without a gallery")
        return self.gallery

    # --- faces --------------------------------------------------------------------------------------
    def find_face(self, image_rgb: np.ndarray, where: str = "the image", rule: str = "subject",
                  check_size: bool = True) -> PhotoFace:
        """The face a photo is of (its subject, or with rule "largest" its largest face), among all found;
        raises NoFace or, with check_size, FaceTooSmall."""
        return self.pipeline.embed_one(image_rgb, where, rule, check_size)

    def observe(self, image_rgb: np.ndarray, timestamp: float | None = None) -> list[FaceObservation]:
        """Every face of an image, largest first, each with its match in the gallery (when there is one);
        with a timestamp the image is a frame of a stream and each face carries its track's liveness."""
        faces = self.pipeline.observe(image_rgb, timestamp)
        started = time.perf_counter()
        faces = self._matched(faces)
        self.times = dataclasses.replace(self.pipeline.times, match=1000 * (time.perf_counter() - started))
        return faces

    def _matched(self, faces: list[FaceObservation]) -> list[FaceObservation]:
        if self.gallery is None or not faces:
            return faces
        matrix = self.gallery.matrix()
        if len(matrix.names) == 0:
            return faces
        matches = identify(np.stack([f.embedding for f in faces]), matrix, self.identify_point(matrix).threshold,
                           classifier=self.classifier)
        return [dataclasses.replace(face, match=match) for face, match in zip(faces, matches)]

    def judge_liveness(self, frames, min_frames: int, threshold: float | None = None) -> tuple[list, int]:
        """The passive liveness verdict of each face track of a clip or an image (frames: (index, timestamp s,
        RGB)), with this session's detector and liveness models; threshold: the settings' unless given. Returns
        the TrackReports and how many tracks were shorter than min_frames (see assess_frames)."""
        threshold = self.settings.liveness.threshold if threshold is None else threshold
        monitor = self.pipeline.liveness or liveness_monitor(threshold, self.settings.recognition.use_gpu)
        return assess_frames(frames, self.pipeline.detector, monitor.mesh_model, threshold, min_frames,
                             monitor.antispoof)

    # --- decisions ----------------------------------------------------------------------------------
    def enroll(self, name: str, faces: list[FaceObservation], sources: list[str], source: str = "",
               force: bool = False) -> int:
        """Store these faces of a person (created if new); returns how many shots of them the gallery holds.
        Unless `force`, raises NotThisPerson, and stores nothing, when a face is farther than tau from every
        other shot of the person (those stored and the other new ones): two people must not share one name."""
        gallery, name = self._gallery(), person_name(name)  # the name as stored (NFC), for the event too
        if not force:
            self._check_same_person(name, [f.embedding for f in faces], sources)
        gallery.enroll(name, np.stack([f.embedding for f in faces]), list(sources),
                       [thumbnail_jpeg(f.chip) for f in faces])
        self.record("enrolled", name, face=faces[0], reasons=(f"{len(faces)} shot(s)",), source=source)
        return len(gallery.embeddings_of(name))

    def _check_same_person(self, name: str, embeddings: list[np.ndarray], sources: list[str]) -> None:
        """NotThisPerson for the first new shot whose closest other shot of `name` is farther than tau."""
        try:
            stored = self._gallery().embeddings_of(name)
        except UnknownPerson:
            stored = np.empty((0, len(embeddings[0])), np.float32)
        for index, embedding in enumerate(embeddings):
            others = np.concatenate([stored, np.delete(np.stack(embeddings), index, axis=0)])
            if len(others) == 0:
                continue
            distance = float(np.linalg.norm(others - embedding, axis=1).min())
            if distance > self.tau:
                where = Path(sources[index]).name if sources[index] not in ("", "camera") else f"shot {index + 1}"
                raise NotThisPerson(name, where, distance, self.tau, len(others))

    def delete(self, name: str, source: str = "") -> None:
        """Delete a person and every trace of their face (see Gallery.delete), with their events not yet
        delivered; the one event out that remains says who was deleted, so that receivers forget them too."""
        held_up = None
        try:
            names = self._gallery().delete(name)
        except DeletedButReadElsewhere as error:  # deleted all the same: withdraw and announce, then say so
            names, held_up = error.names or (name,), error
        for each in names:  # the names before renames too
            forget_in(outbox_path(), each)  # also when no broker or webhook is set now: an earlier one may have been
        self.record("deleted", name, source=source)
        if held_up is not None:
            raise held_up

    def delete_all(self, source: str = "") -> None:
        """Delete everyone and the whole log (see Gallery.delete_all) and every undelivered event; a "deleted"
        event for each person tells the receivers."""
        gallery = self._gallery()
        names, held_up = gallery.names(), None
        try:
            gallery.delete_all()
        except DeletedButReadElsewhere as error:  # deleted all the same: withdraw and announce, then say so
            held_up = error
        forget_all_in(outbox_path())
        for name in names:
            self.record("deleted", name, source=source)
        if held_up is not None:
            raise held_up

    def rename(self, old: str, new: str) -> None:
        """Give a person another name (UnknownPerson, or BadInput when the new name is taken)."""
        self._gallery().rename(old, new)

    def export(self, path: Path | str) -> None:
        """Write the gallery to a file another machine can import (see Gallery.export)."""
        self._gallery().export(path)

    def import_(self, path: Path | str, progress=None):
        """Add the people of an exported gallery file; returns the gallery's ImportReport (progress: see
        GalleryBase.import_)."""
        return self._gallery().import_(path, progress)

    def verify(self, name: str, face: FaceObservation, source: str = "") -> Verification:
        """1:1: is this face the enrolled person `name`? Raises UnknownPerson when nobody has that name."""
        result = self.compare(name, face)
        self.record_verification(name, face, result, source)
        return result

    def compare(self, name: str, face: FaceObservation) -> Verification:
        """verify() without recording it: one frame's answer, for a stream that decides over several."""
        return verify(face.embedding, self._gallery().embeddings_of(name), self.tau, classifier=self.classifier)

    def record_verification(self, name: str, face: FaceObservation, result: Verification, source: str = "") -> None:
        self.record("verified" if result.same else "rejected", name, result.distance, face=face, source=source)

    def identify(self, image_rgb: np.ndarray, source: str = "") -> list[FaceObservation]:
        """1:K: every face of a still image with its match, decided at the identify point (not verify's tau);
        raises BadInput when nobody is enrolled."""
        if not self._gallery().names():
            raise BadInput("The gallery is empty: enroll someone first.")
        faces = self.observe(image_rgb)
        for face in faces:
            match = face.match
            assert match is not None  # the gallery has people: observe() matched every face
            self.record("recognized" if match.recognized else "unknown", match.name if match.recognized else None,
                        match.distance, face=face, margin=_margin(match), source=source)
        return faces

    def announce(self, decision: FaceDecision, source: str = "kiosk") -> Decision:
        """Record a stream's decision (engine.streams): a person recognised, a stranger, a spoof or a failed
        challenge, under the person's name (the one claimed, for a spoof)."""
        kind = decision.kind.event
        if kind is None:
            raise ValueError(f"a {decision.kind.value} face is not a decision to record")
        return self.record(kind, decision.name or decision.claimed, decision.distance, face=decision.face,
                           margin=decision.margin, reasons=decision.reasons, source=source)

    def record(self, kind: str, name: str | None = None, distance: float | None = None, *,
               face: FaceObservation | None = None, margin: float | None = None, reasons: tuple[str, ...] = (),
               live: bool | None = None, spoof_score: float | None = None, source: str = "") -> Decision:
        """One decision (kind: engine.events.KINDS) as a line in the gallery's events log (but see
        LOGGED_BY_THE_GALLERY) and, when a broker or a webhook is set, an event out. A face of a stream gives its
        liveness verdict (else `live` and `spoof_score`) and its thumbnail."""
        tracked = face.liveness if face is not None else None
        if tracked is not None:
            live, spoof_score = tracked.verdict.live, tracked.verdict.score
        thumbnail = thumbnail_jpeg(face.chip) if face is not None and self.outbox is not None else None
        decision = Decision(kind, name, distance, margin, live, spoof_score, tuple(reasons), thumbnail, source,
                            machine=machine_name(self.settings))
        try:
            if kind not in LOGGED_BY_THE_GALLERY and self.gallery is not None:
                self.gallery.log_event(kind, name, distance, "; ".join(filter(None, (source, *reasons))))
        finally:  # a log that cannot be written must not keep the door from hearing of the decision
            if self.outbox is not None:
                self.outbox.publish(decision)
        return decision

    # --- settings -----------------------------------------------------------------------------------
    def apply_settings(self, settings: Settings, liveness: str | None = None, gallery: GalleryBase | None = None
                       ) -> None:
        """Take new settings (and the liveness place, when given) live. A new encoder opens its own gallery and
        pair classifier, unless the new gallery is lent (`gallery`: the window's, which its lender closes);
        when any part cannot be had, LikenessError is raised and nothing changes (new MQTT or webhook settings
        take effect last: a URL that cannot be used leaves events unsent, and says so)."""
        liveness = self.liveness if liveness is None else liveness
        threshold = liveness_threshold(settings, liveness)
        owned = gallery is None and self.owns_gallery
        if gallery is None:
            gallery = (gallery_for(settings, self.gallery_location, keep_copy=self.presence)
                       if names_new_gallery(self.settings, settings) and self.gallery else self.gallery)
        try:
            identity = encoder_id(settings.recognition.encoder)
            classifier = pair_classifier_for(settings.recognition.decision, identity)
            if self._pipeline is not None:
                self._pipeline.apply_settings(settings.recognition, threshold)
        except BaseException:
            if gallery is not self.gallery and gallery is not None and owned:
                gallery.close()
            raise
        if gallery is not self.gallery and self.gallery is not None and self.owns_gallery:
            self.gallery.close()
        self.owns_gallery = owned
        old_integrations = self.settings.integrations
        self.settings, self.gallery, self.liveness, self.encoder_id = settings, gallery, liveness, identity
        self._classifier, self._classifier_loaded = classifier, True
        if settings.integrations != old_integrations and self.publish:
            self._reopen_outbox(settings)

    def _reopen_outbox(self, settings: Settings) -> None:
        """New destinations, from the same outbox file: what was not yet delivered to a destination that stays
        goes out from it; a destination removed takes its undelivered events with it."""
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None
        self.outbox = outbox_from_settings(settings, status=self.presence)

    def close(self, deliver_seconds: float = 0.0) -> int:
        """Close the gallery and the outbox, first waiting up to `deliver_seconds` for pending events; returns
        how many events stay in the outbox (the next session delivers them). A lent gallery stays open."""
        if self.gallery is not None and self.owns_gallery:
            self.gallery.close()
        if self.outbox is None:
            return 0
        self.outbox.flush(deliver_seconds)
        pending = self.outbox.pending()
        self.outbox.close()
        return pending


def _margin(match: Identification | None) -> float | None:
    return float(match.margin) if match is not None and np.isfinite(match.margin) else None
