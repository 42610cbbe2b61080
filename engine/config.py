"""Settings: every number a user can tune, with its unit and range, saved as TOML in the user's config dir.

One frozen dataclass per section; `Settings` holds the sections. Change a value with
`dataclasses.replace` (or `Settings.with_value("recognition.tau", 0.5)`), which validates it.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

from .errors import SettingsError

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


def _check(section: str, f: dataclasses.Field, value) -> None:
    meta = f.metadata
    where = f"{section}.{f.name}"
    expected = type(f.default) if f.default is not dataclasses.MISSING else tuple
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise SettingsError(f"The setting {where} must be a {expected.__name__}, not {value!r}.")
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if meta.get("choices") is not None and item not in meta["choices"]:
            raise SettingsError(f"The setting {where} must be one of {', '.join(map(str, meta['choices']))}, not {item!r}.")
        if meta.get("min") is not None and item < meta["min"]:
            raise SettingsError(f"The setting {where} must be at least {meta['min']} {meta['unit']}, not {item}.")
        if meta.get("max") is not None and item > meta["max"]:
            raise SettingsError(f"The setting {where} must be at most {meta['max']} {meta['unit']}, not {item}.")


@dataclass(frozen=True)
class RecognitionSettings(_Section):
    # best accuracy on LFW View-1 DevTrain (0.423, bench/lfw.py); FAR 0.7 % per comparison: big galleries want Secure
    tau: float = _spec(0.42, "distance", 0.05, 1.5, help="same person when the embedding distance is at most tau")
    decision: str = _spec("distance", "", choices=["distance", "classifier"],
                          help="same person when d <= tau, or when the learned pair classifier says P(same) >= 0.5")
    detection_size: int = _spec(640, "px", 160, 1920, help="longest side of the image the detector sees")
    min_face_px: int = _spec(40, "px", 16, 512, help="smaller faces are not enrolled")
    detection_score: float = _spec(0.8, "probability", 0.1, 0.99, help="detector confidence needed")
    use_gpu: bool = _spec(True, "", help="run the encoder with CUDA when a GPU is present")
    encoder: str = _spec("", "", help="an encoder .onnx made by `python main.py train` (empty: the shipped one); "
                                      "each encoder has its own gallery")


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
    preserve_colors: bool = _spec(False, "", help="keep the content's colours (luminance-only transfer)")
    coarse_to_fine: bool = _spec(True, "", help="outputs of 512 px or more are first optimised at half size")
    seed: int = _spec(0, "", 0, 2**31 - 1)
    preview_every: int = _spec(10, "iterations", 1, 1000)

    def __post_init__(self):
        super().__post_init__()
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
    cooldown: float = _spec(5.0, "s", 0.0, 3600.0, help="time before the same person is logged again")
    log_thumbnails: bool = _spec(False, "", help="keep a face thumbnail with each logged recognition")
    pin: str = _spec("0000", "", help="PIN that unlocks the settings and leaves kiosk mode")


LIVENESS_MODES = ("off", "passive", "passive+challenge")


@dataclass(frozen=True)
class LivenessSettings(_Section):
    mode: str = _spec("passive", "", choices=LIVENESS_MODES,
                      help="liveness check in the window: passive cues, or passive cues and a challenge")
    kiosk_mode: str = _spec("passive+challenge", "", choices=LIVENESS_MODES, help="liveness check in kiosk mode")
    # bench/liveness.py: the live clips score 0.01-0.06 on average, the replays 0.67-0.90
    threshold: float = _spec(0.5, "spoof score", 0.05, 0.95, help="a face scoring this or more is a suspected spoof")
    challenge_steps: int = _spec(2, "actions", 1, 3, help="actions asked for (blink, turn left, turn right)")
    step_time: float = _spec(5.0, "s", 2.0, 30.0, help="time allowed for each action")


@dataclass(frozen=True)
class Settings:
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    style: StyleSettings = field(default_factory=StyleSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    liveness: LivenessSettings = field(default_factory=LivenessSettings)

    def to_dict(self) -> dict:
        return {f.name: _section_dict(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "Settings":
        sections = {}
        for f in fields(cls):
            values = data.get(f.name, {})
            if not isinstance(values, dict):
                raise SettingsError(f"The settings section [{f.name}] must be a table.")
            known = {sf.name for sf in fields(f.default_factory)}
            unknown = set(values) - known
            if unknown:
                raise SettingsError(f"Unknown setting {f.name}.{sorted(unknown)[0]}.")
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            sections[f.name] = f.default_factory(**values)
        return cls(**sections)

    def with_value(self, dotted: str, value) -> "Settings":
        """A copy with one value changed, e.g. with_value("recognition.tau", 0.45); validated."""
        section_name, _, key = dotted.partition(".")
        section = getattr(self, section_name, None)
        if section is None or key not in {f.name for f in fields(section)}:
            raise SettingsError(f"There is no setting called {dotted}.")
        return dataclasses.replace(self, **{section_name: dataclasses.replace(section, **{key: value})})


def _section_dict(section) -> dict:
    return {f.name: list(v) if isinstance(v := getattr(section, f.name), tuple) else v for f in fields(section)}


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def load_settings(path: Path | None = None) -> Settings:
    """Settings from TOML; defaults where the file does not exist. A bad file raises SettingsError."""
    path = path or settings_file()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"The settings file {path} is not valid TOML ({error}).") from error
    return Settings.from_dict(data)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (a crash leaves the old file or the new one, never half of one)."""
    path = path or settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(settings.to_dict()), encoding="utf-8")
    os.replace(tmp, path)
    return path
