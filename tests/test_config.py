"""Settings: defaults, validation with clear messages, TOML round trip in the user's config dir, and a damaged
settings.toml: each wrong key named in one sentence and kept at its default, the file never lost."""
import os
import signal

import pytest

from engine.cli import main
from engine.config import Settings, load_settings, load_settings_with_warnings, save_settings, settings_file
from engine.errors import SettingsError

from conftest import FIXTURES


def write_settings(text: str) -> None:
    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(text)


def test_settings_survive_a_restart(private_home):
    changed = Settings().with_value("recognition.tau", 0.35).with_value("style.beta", 500.0)
    assert save_settings(changed) is None  # nothing to keep: there was no file
    assert str(private_home) in str(settings_file())
    assert load_settings_with_warnings() == (changed, [])


def test_missing_file_gives_defaults():
    assert load_settings_with_warnings() == (Settings(), [])


@pytest.mark.parametrize("key, value, message", [
    ("recognition.tau", 3.0, "at most 1.5"),
    ("recognition.tau", "close", "must be a number"),
    ("recognition.tau", float("nan"), "must be a finite number, not nan"),
    ("style.beta", float("inf"), "must be a finite number, not inf"),
    ("style.style_layer_weights", (0.2, float("nan"), 0.2, 0.2, 0.2), "finite"),
    ("recognition.detection_size", True, "must be a whole number"),
    ("style.optimizer", "sgd", "must be one of lbfgs, adam"),
    ("style.content_layer", "conv1_3", "must be one of"),
    ("nothing.here", 1, "no setting called"),
])
def test_bad_values_are_refused_in_one_sentence(key, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings().with_value(key, value)


def test_one_lambda_per_style_layer_and_at_least_one_layer():
    with pytest.raises(SettingsError, match="one lambda per style layer"):
        Settings().with_value("style.style_layer_weights", (1.0, 1.0))
    with pytest.raises(SettingsError, match="at least one style layer"):
        Settings().with_value("style.style_layers", ()).with_value("style.style_layer_weights", ())


# a damaged settings.toml, and (part of) the one sentence said about it
DAMAGED = [
    ("recognition = 3", "The settings section [recognition] must be a table, not 3; its defaults are used."),
    ("[recognition]\ntau = 'close'",
     "The setting recognition.tau must be a number, not 'close'; the default 0.9306 is used."),
    ("[recognition]\ntau = nan",
     "The setting recognition.tau must be a finite number, not nan; the default 0.9306 is used."),
    ("[recognition]\ntau = inf", "must be a finite number, not inf"),
    ("[recognition]\ntau = -0.3", "The setting recognition.tau must be at least 0.05 distance, not -0.3"),
    ("[recognition]\ndetection_size = true", "recognition.detection_size must be a whole number, not True; the default 640"),
    ("[recognition]\ndecision = 'magic'", "recognition.decision must be one of distance, classifier, not 'magic'"),
    ("[recognition]\nspeed = 3", "Unknown setting recognition.speed is ignored."),
    ("[extras]\nx = 1", "Unknown setting extras is ignored."),
    ("[style]\nstyle_layers = 'conv1_1'", "The setting style.style_layers must be a list, not 'conv1_1'"),
    ("[style]\nstyle_layer_weights = ['a', 'b', 'c', 'd', 'e']", "style.style_layer_weights must be a number, not 'a'"),
    ("[style]\nstyle_layers = ['conv1_1']", "differ in length; the [style] defaults are used."),
    ("[style]\nstyle_layers = []\nstyle_layer_weights = []", "at least one style layer"),
    ("[liveness]\nthreshold = 7.0", "liveness.threshold must be at most 0.99"),
    ("[recognition]\ntau = = 3", "is not valid TOML"),
]


@pytest.mark.parametrize("text, sentence", DAMAGED)
def test_each_wrong_key_is_named_and_keeps_its_default(text, sentence):
    write_settings(text)
    settings, problems = load_settings_with_warnings()
    assert settings == Settings()
    assert len(problems) == 1 and sentence in problems[0]
    assert load_settings() == settings


def test_the_good_keys_of_a_damaged_file_are_kept():
    write_settings("[recognition]\ntau = 0.5\nmin_face_px = 1e9\n[kiosk]\npin = 1234\n[style]\nsize = 512\n")
    settings, problems = load_settings_with_warnings()
    assert settings.recognition.tau == 0.5 and settings.style.size == 512
    assert settings.recognition.min_face_px == 40 and settings.kiosk.unlocks("0000")
    assert [p.split(" must")[0] for p in problems] == ["The setting recognition.min_face_px", "The setting kiosk.pin"]


def test_a_settings_file_that_is_a_pipe_or_a_folder_gives_defaults_without_hanging():
    settings_file().parent.mkdir(parents=True)
    os.mkfifo(settings_file())
    signal.alarm(5)  # a pipe opened for reading would wait for a writer forever
    try:
        settings, problems = load_settings_with_warnings()
    finally:
        signal.alarm(0)
    assert settings == Settings() and "is not a regular file" in problems[0]
    os.unlink(settings_file())
    settings_file().mkdir()
    assert "is not a regular file" in load_settings_with_warnings()[1][0]


def test_saving_over_a_file_with_problems_keeps_a_copy_of_it():
    damaged = "[recognition]\ntau = 'close'\ndecision = 'classifier'\n"
    write_settings(damaged)
    settings, _ = load_settings_with_warnings()
    kept = save_settings(settings.with_value("recognition.tau", 0.4))
    assert kept.parent == settings_file().parent and kept.name.startswith("settings.toml.") and kept.suffix == ".bad"
    assert kept.read_text() == damaged
    assert load_settings_with_warnings() == (settings.with_value("recognition.tau", 0.4), [])
    assert save_settings(Settings()) is None  # the file is fine now: nothing more to keep
    assert list(settings_file().parent.glob("*.bad")) == [kept]


def test_no_command_crashes_on_a_damaged_settings_file(capsys):
    write_settings("recognition = 3\n[style]\nstyle_layers = 'conv1_1'\nbeta = nan\n[liveness]\nthreshold = 'x'\n")
    assert main(["people", "list"]) == 0
    assert main(["embed", str(FIXTURES / "faces" / "obama.jpg")]) == 0
    assert main(["liveness", str(FIXTURES / "faces" / "biden.jpg")]) == 0
    err = capsys.readouterr().err
    for key in ("[recognition]", "style.style_layers", "style.beta", "liveness.threshold"):
        assert err.count(f"warning: The setting{'s section' if key[0] == '[' else ''} {key} must be") == 3, key
    assert "Traceback" not in err


def write_raw(data: bytes) -> None:
    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_bytes(data)


@pytest.mark.parametrize("damage, problem", [
    (b"", None),  # nothing wrong: a UTF-8 byte order mark (Notepad) is not a problem
    (b"[integrations]\nmachine_name = 'caf\xe9'\n", "Line 6 of the settings file"),  # one Latin-1 byte
    (b"[integrations]\nmachine_name = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"[integrations]\nmachine_name = " + b"[" * 50 + b"]" * 50 + b"\n", "machine_name must be text"),
])
def test_a_damaged_line_costs_its_key_only(damage, problem):
    """A byte order mark, a byte that is not UTF-8 or a value nested thousands deep (a RecursionError that
    made every command exit 3) leave the other keys of the file in use."""
    write_raw(b"\xef\xbb\xbf[recognition]\ntau = 0.5\n[style]\nsize = 512\n" + damage + b"[kiosk]\ncooldown = 7.0\n")
    settings, problems = load_settings_with_warnings()
    assert (settings.recognition.tau, settings.style.size, settings.kiosk.cooldown) == (0.5, 512, 7.0)
    assert len(problems) == (problem is not None) and all(problem in p for p in problems), problems
    assert main(["people"]) == 0


def test_the_settings_file_is_owner_only_and_holds_no_pin_in_clear():
    import stat

    from engine.config import KioskSettings

    write_raw(b"[kiosk]\npin = '1234'\n")  # as an older version left it: mode 644 (umask), the PIN in clear
    os.chmod(settings_file(), 0o644)
    settings = load_settings()
    assert stat.S_IMODE(settings_file().stat().st_mode) == 0o600
    assert settings.kiosk.unlocks("1234") and not settings.kiosk.unlocks("0000")
    save_settings(settings.with_value("kiosk.pin", "864209"))
    assert stat.S_IMODE(settings_file().stat().st_mode) == 0o600 and b"864209" not in settings_file().read_bytes()
    again = load_settings()
    assert again.kiosk.unlocks("864209") and not again.kiosk.unlocks("1234") and not again.kiosk.unlocks("")
    save_settings(again)  # a hash saved again stays the same hash
    assert load_settings().kiosk.pin == again.kiosk.pin and "864209" not in repr(again)
    damaged = again.kiosk.pin[:-3]
    with pytest.raises(SettingsError, match="damaged hash"):
        KioskSettings(pin=damaged)
