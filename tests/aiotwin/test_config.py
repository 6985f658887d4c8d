from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin import ConfigError
from aiotwin.config import dump_dataclass, load_dataclass, load_toml, parse_toml


@dataclass(frozen=True)
class Cam:
    id: str
    line: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Cfg:
    name: str
    threads: int = 2
    ratio: float = 0.5
    mode: Literal["a", "b"] = "a"
    model_dir: Path | None = None
    cameras: list[Cam] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)


def load(text: str, base: Path | None = None) -> Cfg:
    return load_dataclass(Cfg, parse_toml(text, file="x.toml"), file="x.toml", text=text, base_dir=base)


def test_valid_config_with_kebab_keys_and_relative_paths(tmp_path):
    cfg = load('name = "n"\nmodel-dir = "m"\nratio = 1\n[[cameras]]\nid = "c"\nline = [0, 1, 2, 3]\n', tmp_path)
    assert cfg.model_dir == tmp_path / "m"
    assert cfg.ratio == 1.0
    assert cfg.cameras == [Cam("c", (0.0, 1.0, 2.0, 3.0))]


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('name = "n"\nthreads = "2"', "threads", "expected an integer"),
        ('name = "n"\nthreads = true', "threads", "expected an integer"),
        ('name = "n"\nmode = "c"', "mode", "expected one of"),
        ('name = "n"\nbogus = 1', "bogus", "unknown key"),
        ("threads = 1", "name", "required key missing"),
        ('name = "n"\n[[cameras]]\nid = "c"\nline = [1, 2]', "cameras[0]/line", "expected"),
        ('name = "n"\n[tags]\na = "x"', "tags/a", "expected an integer"),
    ],
)
def test_each_problem_names_key_and_reason(text, key, fragment):
    with pytest.raises(ConfigError) as info:
        load(text)
    assert any(p.key == key and fragment in p.message for p in info.value.problems), info.value


def test_all_errors_reported_at_once_with_lines():
    text = 'name = 1\nthreads = "x"\nextra = 2\n'
    with pytest.raises(ConfigError) as info:
        load(text)
    problems = {p.key: p for p in info.value.problems}
    assert set(problems) == {"name", "threads", "extra"}
    assert problems["threads"].line == 2
    assert "x.toml:2 threads" in str(info.value)


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "n"\nthreads = = 2\n')
    with pytest.raises(ConfigError) as info:
        load_toml(Cfg, path)
    assert info.value.problems[0].line == 2
    assert str(path) in str(info.value)


def test_unreadable_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_toml(Cfg, tmp_path / "missing.toml")


def test_dump_round_trip(tmp_path):
    cfg = load('name = "n"\nmodel-dir = "/m"\n[[cameras]]\nid = "c"\n')
    assert dump_dataclass(cfg)["model-dir"] == "/m"
    assert dump_dataclass(cfg)["cameras"] == [{"id": "c", "line": None}]


@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_config_error(text):
    try:
        load(text)
    except ConfigError:
        pass
