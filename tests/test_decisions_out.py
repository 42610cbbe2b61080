"""Decisions out through the real recognition session: a kiosk run on real clips and the command line publish
exactly what they log to a real mosquitto and a real webhook receiver, signed; a hanging receiver costs the
pipeline nothing. Two sessions on one PostgreSQL gallery see each other's enrollments and deletions."""
import base64
import hashlib
import hmac
import time

import cv2
import pytest

from engine.cli import main
from engine.config import IntegrationsSettings, LivenessSettings, RecognitionSettings, Settings
from engine.errors import LikenessError
from engine.gallery import thumbnail_jpeg
from engine.images import load_image, video_frames
from engine.streams import IdentifyStream
from engine.recognizer import Recognizer
from mqtt_broker import Listener, Receiver

from conftest import FIXTURES, wait_until

CLIPS = FIXTURES / "liveness"
LIVE, REPLAY = CLIPS / "tranvanluyt_live_phone_selfie_6s.mp4", CLIPS / "tranvanluyt_replay_screen_6s.mp4"
FACES = FIXTURES / "faces"
SECRET = "door-secret"


def kiosk_settings(**integrations) -> Settings:
    return Settings(recognition=RecognitionSettings(use_gpu=False),
                    liveness=LivenessSettings(kiosk_mode="passive"),
                    integrations=IntegrationsSettings(machine_name="door", **integrations))


def kiosk_run(recognizer, clips, every=3) -> tuple[list[float], float]:
    """The kiosk's loop on clips played one after the other: observe each frame, decide every face, record each new visit.
    Returns (seconds spent recording each announcement, seconds of the whole run)."""
    stream = IdentifyStream(liveness="passive", frames_to_decide=3, cooldown=1.0)
    recording, started, offset = [], time.perf_counter(), 0.0
    for clip in clips:
        timestamp = offset
        for _, t, image in video_frames(clip, every):
            timestamp = offset + t
            faces = recognizer.observe(image, timestamp=timestamp)
            for decision in stream.update(faces, timestamp).announced:
                before = time.perf_counter()
                recognizer.announce(decision, "kiosk")
                recording.append(time.perf_counter() - before)
        offset = timestamp + 10.0  # the next clip's faces are new tracks
    return recording, time.perf_counter() - started


def decisions_logged(gallery) -> list[tuple]:
    """(kind, person, distance) of the decisions in the gallery's log, oldest first (not its own changes)."""
    return [(e.kind, e.person, e.distance) for e in reversed(gallery.events(1000))
            if e.kind not in ("enroll", "delete", "import")]


def enroll_first_frame(recognizer, clip, name):
    image = next(video_frames(clip))[2]
    recognizer.enroll(name, [recognizer.find_face(image).face], [clip.name], source="window")


def test_a_kiosk_publishes_exactly_the_decisions_it_logs_signed(broker, receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", SECRET)
    listener = Listener(broker.port)
    settings = kiosk_settings(mqtt_url=broker.url, webhook_url=receiver.url)
    recognizer = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite", liveness="kiosk", presence=True)
    enroll_first_frame(recognizer, LIVE, "Luyt")
    kiosk_run(recognizer, [LIVE, REPLAY])
    logged = decisions_logged(recognizer.gallery)
    assert recognizer.close(deliver_seconds=10) == 0

    kinds = [kind for kind, _, _ in logged]
    assert "recognized" in kinds and "spoof" in kinds
    assert all(name == "Luyt" for kind, name, _ in logged if kind in ("recognized", "spoof"))
    assert wait_until(lambda: len(listener.events()) == 1 + len(logged), timeout=5)
    enrolled, *published = listener.events()
    assert (enrolled["kind"], enrolled["name"], enrolled["source"]) == ("enrolled", "Luyt", "window")
    assert [(e["kind"], e["name"], e["distance"]) for e in published] == [
        (kind, name, None if d is None else round(d, 6)) for kind, name, d in logged]
    assert all(e["machine"] == "door" and "thumbnail" not in e for e in published)
    spoof = next(e for e in published if e["kind"] == "spoof")
    assert spoof["live"] is False and spoof["spoof_score"] >= settings.liveness.threshold and spoof["reasons"]

    assert wait_until(lambda: len(receiver.requests) == 1 + len(logged), timeout=5)
    assert [body["id"] for body in receiver.bodies()] == [e["id"] for e in (enrolled, *published)]
    for headers, body in receiver.requests:
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Likeness-Signature"], signature)
    assert any(topic == "likeness/door/status" and payload == b"online" for topic, payload, _ in listener.messages)
    listener.close()


def test_a_receiver_that_hangs_costs_the_kiosk_nothing(broker, tmp_path):
    """Behaviour: the kiosk's whole run is decided and recorded, and MQTT gets every event, while the webhook's
    first request is still held unanswered. What it costs in frames/s: bench/decisions_out.py."""
    holding = Receiver(answers=["hold"])
    listener = Listener(broker.port)
    settings = kiosk_settings(mqtt_url=broker.url, webhook_url=holding.url, webhook_timeout=60)
    recognizer = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite", liveness="kiosk")
    enroll_first_frame(recognizer, LIVE, "Luyt")
    kiosk_run(recognizer, [LIVE, REPLAY])
    logged = decisions_logged(recognizer.gallery)
    assert logged
    assert wait_until(lambda: len(listener.events()) == 1 + len(logged), timeout=10)  # MQTT is not held up
    assert holding.held == 1 and holding.requests == []  # the webhook's first is still unanswered
    holding.release.set()
    assert recognizer.close(deliver_seconds=10) == 0
    assert len(holding.requests) == len(logged)  # the enrollment was the held one
    listener.close()
    holding.close()


def test_a_command_keeps_the_events_of_another_destination_and_says_so(tmp_path, capsys, monkeypatch):
    """identify --webhook A (answering 500), then identify --webhook B: A's event stays, said on stderr, and
    goes out when A is given again (it was deleted before, and only the log said so)."""
    monkeypatch.setattr("engine.cli.faces.DELIVERY_SECONDS", 0.5)
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", SECRET)
    failing, working = Receiver(answers=[500] * 50), Receiver()
    gallery = ["--gallery", str(tmp_path / "g.sqlite")]
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    assert main(["identify", str(FACES / "obama2.jpg"), *gallery, "--webhook", failing.url]) == 0
    assert "1 event(s) not delivered yet" in capsys.readouterr().err
    assert main(["identify", str(FACES / "obama2.jpg"), *gallery, "--webhook", working.url]) == 0
    err = capsys.readouterr().err
    assert "1 earlier event(s) for another broker or webhook still wait in the outbox" in err
    assert len(working.requests) == 1
    failing.answers.clear()  # A answers now
    assert main(["identify", str(FACES / "obama2.jpg"), *gallery, "--webhook", failing.url]) == 0
    assert "wait in the outbox" not in capsys.readouterr().err
    assert len({body["id"] for body in failing.bodies()}) == 2  # the first run's event and this one's
    failing.close()
    working.close()


def test_the_command_line_publishes_its_decisions_but_not_a_presence(broker, tmp_path):
    listener = Listener(broker.port)
    where = ["--gallery", str(tmp_path / "g.sqlite"), "--mqtt", broker.url]
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *where]) == 0
    assert main(["verify", "Obama", str(FACES / "obama2.jpg"), *where]) == 0
    assert main(["identify", str(FACES / "biden.jpg"), *where]) == 1
    assert main(["people", "delete", "Obama", *where]) == 0
    replay_frame = tmp_path / "replay.png"
    cv2.imwrite(str(replay_frame), cv2.cvtColor(next(video_frames(REPLAY))[2], cv2.COLOR_RGB2BGR))
    assert main(["liveness", str(replay_frame), "--mqtt", broker.url]) == 1
    assert wait_until(lambda: len(listener.events()) == 5, timeout=5)
    assert [(e["kind"], e["name"], e["source"]) for e in listener.events()] == [
        ("enrolled", "Obama", "cli"), ("verified", "Obama", "cli"), ("unknown", None, "cli"),
        ("deleted", "Obama", "cli"), ("spoof", None, "cli")]
    assert not any(topic.endswith("/status") for topic, _, _ in listener.messages)  # only the window and kiosk
    listener.close()


def test_a_deletion_withdraws_the_persons_undelivered_events(tmp_path):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False),
                        integrations=IntegrationsSettings(mqtt_url="mqtt://127.0.0.1:9", send_thumbnails=True))
    recognizer = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite")  # a broker that is never there
    face = recognizer.find_face(load_image(FACES / "obama.jpg")).face
    recognizer.enroll("Obama", [face], ["obama.jpg"])
    recognizer.identify(load_image(FACES / "obama2.jpg"))
    files = recognizer.outbox.path.parent.glob(recognizer.outbox.path.name + "*")
    thumbnail = base64.b64encode(thumbnail_jpeg(face.chip))[:200]
    assert thumbnail in b"".join(p.read_bytes() for p in files)
    recognizer.delete("Obama")
    assert recognizer.close() == 1  # only the deletion itself waits, so that receivers forget him too
    outbox = b"".join(p.read_bytes() for p in recognizer.outbox.path.parent.glob(recognizer.outbox.path.name + "*"))
    assert outbox.count(b'"name":"Obama"') == 1 and b'"kind":"deleted"' in outbox
    assert thumbnail not in outbox


def outbox_bytes(recognizer) -> bytes:
    path = recognizer.outbox.path
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def never_delivering(tmp_path) -> Recognizer:
    settings = Settings(recognition=RecognitionSettings(use_gpu=False),
                        integrations=IntegrationsSettings(mqtt_url="mqtt://127.0.0.1:9", send_thumbnails=True))
    return Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite")  # a broker that is never there


def test_a_deletion_after_a_rename_withdraws_the_events_of_every_name_the_person_had(tmp_path):
    recognizer = never_delivering(tmp_path)
    face = recognizer.find_face(load_image(FACES / "obama.jpg")).face
    recognizer.enroll("Zelda", [face], ["obama.jpg"])
    recognizer.identify(load_image(FACES / "obama2.jpg"))  # a pending event with her face, naming Zelda
    recognizer.gallery.rename("Zelda", "Zora")
    recognizer.identify(load_image(FACES / "obama2.jpg"))
    recognizer.gallery.rename("Zora", "Zuri")
    recognizer.delete("Zuri")
    outbox = outbox_bytes(recognizer)
    assert b"Zelda" not in outbox and b"Zora" not in outbox
    assert outbox.count(b'"name":"Zuri"') == 1 and b'"kind":"deleted"' in outbox
    assert base64.b64encode(thumbnail_jpeg(face.chip))[:200] not in outbox
    log = " ".join(f"{e.person} {e.detail}" for e in recognizer.gallery.events())
    assert "Zelda" not in log and "Zora" not in log and "Zuri" not in log  # the renames' lines went with her
    assert recognizer.close() == 1


def test_a_deletion_behind_another_programs_reader_still_withdraws_and_announces_it(tmp_path, monkeypatch):
    import sqlite3

    from engine.errors import GalleryError

    monkeypatch.setattr("engine.private_sqlite.CHECKPOINT_TRIES", 2)
    recognizer = never_delivering(tmp_path)
    face = recognizer.find_face(load_image(FACES / "obama.jpg")).face
    recognizer.enroll("Obama", [face], ["obama.jpg"])
    recognizer.identify(load_image(FACES / "obama2.jpg"))
    reader = sqlite3.connect(tmp_path / "g.sqlite", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM embeddings").fetchall()  # another program holds a snapshot with him in it
    with pytest.raises(GalleryError, match="The deletion is done, but another program is reading"):
        recognizer.delete("Obama")
    outbox = outbox_bytes(recognizer)
    assert outbox.count(b'"name":"Obama"') == 1 and b'"kind":"deleted"' in outbox  # withdrawn, and announced
    reader.close()  # the reader goes: closing the session finishes the overwrite
    recognizer.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("g.sqlite*"))
    assert face.embedding.astype("float32").tobytes()[:64] not in stored


def test_deleting_everyone_behind_another_programs_reader_still_withdraws_and_announces(tmp_path, monkeypatch):
    import sqlite3

    from engine.errors import GalleryError

    monkeypatch.setattr("engine.private_sqlite.CHECKPOINT_TRIES", 2)
    recognizer = never_delivering(tmp_path)
    recognizer.enroll("Obama", [recognizer.find_face(load_image(FACES / "obama.jpg")).face], ["obama.jpg"])
    recognizer.identify(load_image(FACES / "obama2.jpg"))
    reader = sqlite3.connect(tmp_path / "g.sqlite", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM embeddings").fetchall()
    with pytest.raises(GalleryError, match="The deletion is done, but another program is reading"):
        recognizer.delete_all()
    outbox = outbox_bytes(recognizer)
    assert outbox.count(b'"name":"Obama"') == 1 and b'"kind":"deleted"' in outbox
    reader.close()
    recognizer.close()


def test_deleting_everyone_withdraws_all_undelivered_events_even_with_integrations_off_now(tmp_path):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False),
                        integrations=IntegrationsSettings(mqtt_url="mqtt://127.0.0.1:9"))  # never there
    recognizer = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite")
    recognizer.enroll("Obama", [recognizer.find_face(load_image(FACES / "obama.jpg")).face], ["obama.jpg"])
    recognizer.identify(load_image(FACES / "obama2.jpg"))
    assert recognizer.close() == 2
    outbox = recognizer.outbox.path

    def naming_him():
        return [p for p in outbox.parent.glob(outbox.name + "*") if b"Obama" in p.read_bytes()]

    assert naming_him()
    assert main(["people", "delete-all", "--yes", "--gallery", str(tmp_path / "g.sqlite")]) == 0  # no MQTT set
    assert naming_him() == []


def test_an_unusable_broker_url_is_refused_up_front_and_never_stops_the_window(tmp_path):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False),
                        integrations=IntegrationsSettings(mqtt_url="mqtt://door:secret@127.0.0.1:1883"))
    with pytest.raises(LikenessError, match="password"):
        Recognizer.check(settings)  # what the settings panel asks before it takes a value
    window = Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite", presence=True)  # a file said so
    assert window.outbox is None and window.problems and "not sent out" in window.problems[0]
    window.close()
    with pytest.raises(LikenessError, match="password"):  # a command says it and stops
        Recognizer.from_settings(settings, gallery=tmp_path / "g.sqlite")


def test_two_sessions_on_one_server_see_each_others_enrollments_and_deletions(postgres_url, tmp_path):
    settings = Settings(recognition=RecognitionSettings(use_gpu=False))
    door = Recognizer.from_settings(settings, gallery=postgres_url)
    desk = Recognizer.from_settings(settings, gallery=postgres_url)
    probe = load_image(FACES / "obama2.jpg")
    assert door.observe(probe)[0].match is None  # nobody enrolled yet

    desk.enroll("Obama", [desk.find_face(load_image(FACES / "obama.jpg")).face], ["obama.jpg"], source="desk")
    assert wait_until(lambda: door.gallery.matrix().names == ("Obama",), timeout=10)  # the delay: bench/
    assert door.observe(probe)[0].match.name == "Obama"

    desk.delete("Obama", source="desk")
    assert wait_until(lambda: door.gallery.matrix().names == (), timeout=10)
    assert door.observe(probe)[0].match is None
    assert door.gallery.people() == [] and desk.gallery.people() == []
    door.close()
    desk.close()
