"""The project's own error types. Every user-facing failure is one of these, with a one-line message."""


class LrcnError(Exception):
    """Base class: a failure the CLI reports as one line and a non-zero exit."""


class VideoError(LrcnError):
    """A video that cannot be opened or decoded. The message names the file and the problem."""


class ModelError(LrcnError):
    """A model file that is not a usable lrcn model."""


class SourceError(LrcnError):
    """A live source (camera, URL) that cannot be opened or has stopped for good."""
