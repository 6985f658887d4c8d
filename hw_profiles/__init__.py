"""Board profiles as data: one TOML per board. This package only locates them (no code per board)."""

from pathlib import Path

PROFILE_DIR = Path(__file__).resolve().parent


def profile_paths() -> list[Path]:
    """Return the shipped board profiles, sorted by file name."""
    return sorted(PROFILE_DIR.glob("*.toml"))


__all__ = ["PROFILE_DIR", "profile_paths"]
