"""The one exception type for user-facing errors.

Library code raises :class:`VidstyleError` with a message that says what went
wrong, which file, and what to do; the CLI prints it as one line on stderr and
exits non-zero without a traceback.
"""

from __future__ import annotations


class VidstyleError(Exception):
    """A problem the user can fix (bad input, missing weights, existing output...)."""


class WeightsError(VidstyleError):
    """Weights are missing, corrupt, or do not match the expected architecture."""


class MediaError(VidstyleError):
    """An input could not be decoded or an output could not be written."""
