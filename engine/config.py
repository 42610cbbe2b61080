"""Settings: every number a user can tune, with its unit and range, saved as TOML in the user's config dir.

One frozen dataclass per section; `Settings` holds the sections. Change a value with
`dataclasses.replace` (or `Settings.with_value("recognition.tau", 0.5)`), which validates it.
"""
from __future__ import annotations

import codecs
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import math
import os
import secrets
import shutil
import stat
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, cast

import tomli_w

from .errors import SettingsError
from .faces.liveness_points import CAMERA_POINT, STILL_POINT

APP_NAME = "Likeness"
VGG19_CONV_LAYERS = tuple(
    f"conv{block}_{i}" for block, count in enumerate((2, 2, 4, 4, 4), start=1) for i in range(1, count + 1)
)


def config_dir() -> Path:
    """Where settings live; LIKENESS_HOME overrides (tests, portable installs)."""
    if home := os.environ.get("LIKENESS_HOME"):
        return Path(home) / "config"
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where the gallery and logs live; LIKENESS_HOME overrides (tests, portable installs)."""
    if home := os.environ.get("LIKENESS_HOME"):
        return Path(home) / "data"
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def make_data_dir() -> Path:
    """The data folder, created if needed, readable by its owner only (700): it holds faces and logs."""
    path = data_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # one made by an older version is 755
    return path


def keep_library_caches_private() -> None:
    """matplotlib's font cache and configuration go under the data folder (LIKENESS_HOME too), not ~/.cache and
    ~/.config: call before matplotlib is first imported. An MPLCONFIGDIR set by the user is kept."""
    if "MPLCONFIGDIR" not in os.environ:
        with contextlib.suppress(OSError):
            folder = make_data_dir() / "matplotlib"
            folder.mkdir(mode=0o700, exist_ok=True)
            os.environ["MPLCONFIGDIR"] = str(folder)


def _spec(default, unit: str, lo=None, hi=None, choices=None, help: str = ""):
    """A dataclass field that carries its unit, range and help text for validation and the settings panel."""
    meta = {"unit": unit, "min": lo, "max": hi, "choices": choices, "help": help}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


class _Section:
    def __post_init__(self):
        for f in fields(self):
            _check(type(self).__name__.removesuffix("Settings").lower(), f, getattr(self, f.name))


TYPE_NAMES = {float: "a number", int: "a whole number", bool: "true or false", str: "text"}


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else cast(Callable[[], Any], f.default_factory)()


def _check(section: str, f: dataclasses.Field, value) -> None:
    """Raise SettingsError, one sentence, unless `value` has the field's type, choices and range (lists: each item)."""
    where, default = f"{section}.{f.name}", _default(f)
    if not isinstance(default, tuple):
        _check_item(where, f.metadata, type(default), value)
        return
    if not isinstance(value, tuple):
        raise SettingsError(f"The setting {where} must be a list, not {value!r}.")
    for item in value:
        _check_item(where, f.metadata, type(default[0]), item)


def amount(value, unit: str) -> str:
    """A number with its unit, as a sentence says it: "1e+06", "384 px" (a weight or a lambda has no unit)."""
    number = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{number} {unit}" if unit and unit not in UNITLESS else number


UNITLESS = ("weight", "lambda")  # names of what a number is, not units: "(weight)" says nothing


def _check_item(where: str, meta, expected: type, value) -> None:
    accepted = (int, float) if expected is float else expected
    if not isinstance(value, accepted) or (isinstance(value, bool) and expected is not bool):
        raise SettingsError(f"The setting {where} must be {TYPE_NAMES[expected]}, not {value!r}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"The setting {where} must be a finite number, not {value}.")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise SettingsError(f"The setting {where} must be one of {', '.join(map(str, meta['choices']))}, not {value!r}.")
    if meta.get("min") is not None and value < meta["min"]:
        raise SettingsError(f"The setting {where} must be at least {amount(meta['min'], meta['unit'])}, "
                            f"not {amount(value, '')}.")
    if meta.get("max") is not None and value > meta["max"]:
        raise SettingsError(f"The setting {where} must be at most {amount(meta['max'], meta['unit'])}, "
                            f"not {amount(value, '')}.")


@dataclass(frozen=True)
class RecognitionSettings(_Section):
    # best accuracy of the default encoder on LFW View-1 DevTrain (bench/lfw.py); each shipped encoder has its own
    # (engine.faces.encoders.ENCODER_FACTS), and the Settings panel sets it when the encoder changes
    tau: float = _spec(0.9306, "distance", 0.05, 1.5, help="same person when the embedding distance is at most tau")
    # identify (1:K) holds this at the gallery's size (engine/operating.py); 100 is the door's target of 1 % strangers
    # named, and on a one-camera gallery of 15-40 people it keeps >= 95 % of enrolled people recognised (README)
    stranger_rate: int = _spec(100, "strangers per name", 10, 1_000_000,
                               help="identify names a stranger at most 1 time in this many; its threshold tightens "
                                    "as the gallery grows (verify keeps tau)")
    decision: str = _spec("distance", "", choices=["distance", "classifier"],
                          help="same person when d <= tau, or when the learned pair classifier says P(same) >= 0.5")
    detection_size: int = _spec(640, "px", 160, 1920, help="longest side of the image the detector sees")
    min_face_px: int = _spec(40, "px", 16, 512, help="smaller faces are not enrolled")
    detection_score: float = _spec(0.8, "probability", 0.1, 0.99, help="detector confidence needed")
    use_gpu: bool = _spec(True, "", help="run the encoder with CUDA when a GPU is present")
    encoder: str = _spec("dlib+sface", "", help="dlib+sface (the two fused), sface, dlib+facenet, dlib, facenet, or an "
                                                "encoder .onnx made by `python main.py train` (empty: dlib); each has its "
                                                "own gallery")


@dataclass(frozen=True)
class StyleSettings(_Section):
    alpha: float = _spec(1.0, "weight", 0.0, 1e6, help="weight of the content cost")
    # with the normalised costs of engine/style/losses.py, alpha/beta = 1000 balances a photo and a painting
    beta: float = _spec(1e-3, "weight", 0.0, 1e12, help="weight of the style cost")
    content_layer: str = _spec(
        "conv4_2", "", choices=VGG19_CONV_LAYERS, help="VGG19 layer of the content cost"
    )
    style_layers: tuple = _spec(
        ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
        "",
        choices=VGG19_CONV_LAYERS,
        help="VGG19 layers of the style cost",
    )
    style_layer_weights: tuple = _spec((0.2, 0.2, 0.2, 0.2, 0.2), "lambda", 0.0, 1e3, help="lambda of each style layer")
    tv_weight: float = _spec(0.0, "weight", 0.0, 1e6, help="total-variation weight (smoothness)")
    iterations: int = _spec(300, "iterations", 1, 10000)
    size: int = _spec(384, "px", 64, 4096, help="longest side of the output image")
    optimizer: str = _spec("lbfgs", "", choices=["lbfgs", "adam"])
    learning_rate: float = _spec(2.0, "pixel units", 1e-4, 100.0, help="Adam step size")
    init: str = _spec("noise", "", choices=["noise", "content", "blend"], help="how G starts")
    preserve_colors: bool = _spec(False, "", help="keep the content's colors (luminance-only transfer)")
    coarse_to_fine: bool = _spec(True, "", help="outputs of 512 px or more are first optimised at half size")
    seed: int = _spec(0, "", 0, 2**31 - 1)
    preview_every: int = _spec(10, "iterations", 1, 1000)

    def __post_init__(self):
        super().__post_init__()
        if not self.style_layers:
            raise SettingsError("Give at least one style layer in style_layers.")
        if len(self.style_layers) != len(self.style_layer_weights):
            raise SettingsError("Give one lambda per style layer: style_layers and style_layer_weights differ in length.")


@dataclass(frozen=True)
class TrainingSettings(_Section):
    margin: float = _spec(0.2, "squared distance", 0.0, 4.0, help="triplet-loss margin alpha")
    mining: str = _spec("batch-hard", "", choices=["batch-hard", "semi-hard", "random"])


@dataclass(frozen=True)
class CameraSettings(_Section):
    source: str = _spec("0", "", help="webcam index, video file or image folder")


@dataclass(frozen=True)
class KioskSettings(_Section):
    frames_to_decide: int = _spec(3, "frames", 1, 30, help="consecutive frames that must agree before a name is shown")
    cooldown: float = _spec(5.0, "s", 0.0, 3600.0, help="unseen for longer than this, a person comes back as a new visit")
    log_thumbnails: bool = _spec(False, "", help="keep a face thumbnail with each logged recognition")
    pin: str = _spec("0000", "", help="PIN that unlocks the settings and leaves kiosk mode (saved as a salted hash)")

    def __post_init__(self):
        super().__post_init__()
        if not self.pin.startswith(PIN_HASH + "$"):
            object.__setattr__(self, "pin", hashed_pin(self.pin))  # a PIN as typed is kept only as its hash
        elif not _is_pin_hash(self.pin):
            raise SettingsError("The setting kiosk.pin must be a PIN or the hash Likeness saved, not a damaged hash.")

    def unlocks(self, entered: str) -> bool:
        """Whether `entered` is the kiosk's PIN."""
        return pin_matches(entered, self.pin)


LIVENESS_MODES = ("off", "passive", "passive+challenge")


@dataclass(frozen=True)
class LivenessSettings(_Section):
    mode: str = _spec("passive", "", choices=LIVENESS_MODES,
                      help="liveness check in the window: passive cues, or passive cues and a challenge")
    kiosk_mode: str = _spec("passive+challenge", "", choices=LIVENESS_MODES, help="liveness check in kiosk mode")
    # The defaults are the operating points of resources/calibration/liveness.json (`python bench/liveness.py
    # --fit`), both fitted on camera frames of live people: the camera's on the live view's 15-frame windows, the
    # still's on single frames.
    threshold: float = _spec(CAMERA_POINT.threshold, "spoof score", 0.05, 0.99,
                             help="a face followed by the camera scoring this or more is a suspected spoof")
    still_threshold: float = _spec(STILL_POINT.threshold, "spoof score", 0.05, 0.99,
                                   help="a face on a still image scoring this or more is a suspected spoof")
    challenge_steps: int = _spec(2, "actions", 1, 3, help="actions asked for (blink, turn left, turn right)")
    step_time: float = _spec(5.0, "s", 2.0, 30.0, help="time allowed for each action")


@dataclass(frozen=True)
class IntegrationsSettings(_Section):
    """Where decisions are published (engine.events). Passwords and the webhook secret are never settings:
    they come from the environment (LIKENESS_MQTT_PASSWORD, LIKENESS_WEBHOOK_SECRET) or a file it names."""
    machine_name: str = _spec("", "", help="name of this kiosk in topics and events (empty: the host name)")
    mqtt_url: str = _spec("", "", help="MQTT broker, mqtt://host:1883 or mqtts://host:8883 (empty: no MQTT)")
    topic_prefix: str = _spec("likeness", "", help="topics are <prefix>/<machine>/<kind>")
    retain_last_seen: bool = _spec(False, "", help="keep a retained <prefix>/<machine>/last_seen/<name> per person")
    webhook_url: str = _spec("", "", help="POST each event to this http(s) URL (empty: no webhook)")
    webhook_timeout: float = _spec(5.0, "s", 0.5, 60.0, help="time a webhook receiver has to answer")
    send_thumbnails: bool = _spec(False, "", help="send a face thumbnail with each event (personal data)")
    webhook_link_local: bool = _spec(False, "", help="allow a webhook on a link-local address (169.254.x.x, fe80::), "
                                                     "where clouds serve their metadata and credentials")

    def __post_init__(self):
        super().__post_init__()
        if self.mqtt_url and not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise SettingsError(f"The setting integrations.mqtt_url must start with mqtt:// or mqtts://, "
                                f"not {self.mqtt_url!r}.")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise SettingsError(f"The setting integrations.webhook_url must start with http:// or https://, "
                                f"not {self.webhook_url!r}.")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "+#\0"):
            raise SettingsError(f"The setting integrations.topic_prefix must be a topic without + or #, "
                                f"not {self.topic_prefix!r}.")


def gallery_url_problem(url: str) -> str | None:
    """Why `url` cannot name a gallery (completing "The gallery URL ..."); None when it can."""
    from urllib.parse import urlsplit

    if url == "":
        return None
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        return None if path.startswith("/") else f"{url!r} must name an absolute path, as sqlite:///folder/file.sqlite"
    if not url.startswith(("postgresql://", "postgres://")):
        return f"{url!r} must be empty (this machine's file), sqlite:///path or postgresql://user@host/database"
    try:
        password = urlsplit(url).password
    except ValueError as error:
        return f"{url!r} cannot be read ({error})"
    try:  # libpq decodes the parameters' names too: ?pass%77ord=... is a password
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        decoded = conninfo_to_dict(url).get("password")
        password = password if decoded is None else str(decoded)
    except ImportError:  # no PostgreSQL client: such a URL cannot be opened anyway
        pass
    except ProgrammingError:  # a URL libpq cannot read: refused when it is opened
        pass
    if password is not None or "password=" in url:
        return "must not hold a password; put it in ~/.pgpass (or PGPASSFILE) or the PGPASSWORD variable"
    return None


@dataclass(frozen=True)
class GallerySettings(_Section):
    url: str = _spec("", "", help="where the gallery lives: empty for this machine's file, sqlite:///path, or "
                                  "postgresql://user@host/database?sslmode=require for a server shared by "
                                  "several machines (the password from ~/.pgpass or PGPASSWORD, never here)")

    def __post_init__(self):
        super().__post_init__()
        if problem := gallery_url_problem(self.url):
            raise SettingsError(f"The setting gallery.url {problem}.")


@dataclass(frozen=True)
class Settings:
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    style: StyleSettings = field(default_factory=StyleSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    gallery: GallerySettings = field(default_factory=GallerySettings)
    integrations: IntegrationsSettings = field(default_factory=IntegrationsSettings)

    def to_dict(self) -> dict:
        return {f.name: _section_dict(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> tuple["Settings", list[str]]:
        """Settings from a TOML table, and one sentence per problem: a wrong or unknown key keeps its default."""
        names = [f.name for f in fields(cls)]
        problems = [f"Unknown setting {name} is ignored." for name in data if name not in names]
        data = _without_superseded_defaults(data)
        sections = {f.name: _section_from(f.name, cast(type, f.default_factory), data.get(f.name, {}), problems)
                    for f in fields(cls)}
        return cls(**sections), problems

    def with_value(self, dotted: str, value) -> "Settings":
        """A copy with one value changed, e.g. with_value("recognition.tau", 0.45); validated."""
        section_name, _, key = dotted.partition(".")
        section = getattr(self, section_name, None)
        if section is None or key not in {f.name for f in fields(section)}:
            raise SettingsError(f"There is no setting called {dotted}.")
        return dataclasses.replace(self, **{section_name: dataclasses.replace(section, **{key: value})})


# Shipped defaults that were fitted on the wrong data: a saved file holding one was saved before, not chosen, and
# gets today's default. liveness.threshold 0.96 was fitted on web photos (5 % of LFW's faces rejected).
SUPERSEDED_DEFAULTS = {("liveness", "threshold"): 0.96}


def _without_superseded_defaults(data: dict) -> dict:
    data = {name: dict(values) if isinstance(values, dict) else values for name, values in data.items()}
    for (section, key), value in SUPERSEDED_DEFAULTS.items():
        values = data.get(section)
        if isinstance(values, dict) and values.get(key) == value:
            del values[key]
    return data


def _section_from(name: str, section_class: type, values, problems: list[str]):
    """One section from its TOML table; each problem is appended to `problems` and its key keeps its default."""
    if not isinstance(values, dict):
        problems.append(f"The settings section [{name}] must be a table, not {values!r}; its defaults are used.")
        return section_class()
    known, kept = {f.name: f for f in fields(section_class)}, {}
    for key, value in values.items():
        value = tuple(value) if isinstance(value, list) else value
        if key not in known:
            problems.append(f"Unknown setting {name}.{key} is ignored.")
            continue
        try:
            _check(name, known[key], value)
            kept[key] = value
        except SettingsError as error:
            default = _default(known[key])
            shown = list(default) if isinstance(default, tuple) else default
            problems.append(f"{str(error).removesuffix('.')}; the default {shown!r} is used.")
    try:
        return section_class(**kept)
    except SettingsError as error:  # keys fine one by one but not together
        problems.append(f"{str(error).removesuffix('.')}; the [{name}] defaults are used.")
        return section_class()


def _section_dict(section) -> dict:
    return {f.name: list(v) if isinstance(v := getattr(section, f.name), tuple) else v for f in fields(section)}


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def load_settings_with_warnings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """Settings from the TOML file, and one sentence per problem found in it (the CLI prints them, the window
    shows them). A wrong, unknown or out-of-range key keeps its default; a file that cannot be read as TOML
    gives the defaults. No file: the defaults and no problem. A pipe or a device is never opened."""
    path = path or settings_file()
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return Settings(), [f"The settings file {path} is not a regular file; the defaults are used."]
        if info.st_mode & 0o077 and info.st_uid == getattr(os, "getuid", lambda: -1)():  # an older version wrote it
            os.chmod(path, 0o600)
        raw = path.read_bytes()
    except FileNotFoundError:
        return _first_run_settings(), []
    except OSError as error:
        why = error.strerror or error
        return Settings(), [f"The settings file {path} cannot be read ({why}); the defaults are used."]
    data, unreadable = _read_toml(raw.removeprefix(codecs.BOM_UTF8), path)
    settings, problems = Settings.from_dict(data)
    return settings, unreadable + problems


UNREADABLE = (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError)  # RecursionError: [[[[...]]]] 1000 deep


def _read_toml(raw: bytes, path: Path) -> tuple[dict, list[str]]:
    """The TOML document in `raw`; when it cannot be read whole (a byte that is not UTF-8, a value nested too
    deep, a broken line), line by line, each line that cannot be read named and left out: the other keys stay."""
    try:
        return tomllib.loads(raw.decode("utf-8")), []
    except UNREADABLE:
        pass
    data: dict = {}
    section: dict = data
    problems = []
    for number, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8")
            parsed = tomllib.loads(text)
        except UNREADABLE as error:
            why = "it is nested too deeply" if isinstance(error, RecursionError) else str(error).split(" (at")[0]
            problems.append(f"Line {number} of the settings file {path} is not valid TOML ({why}); it is ignored.")
            continue
        if text.strip().startswith("[") and len(parsed) == 1 and isinstance(table := next(iter(parsed.values())), dict):
            section = data.setdefault(next(iter(parsed)), table)  # a [section] header
        else:
            section.update(parsed)
    return data, problems


def _first_run_settings() -> Settings:
    """No settings file: the defaults, except that a gallery made with an earlier default encoder keeps its encoder
    (Likeness wrote no settings file until something was changed, so its galleries would look empty otherwise)."""
    from .faces.encoders import DEFAULT_ENCODER, EARLIER_DEFAULTS, with_encoder
    from .gallery import default_path

    if not default_path(DEFAULT_ENCODER).exists():
        for name in EARLIER_DEFAULTS:
            if default_path(name).exists():
                return with_encoder(Settings(), name)
    return Settings()


def load_settings(path: Path | None = None) -> Settings:
    """Settings from the TOML file, problems left unsaid (see load_settings_with_warnings)."""
    return load_settings_with_warnings(path)[0]


def save_settings(settings: Settings, path: Path | None = None) -> Path | None:
    """Write settings atomically (a crash leaves the old file or the new one, never half of one).

    A file that had problems is not lost: it is first copied beside itself as settings.toml.<time>.bad.
    Returns that copy, or None when the old file was fine or absent."""
    path = path or settings_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = None
    if path.is_file() and load_settings_with_warnings(path)[1]:
        kept = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bad")
        shutil.copyfile(path, kept)
        os.chmod(kept, 0o600)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "w", encoding="utf-8") as file:
        file.write(tomli_w.dumps(settings.to_dict()))  # owner-only from the start: the PIN's hash, server URLs
    os.replace(tmp, path)
    return kept


PIN_HASH = "pbkdf2_sha256"
PIN_ITERATIONS = 200_000


# The default PIN's hash, computed once here: every Settings() would otherwise spend 80 ms hashing "0000" (a PIN
# everyone knows from the README, so a fixed salt hides nothing).
DEFAULT_PIN_HASH = ("pbkdf2_sha256$200000$6c696b656e6573732d64656661756c74$"
                    "f0cc729109336cd1f24a6086ba9b318280bb79fc3f2d9581bf43aa2e381aa054")


@functools.lru_cache(maxsize=16)
def hashed_pin(pin: str) -> str:
    """The PIN as Settings hold and save it: pbkdf2_sha256$iterations$salt$hash, salted at random once per PIN
    and process (so that equal settings stay equal); the default PIN has its hash ready (DEFAULT_PIN_HASH)."""
    if pin == "0000":
        return DEFAULT_PIN_HASH
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), PIN_ITERATIONS).hex()
    return f"{PIN_HASH}${PIN_ITERATIONS}${salt}${digest}"


def _is_pin_hash(stored: str) -> bool:
    parts = stored.split("$")
    try:
        return len(parts) == 4 and int(parts[1]) > 0 and len(bytes.fromhex(parts[2])) >= 8 and len(parts[3]) == 64 \
            and bool(bytes.fromhex(parts[3]))
    except ValueError:
        return False


def pin_matches(entered: str, stored: str) -> bool:
    """Whether the PIN typed is the stored one (its hash, or the PIN itself as typed into this session)."""
    if not stored.startswith(PIN_HASH + "$"):
        return hmac.compare_digest(entered.encode(), stored.encode())
    _, iterations, salt, digest = stored.split("$")
    typed = hashlib.pbkdf2_hmac("sha256", entered.encode(), bytes.fromhex(salt), int(iterations)).hex()
    return hmac.compare_digest(typed, digest)
