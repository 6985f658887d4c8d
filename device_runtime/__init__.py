"""The camera node runtime (``aiotwin-device``)."""

__all__: list[str] = []
