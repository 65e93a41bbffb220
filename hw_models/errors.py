"""The one error type of ``hw_models``: a bad preset file, override or value."""


class HardwareConfigError(ValueError):
    """An invalid preset file or override: ``file: [section] key: expected ..., got ...``."""
