"""A gallery shared on a PostgreSQL server (a throwaway one, tests/postgres_server.py): live sync between machines,
the server killed and restarted, kiosks working from their copy, least privilege, moving a gallery, the URL."""
import threading
import time
import uuid

import numpy as np
import psycopg
import pytest

from engine.cli import main
from engine.config import Settings
from engine.errors import BadInput, EncoderMismatch, GalleryError
from engine.gallery import Gallery, copy_gallery, gallery_url, open_gallery
from engine.gallery.postgres import PostgresGallery, init_server
from engine.match import identify

ENCODER = "test_encoder:000000000000"
FAST_RETRY = (0.05, 0.2)


def unit_vectors(n, seed, dimension=128):
    v = np.random.default_rng(seed).normal(size=(n, dimension)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def eventually(condition, seconds=2.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def machines(postgres_url, tmp_path):
    """Opens a 'machine' on the test's database: a PostgresGallery with its own local copy folder."""
    opened = []

    def open_machine(name, url=postgres_url):
        g = PostgresGallery(url, ENCODER, copy_dir=tmp_path / name, retry_seconds=FAST_RETRY)
        opened.append(g)
        return g

    yield open_machine
    for g in opened:
        g.close()


@pytest.fixture
def server(postgres_server):
    """The session's server, started again after a test that stopped it."""
    yield postgres_server
    try:
        psycopg.connect(postgres_server.url(), connect_timeout=2).close()
    except psycopg.OperationalError:
        postgres_server.start()


def recognised(gallery, probe):
    return identify(probe[None], gallery.matrix(), tau=0.5)[0].name


def test_an_enrollment_rename_and_deletion_reach_the_other_machine_within_a_second(machines):
    desk, door = machines("desk"), machines("door")
    told = []
    door.add_listener(told.append)
    face = unit_vectors(1, 1)[0]
    started = time.monotonic()
    desk.enroll("Ada", face[None], ["camera"])
    assert eventually(lambda: recognised(door, face) == "Ada", 1.0), "not recognised at the door within 1 s"
    assert time.monotonic() - started < 1.0
    assert eventually(lambda: "people" in told)  # listeners hear of it once the copy is written too
    desk.rename("Ada", "Ada Lovelace")
    assert eventually(lambda: recognised(door, face) == "Ada Lovelace", 1.0)
    desk.delete("Ada Lovelace")
    assert eventually(lambda: recognised(door, face) is None, 1.0)
    assert len(door.matrix().embeddings) == 0


def test_the_server_killed_during_an_enrollment_leaves_no_half_enrolled_person(machines, server, postgres_url):
    desk = machines("desk")
    desk.enroll("Grace", unit_vectors(1, 2), ["g"])

    class SourcesThatKillTheServer(list):
        """The server dies (pg_ctl stop -m immediate) while the enrollment's transaction is open."""
        def __iter__(self):
            for i, item in enumerate(list.__iter__(self)):
                if i == 1500:
                    server.stop("immediate")
                yield item

    with pytest.raises(GalleryError, match="cannot be reached|unreachable"):
        desk.enroll("Half", unit_vectors(2000, 3), SourcesThatKillTheServer(["camera"] * 2000), [bytes(500)] * 2000)
    server.start()
    with psycopg.connect(postgres_url) as admin:
        names = [r[0] for r in admin.execute("SELECT name FROM likeness.people")]
        shots = admin.execute("SELECT COUNT(*) FROM likeness.embeddings").fetchone()[0]
    assert names == ["Grace"] and shots == 1
    assert eventually(lambda: desk.status().online, 5.0)
    assert desk.matrix().names == ("Grace",)


def test_kiosks_keep_recognising_while_the_server_is_down_and_deliver_each_event_once(machines, server, postgres_url):
    desk, door = machines("desk"), machines("door")
    face = unit_vectors(1, 4)[0]
    desk.enroll("Ada", face[None], ["camera"])
    assert eventually(lambda: recognised(door, face) == "Ada")
    door.log_event("identify", "Ada", 0.1, "before")
    assert eventually(lambda: door.status().pending_events == 0)
    server.stop("immediate")
    assert eventually(lambda: not door.status().online, 5.0)
    for i in range(3):
        assert recognised(door, face) == "Ada"  # from memory
        door.log_event("identify", "Ada", 0.2, f"offline {i}")
    status = door.status()
    assert status.pending_events == 3 and "unreachable since" in str(status) and "the copy of" in str(status)
    with pytest.raises(GalleryError, match="unreachable|cannot be reached"):
        desk.enroll("Grace", unit_vectors(1, 5), ["camera"])
    with pytest.raises(GalleryError, match="unreachable|cannot be reached"):
        desk.delete("Ada")
    server.start()
    assert eventually(lambda: door.status().online and door.status().pending_events == 0, 5.0)
    door.close()  # a second delivery would come from a restart: none may
    with psycopg.connect(postgres_url) as admin:
        details = sorted(r[0] for r in admin.execute("SELECT detail FROM likeness.events WHERE kind = 'identify'"))
    assert details == ["before", "offline 0", "offline 1", "offline 2"]


def test_a_kiosk_started_while_the_server_is_down_recognises_from_its_copy(machines, server, tmp_path):
    desk = machines("desk")
    face = unit_vectors(1, 6)[0]
    desk.enroll("Linus", face[None], ["camera"])
    door = machines("door")
    assert recognised(door, face) == "Linus"
    door.close()
    assert (tmp_path / "door").stat().st_mode & 0o077 == 0
    assert all(f.stat().st_mode & 0o077 == 0 for f in (tmp_path / "door").glob("*.sqlite"))
    server.stop("immediate")
    door = machines("door")
    status = door.status()
    assert not status.online and status.copy_time is not None
    assert recognised(door, face) == "Linus" and [p.name for p in door.people()] == ["Linus"]
    door.log_event("identify", "Linus", 0.1, "while down")
    with pytest.raises(GalleryError, match="unreachable"):
        door.rename("Linus", "Linus T")
    with pytest.raises(GalleryError, match="no copy"):
        machines("new door")
    server.start()
    assert eventually(lambda: door.status().online and door.status().pending_events == 0, 5.0)


def test_the_kiosk_role_cannot_add_change_or_delete_anyone(machines, postgres_url, postgres_server):
    suffix = uuid.uuid4().hex[:8]
    enroll, kiosk, door_login = f"enroll_{suffix}", f"kiosk_{suffix}", f"door_{suffix}"
    init_server(postgres_url, ENCODER, enroll, kiosk)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {door_login} LOGIN IN ROLE {kiosk}")
        admin.execute(f"CREATE ROLE desk_{suffix} LOGIN IN ROLE {enroll}")
    database = postgres_url.rsplit("/", 1)[1]
    desk = machines("desk", postgres_server.url(database, f"desk_{suffix}"))
    face = unit_vectors(1, 7)[0]
    desk.enroll("Ada", face[None], ["camera"], [b"jpeg"])
    door = machines("door", postgres_server.url(database, door_login))
    assert recognised(door, face) == "Ada" and door.people()[0].thumbnail is None
    door.log_event("identify", "Ada", 0.1, "door")
    assert eventually(lambda: door.status().pending_events == 0)
    assert desk.events(1)[0].detail == "door"
    with pytest.raises(GalleryError, match=f"login {door_login} may not"):
        door.enroll("Mallory", unit_vectors(1, 8), ["camera"])
    with pytest.raises(GalleryError, match="may not"):
        door.delete("Ada")
    with psycopg.connect(postgres_server.url(database, door_login), autocommit=True) as stolen:
        for statement in ("INSERT INTO likeness.people (name, created) VALUES ('Mallory', now())",
                          "UPDATE likeness.people SET name = 'Mallory'", "DELETE FROM likeness.people",
                          "DELETE FROM likeness.embeddings", "SELECT * FROM likeness.events",
                          "SELECT * FROM likeness.thumbnails"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                stolen.execute(statement)
    assert [p.name for p in desk.people()] == ["Ada"]


def full_state(g):
    people = [(p.name, p.embedding_count, p.created, p.thumbnail) for p in g.people()]
    return people, list(g.shots()), list(g.all_events())


def test_gallery_copy_sqlite_to_postgres_and_back_loses_nothing(postgres_url, tmp_path, capsys):
    first, last = tmp_path / "first.sqlite", tmp_path / "last.sqlite"
    with Gallery(first, ENCODER) as g:
        g.enroll("Ada", unit_vectors(3, 1), ["a1.jpg", "a2.jpg", "camera"], [b"jpeg-ada", None, b"jpeg-2"])
        g.enroll("Grace", unit_vectors(1, 2), ["g.jpg"])
        g.log_event("identify", "Ada", 0.25, "door 1")
        g.log_event("spoof", None, None, "phone")
        before = full_state(g)
    assert main(["gallery", "copy", f"sqlite://{first}", postgres_url]) == 0
    assert "Copied 2 people (4 shot(s)) and 4 log line(s)." in capsys.readouterr().out
    assert main(["gallery", "copy", postgres_url, f"sqlite://{last}"]) == 0
    with Gallery(last, ENCODER) as g:
        assert full_state(g) == before
    assert main(["gallery", "copy", f"sqlite://{first}", postgres_url]) == 2  # not into a gallery that has people
    assert "already holds people" in capsys.readouterr().err


def test_gallery_copy_refuses_different_encoders(postgres_url, tmp_path, capsys):
    with Gallery(tmp_path / "a.sqlite", ENCODER) as g:
        g.enroll("Ada", unit_vectors(1, 1), ["a"])
    PostgresGallery(postgres_url, "other_encoder:111111111111", copy_dir=tmp_path / "copy").close()
    with pytest.raises(EncoderMismatch, match="other_encoder"):
        copy_gallery(f"sqlite://{tmp_path / 'a.sqlite'}", postgres_url)
    assert main(["gallery", "copy", f"sqlite://{tmp_path / 'a.sqlite'}", postgres_url]) == 2
    assert "other_encoder" in capsys.readouterr().err
    assert main(["gallery", "copy", f"sqlite://{tmp_path / 'none.sqlite'}", postgres_url]) == 2


def test_the_url_picks_the_backend_and_the_environment_overrides_the_setting(postgres_url, tmp_path, monkeypatch):
    settings = Settings().with_value("gallery.url", f"sqlite://{tmp_path / 'set.sqlite'}")
    monkeypatch.delenv("LIKENESS_GALLERY_URL", raising=False)
    assert gallery_url(settings) == f"sqlite://{tmp_path / 'set.sqlite'}"
    with open_gallery(gallery_url(settings), ENCODER) as g:
        assert isinstance(g, Gallery) and g.path == tmp_path / "set.sqlite" and g.status().online
    monkeypatch.setenv("LIKENESS_GALLERY_URL", postgres_url)
    with open_gallery(gallery_url(settings), ENCODER, copy_dir=tmp_path / "copy") as g:
        assert isinstance(g, PostgresGallery)
    with pytest.raises(BadInput, match="must be empty"):
        open_gallery("mysql://host/db", ENCODER)


def test_an_unreachable_server_is_one_sentence(tmp_path):
    with pytest.raises(GalleryError, match=r"^The gallery server at 127\.0\.0\.1:1/x cannot be reached .*no copy"):
        PostgresGallery("postgresql://nobody@127.0.0.1:1/x", ENCODER, copy_dir=tmp_path)


def test_server_init_on_the_command_line(postgres_url, capsys, monkeypatch):
    monkeypatch.setattr("engine.faces.encode.encoder_id", lambda name="": ENCODER)
    role = f"k_{uuid.uuid4().hex[:8]}"
    assert main(["server", "init", postgres_url, "--enroll-role", f"e{role}", "--kiosk-role", role]) == 0
    assert f"IN ROLE {role}" in capsys.readouterr().out
    assert main(["server", "init", "sqlite:///tmp/x.sqlite"]) == 2


def test_a_writer_and_a_reader_thread_share_one_postgres_gallery(machines):
    gallery, errors, done = machines("desk"), [], threading.Event()

    def read_like_the_pipeline():
        try:
            while not done.is_set():
                matrix = gallery.matrix()
                assert len(matrix.embeddings) == len(matrix.owners)
                gallery.log_event("identify", "Ada", 0.3, "pipeline")
        except Exception as error:  # reported below
            errors.append(error)

    reader = threading.Thread(target=read_like_the_pipeline)
    reader.start()
    for i in range(20):
        gallery.enroll(f"person {i}", unit_vectors(2, 100 + i), ["camera"] * 2)
    done.set()
    reader.join()
    assert errors == [] and len(gallery.matrix().embeddings) == 40
