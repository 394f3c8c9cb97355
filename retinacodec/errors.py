"""The one exception type for bad input."""


class RetinaCodecError(ValueError):
    """Raised for any user mistake: wrong shapes, dims, units, NaNs, missing or corrupt files,
    unknown names. The message says what was wrong and what was expected; the CLI prints it as one
    line and exits with status 2."""
