"""A gallery shared on a PostgreSQL server (a throwaway one, tests/postgres_server.py): live sync between machines,
the server killed and restarted, kiosks working from their copy, least privilege, moving a gallery, the URL."""
import logging
import sqlite3
import time
import uuid

import psycopg
import pytest

from engine.cli import main
from engine.config import Settings, gallery_url_problem
from engine.errors import BadInput, EncoderMismatch, GalleryError
from engine.gallery import Gallery, copy_gallery, gallery_url, open_gallery
from engine.gallery import postgres
from engine.gallery.postgres import PostgresGallery, init_server
from engine.match import identify

from conftest import unit_vectors, wait_until

ENCODER = "test_encoder:000000000000"
FAST_RETRY = (0.05, 0.2)


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


def test_an_enrollment_rename_and_deletion_reach_the_other_machine(machines):  # how fast: bench/shared_kiosks.py
    desk, door = machines("desk"), machines("door")
    told = []
    door.add_listener(told.append)
    face = unit_vectors(1, 1)[0]
    desk.enroll("Ada", face[None], ["camera"])
    assert wait_until(lambda: recognised(door, face) == "Ada", 3.0), "not recognised at the door within 3 s"
    assert wait_until(lambda: "people" in told)  # listeners hear of it once the copy is written too
    desk.rename("Ada", "Ada Lovelace")
    assert wait_until(lambda: recognised(door, face) == "Ada Lovelace", 3.0)
    desk.delete("Ada Lovelace")
    assert wait_until(lambda: recognised(door, face) is None, 3.0)
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
    assert wait_until(lambda: desk.status().online, 5.0)
    assert desk.matrix().names == ("Grace",)


def test_kiosks_keep_recognising_while_the_server_is_down_and_deliver_each_event_once(machines, server, postgres_url):
    desk, door = machines("desk"), machines("door")
    face = unit_vectors(1, 4)[0]
    desk.enroll("Ada", face[None], ["camera"])
    assert wait_until(lambda: recognised(door, face) == "Ada")
    door.log_event("identify", "Ada", 0.1, "before")
    assert wait_until(lambda: door.status().pending_events == 0)
    server.stop("immediate")
    assert wait_until(lambda: not door.status().online, 5.0)
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
    assert wait_until(lambda: door.status().online and door.status().pending_events == 0, 5.0)
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
    assert wait_until(lambda: door.status().online and door.status().pending_events == 0, 5.0)


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
    assert wait_until(lambda: door.status().pending_events == 0)
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


def test_a_kiosk_login_cannot_hide_that_it_wrote_a_backdated_line(machines, postgres_url, postgres_server):
    from datetime import date

    from engine.cli.report import attendance

    suffix = uuid.uuid4().hex[:8]
    enroll, kiosk, door_login, desk_login = f"enroll_{suffix}", f"kiosk_{suffix}", f"door_{suffix}", f"desk_{suffix}"
    init_server(postgres_url, ENCODER, enroll, kiosk)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {door_login} LOGIN IN ROLE {kiosk}")
        admin.execute(f"CREATE ROLE {desk_login} LOGIN IN ROLE {enroll}")
    database = postgres_url.rsplit("/", 1)[1]
    desk = machines("desk", postgres_server.url(database, desk_login))
    desk.enroll("Ada", unit_vectors(1, 7), ["camera"])
    line = ("INSERT INTO likeness.events (id, machine, time, kind, person{extra}) VALUES "
            "(gen_random_uuid(), 'desk', '2025-05-01 08:00+00', 'recognized', 'Ada'{value})")
    with psycopg.connect(postgres_server.url(database, door_login), autocommit=True) as stolen:
        stolen.execute(line.format(extra="", value=""))  # a time of its choosing: an offline kiosk needs that
        for column, value in (("written_by", f"'{desk_login}'"), ("received", "'2025-05-01 08:00+00'")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                stolen.execute(line.format(extra=f", {column}", value=f", {value}"))
    rows = attendance(desk, date(2025, 4, 30), date(2025, 5, 2))
    assert [(row.person, row.written_by) for row in rows] == [("Ada", door_login)]  # not the desk it claims


def test_a_version_1_gallery_is_migrated_by_its_owner_only(postgres_url):
    from engine.gallery.postgres import MIGRATIONS, ensure_schema

    with psycopg.connect(postgres_url, autocommit=True) as owner:
        owner.execute(MIGRATIONS[1])  # a gallery written by the previous version
        owner.execute("INSERT INTO likeness.meta VALUES ('schema', '1'), ('encoder', %s)", (ENCODER,))
        owner.execute("INSERT INTO likeness.events (id, time, kind) VALUES (gen_random_uuid(), now(), 'enroll')")
        ensure_schema(owner, ENCODER, "test")
        columns = {row[0] for row in owner.execute("SELECT column_name FROM information_schema.columns "
                                                   "WHERE table_schema = 'likeness' AND table_name = 'events'")}
        assert {"written_by", "received"} <= columns
        assert owner.execute("SELECT value FROM likeness.meta WHERE key = 'schema'").fetchone()[0] == "2"
        assert owner.execute("SELECT count(*) FROM likeness.events WHERE written_by IS NOT NULL").fetchone()[0] == 1


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
    monkeypatch.setattr("engine.faces.encoders.encoder_id", lambda name="": ENCODER)
    role = f"k_{uuid.uuid4().hex[:8]}"
    assert main(["server", "init", postgres_url, "--enroll-role", f"e{role}", "--kiosk-role", role]) == 0
    assert f"IN ROLE {role}" in capsys.readouterr().out
    assert main(["server", "init", "sqlite:///tmp/x.sqlite"]) == 2


def server_events(url, person):
    with psycopg.connect(url) as admin:
        return admin.execute("SELECT kind FROM likeness.events WHERE person = %s", (person,)).fetchall()


def test_a_rename_and_a_new_person_announced_together_both_arrive(machines):
    v = lambda seed: unit_vectors(1, seed)[0].tobytes()  # noqa: E731
    old = postgres.local_copy._snapshot([(1, "Ada", v(1)), (2, "Bob", v(2))], 128)
    new = postgres.local_copy._replace_people(old, {2, 3}, [(2, "Robert", v(2)), (3, "Carol", v(3))], 128)
    assert new.matrix.names == ("Ada", "Robert", "Carol") and new.ids.tolist() == [1, 2, 3]
    desk, door = machines("desk"), machines("door")
    desk.enroll("Bob", unit_vectors(1, 2), ["camera"])
    assert wait_until(lambda: door.matrix().names == ("Bob",))
    with door._lock:  # the door's listener waits: both changes come to it as one batch
        desk.rename("Bob", "Robert")
        desk.enroll("Carol", unit_vectors(1, 3), ["camera"])
        time.sleep(0.3)
    assert wait_until(lambda: sorted(door.matrix().names) == ["Carol", "Robert"], 3.0)


def test_a_batch_that_cannot_be_applied_is_not_lost_everyone_is_reloaded(machines, monkeypatch, caplog):
    desk, door = machines("desk"), machines("door")
    monkeypatch.setattr(postgres.sync, "_replace_people", lambda *args: 1 / 0)
    with caplog.at_level(logging.ERROR, "likeness"):
        desk.enroll("Ada", unit_vectors(1, 1), ["camera"])
        assert wait_until(lambda: door.matrix().names == ("Ada",), 3.0)
    assert "reloading everyone" in caplog.text


def test_a_notification_that_is_not_an_id_loses_nothing(machines, postgres_url, caplog):
    desk, door = machines("desk"), machines("door")
    desk.enroll("Bob", unit_vectors(1, 2), ["camera"])
    assert wait_until(lambda: door.matrix().names == ("Bob",))
    with caplog.at_level(logging.WARNING, "likeness"), psycopg.connect(postgres_url, autocommit=True) as other:
        with other.transaction():  # any login may NOTIFY: its junk comes in the batch of a real deletion
            other.execute("NOTIFY likeness_gallery, 'junk'")
            other.execute("DELETE FROM likeness.people WHERE name = 'Bob'")
        assert wait_until(lambda: door.matrix().names == (), 3.0)
    assert "not a person's id" in caplog.text


def test_a_line_logged_just_before_a_deletion_does_not_outlive_it(machines, postgres_url):
    desk = machines("desk")
    for _ in range(3):  # the listener's delivery and the deletion race: either order must end the same
        desk.enroll("Alice", unit_vectors(1, 1), ["camera"])
        desk.log_event("verified", "Alice", 0.3, "window")
        desk.delete("Alice")
        time.sleep(1.0)
        assert server_events(postgres_url, "Alice") == [] and desk.status().pending_events == 0
    desk.enroll("Alice", unit_vectors(1, 1), ["camera"])
    desk.log_event("identify", "Alice", 0.3, "before the rename")
    desk.rename("Alice", "Alice B")
    assert wait_until(lambda: desk.status().pending_events == 0)
    assert server_events(postgres_url, "Alice") == [] and ("identify",) in server_events(postgres_url, "Alice B")


def test_an_offline_kiosk_does_not_bring_back_a_line_of_somebody_deleted_meanwhile(machines, server, postgres_url):
    desk = machines("desk")
    desk.enroll("Alice", unit_vectors(1, 1), ["camera"])
    desk.enroll("Bob", unit_vectors(1, 2), ["camera"])
    desk.close()
    door = machines("door")
    server.stop("immediate")
    door.log_event("identify", "Alice", 0.2, "while down")
    door.log_event("identify", "Bob", 0.2, "while down")
    door.close()  # the lines wait in the door's copy
    server.start()
    machines("desk").delete("Alice")
    door = machines("door")
    assert wait_until(lambda: door.status().pending_events == 0)
    assert server_events(postgres_url, "Alice") == [] and ("identify",) in server_events(postgres_url, "Bob")


def test_a_login_that_may_not_log_events_stays_online_and_can_open_again(machines, postgres_url, postgres_server,
                                                                         caplog):
    login = f"office_{uuid.uuid4().hex[:8]}"
    init_server(postgres_url, ENCODER)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {login} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA likeness TO {login}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA likeness TO {login}")  # reads, adds nothing
    url = postgres_server.url(postgres_url.rsplit("/", 1)[1], login)
    with caplog.at_level(logging.WARNING, "likeness"):
        office = machines("office", url)
        for i in range(3):
            office.log_event("verified", None, 0.3, f"cli {i}")
        assert wait_until(lambda: office.status().pending_events == 0)
        time.sleep(0.3)
        assert office.status().online
        office.close()
        machines("office", url).close()  # not refused
    assert caplog.text.count("refused an event") == 1 and "unreachable" not in caplog.text
    with psycopg.connect(postgres_url) as admin:
        assert admin.execute("SELECT COUNT(*) FROM likeness.events").fetchone()[0] == 0


def test_a_caller_dropping_the_connection_never_trips_the_listener(machines, caplog):
    door = machines("door")
    with caplog.at_level(logging.ERROR, "likeness"):
        for i in range(40):
            door._went_offline(RuntimeError("lost, as a caller saw it"))  # what _server() does
            time.sleep(0.01 + 0.03 * (i % 3))
        assert wait_until(lambda: door.status().online, 3.0)
    assert "gallery listener" not in caplog.text and door._thread.is_alive()


def test_a_deleted_person_leaves_the_copy_once_another_reader_lets_go(machines, monkeypatch, caplog):
    monkeypatch.setattr("engine.private_sqlite.CHECKPOINT_TRIES", 2)  # 0.2 s, not 5 s, before giving up for now
    desk, door = machines("desk"), machines("door")
    face = unit_vectors(1, 9)[0]
    desk.enroll("Ada", face[None], ["camera"])
    assert wait_until(lambda: door.matrix().names == ("Ada",))
    copy = door._copy.path
    reader = sqlite3.connect(copy, isolation_level=None)  # a second program reading the copy
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM shots").fetchall()
    with caplog.at_level(logging.WARNING, "likeness"):
        desk.delete("Ada")
        assert wait_until(lambda: door.matrix().names == ())
        assert wait_until(lambda: "another program is reading the copy" in caplog.text)
    time.sleep(0.5)
    reader.execute("COMMIT")
    reader.close()

    def gone():
        files = (copy, copy.with_name(copy.name + "-wal"))
        return not any(face.tobytes() in f.read_bytes() for f in files if f.exists())

    assert wait_until(gone, 3.0)  # the listener tries again while nothing changes


def test_a_one_off_command_leaves_no_copy_on_this_machine(postgres_url, tmp_path):
    with PostgresGallery(postgres_url, ENCODER, copy_dir=tmp_path / "desk") as desk:
        desk.enroll("Ada", unit_vectors(1, 1), ["camera"])
    with open_gallery(postgres_url, ENCODER, copy_dir=tmp_path / "office", keep_copy=False) as office:
        assert office.names() == ["Ada"]
        office.log_event("report", None, None, "one-off")
    assert not (tmp_path / "office").exists()  # no copy, not even its folder
    with psycopg.connect(postgres_url) as admin:  # its line was delivered before it closed
        assert admin.execute("SELECT COUNT(*) FROM likeness.events WHERE kind = 'report'").fetchone()[0] == 1
    copy_gallery(postgres_url, f"sqlite://{tmp_path / 'out.sqlite'}")
    assert not list(tmp_path.glob("home/**/gallery-copy-*"))


def test_a_password_spelled_in_percent_encoding_is_refused():
    for url in ("postgresql://door@host/db?pass%77ord=secret", "postgresql://door@host/db?%70assword=secret"):
        assert "must not hold a password" in gallery_url_problem(url)
    assert gallery_url_problem("postgresql://door@host/db?sslmode=require") is None


def test_names_lists_everyone_without_thumbnails_on_both_backends(machines, tmp_path):
    desk = machines("desk")
    with Gallery(tmp_path / "g.sqlite", ENCODER) as local:
        for gallery in (desk, local):
            for i, name in enumerate(["bob", "Ada", "Carol"]):
                gallery.enroll(name, unit_vectors(2, i), ["camera"] * 2, [b"jpeg", None])
            assert gallery.names() == ["Ada", "bob", "Carol"] == [p.name for p in gallery.people()]


def test_server_init_by_an_owner_without_createrole_creates_nothing_and_says_what_to_run(postgres_url,
                                                                                        postgres_server):
    suffix = uuid.uuid4().hex[:8]
    owner, enroll, kiosk = f"owner_{suffix}", f"enroll_{suffix}", f"kiosk_{suffix}"
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {owner} LOGIN NOCREATEROLE")
        admin.execute(f"ALTER DATABASE {database} OWNER TO {owner}")
        admin.execute(f"ALTER SCHEMA public OWNER TO {owner}")
    url = postgres_server.url(database, owner)
    with pytest.raises(GalleryError, match=f'may not create roles.*CREATE ROLE "{enroll}" NOLOGIN; '
                                           f'CREATE ROLE "{kiosk}" NOLOGIN;.*run server init again'):
        init_server(url, ENCODER, enroll, kiosk)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'likeness'").fetchone() is None
        admin.execute(f"CREATE ROLE {enroll} NOLOGIN")
        admin.execute(f"CREATE ROLE {kiosk} NOLOGIN")
    init_server(url, ENCODER, enroll, kiosk)  # what the sentence said to do works
    assert postgres.stored_encoder(url) == ENCODER


def test_a_one_off_command_says_how_many_log_lines_the_server_did_not_get(postgres_url, server, tmp_path):
    one_off = PostgresGallery(postgres_url, ENCODER, keep_copy=False, retry_seconds=FAST_RETRY)
    one_off.enroll("Ada", unit_vectors(1, 1), ["camera"])
    server.stop("immediate")  # the server dies mid-command
    one_off.log_event("identify", "Ada", 0.2, "cli")
    one_off.close()
    assert one_off.undelivered == 1  # said, where it was lost without a word
    assert not list(tmp_path.rglob("*.sqlite"))  # and still no copy of anyone on this machine
