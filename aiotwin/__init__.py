"""aiotwin core: what every role shares (wire types, config, errors, models, scenes)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
