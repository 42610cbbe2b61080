"""Typed errors of the engine. Each message is one sentence a person can act on."""


class LikenessError(Exception):
    """Base class: the CLI and the GUI show str(error) as it is."""


class BadInput(LikenessError):
    """The input cannot be used (unreadable file, wrong shape, unknown name ...)."""


class UnreadableImage(BadInput):
    def __init__(self, path, why="it is not an image OpenCV can decode"):
        super().__init__(f"Cannot read the image {path}: {why}.")
        self.path = path


class NoFace(BadInput):
    def __init__(self, where="the image"):
        super().__init__(f"No face was found in {where}.")


class FaceTooSmall(BadInput):
    def __init__(self, size_px, minimum_px, where="the image"):
        super().__init__(
            f"The face in {where} is {size_px:.0f} px wide, smaller than the {minimum_px} px needed."
        )


class UnknownPerson(BadInput):
    def __init__(self, name):
        super().__init__(f"Nobody called {name!r} is enrolled.")


class NotThisPerson(BadInput):
    """A new shot is farther than tau from every other shot of the person it is enrolled as: most likely a photo
    of somebody else. The window asks whether to add it anyway; the command line takes it with --force."""

    def __init__(self, name: str, where: str, distance: float, tau: float, others: int):
        shots = f"{others} shot" if others == 1 else f"{others} shots"
        super().__init__(f"The face in {where} does not match {name}'s {shots} (d = {distance:.2f} > τ {tau:.2f}).")
        self.name, self.where, self.distance, self.tau = name, where, distance, tau


class ModelUnavailable(LikenessError):
    """A model file is missing or damaged, or no runtime can run it."""


class EncoderMismatch(LikenessError):
    """Embeddings of different encoders must never be compared."""


class SettingsError(LikenessError):
    """A setting is out of range or of the wrong type."""


class CameraLost(LikenessError):
    """The camera stopped delivering frames."""


class GalleryError(LikenessError):
    """The gallery file cannot be read or written."""


class DeletedButReadElsewhere(GalleryError):
    """A deletion is done, but another program still reads the old version of the file: the freed pages are
    overwritten once it lets go. `names`: every name the deleted person had."""

    def __init__(self, message: str, names: tuple[str, ...] = ()):
        super().__init__(message)
        self.names = names


class Cancelled(LikenessError):
    """Long work stopped because the user asked."""


class DeliveryError(LikenessError):
    """An event could not be handed to a broker or a webhook; the outbox keeps it and tries again."""
