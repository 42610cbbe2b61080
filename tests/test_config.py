"""Settings: defaults, validation with clear messages, TOML round trip in the user's config dir."""
import pytest

from engine.config import Settings, load_settings, save_settings, settings_file
from engine.errors import SettingsError


def test_settings_survive_a_restart(private_home):
    changed = Settings().with_value("recognition.tau", 0.35).with_value("style.beta", 500.0)
    path = save_settings(changed)
    assert path == settings_file() and str(private_home) in str(path)
    assert load_settings() == changed


def test_missing_file_gives_defaults():
    assert load_settings() == Settings()


@pytest.mark.parametrize("key, value, message", [
    ("recognition.tau", 3.0, "at most 1.5"),
    ("recognition.tau", "close", "must be a float"),
    ("style.optimizer", "sgd", "must be one of lbfgs, adam"),
    ("style.content_layer", "conv1_3", "must be one of"),
    ("nothing.here", 1, "no setting called"),
])
def test_bad_values_are_refused_in_one_sentence(key, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings().with_value(key, value)


def test_a_broken_file_is_a_clear_error():
    settings_file().parent.mkdir(parents=True)
    settings_file().write_text("[recognition]\ntau = = 3\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()
    settings_file().write_text("[recognition]\nspeed = 3\n")
    with pytest.raises(SettingsError, match="Unknown setting recognition.speed"):
        load_settings()


def test_one_lambda_per_style_layer():
    with pytest.raises(SettingsError, match="one lambda per style layer"):
        Settings().with_value("style.style_layer_weights", (1.0, 1.0))
