"""Config: the YAML file and the dataclass defaults agree; bad keys and values are refused."""

from pathlib import Path

import pytest

from sleepspindles.config import Config, config_to_dict, load_config
from sleepspindles.errors import ConfigError, SleepSpindlesError

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_default_yaml_equals_dataclass_defaults():
    assert config_to_dict(load_config(DEFAULT_YAML)) == config_to_dict(Config())


def test_partial_file_overrides_only_its_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("detection:\n  stages: [N2]\n  thresh_rms: null\n")
    cfg = load_config(path)
    assert cfg.detection.stages == ("N2",)
    assert cfg.detection.thresh_rms is None
    assert cfg.detection.freq_sp == Config().detection.freq_sp


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("detection:\n  stagez: [N2]\n", "'detection.stagez'"),
        ("detektion:\n  stages: [N2]\n", "'detektion'"),
        ("detection:\n  n_jobs: two\n", "The 'detection.n_jobs' parameter must be an integer; got 'two'"),
        ("detection:\n  freq_sp: [15, 12]\n", "detection.freq_sp"),
        ("detection:\n  method: magic\n", "detection.method"),
        ("load:\n  reference: left-ear\n", "load.reference"),
        ("- just\n- a list\n", "mapping"),
        ("detection: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    assert isinstance(info.value, SleepSpindlesError)


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"detection:\n  method: a7  # \xe9\n", "not UTF-8 text (byte 0xe9 at position 27)"),
        (b"detection: [unclosed\n", "not valid YAML (line 2, column 1: expected ',' or ']', but got '<stream end>')"),
    ],
)
def test_unreadable_config_is_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {problem}"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_and_replace():
    cfg = load_config(overrides={"detection": {"stages": "N2,N3", "n_jobs": 2}})
    assert cfg.detection.stages == ("N2", "N3") and cfg.detection.n_jobs == 2
    other = cfg.replace("detection", thresh_corr=None)
    assert other.detection.thresh_corr is None and other.detection.n_jobs == 2
    with pytest.raises(ConfigError):
        cfg.replace("detection", n_jobs=0)
