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
    path.write_text("detection:\n  stages: [N2]\n  fast:\n    thresh_rms: null\n")
    cfg = load_config(path)
    assert cfg.detection.stages == ("N2",)
    assert cfg.detection.fast.thresh_rms is None
    assert cfg.detection.fast.thresh_corr == Config().detection.fast.thresh_corr
    assert cfg.detection.band == Config().detection.band


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("detection:\n  stagez: [N2]\n", "'detection.stagez'"),
        ("detektion:\n  stages: [N2]\n", "'detektion'"),
        ("detection:\n  n_jobs: two\n", "The 'detection.n_jobs' parameter must be an integer; got 'two'"),
        ("detection:\n  band: [15, 12]\n", "detection.band"),
        ("detection:\n  a7:\n    baseline: 0\n", "detection.a7.baseline"),
        ("detection:\n  a7:\n    thresh_corr_a7: 0.6\n", "'detection.a7.thresh_corr_a7'"),
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
    other = cfg.replace("detection", fast={"thresh_corr": None})
    assert other.detection.fast.thresh_corr is None and other.detection.n_jobs == 2
    assert other.detection.fast.thresh_rms == cfg.detection.fast.thresh_rms  # the rest of fast kept
    with pytest.raises(ConfigError):
        cfg.replace("detection", n_jobs=0)


@pytest.mark.parametrize(
    "section, key, new",
    [
        ("detection", "freq_sp", "detection.band"),
        ("detection", "a7_band", "detection.band"),
        ("laterality", "sigma_band", "detection.band"),
        ("detection", "freq_broad", "detection.broadband"),
        ("detection", "a7_duration", "detection.duration"),
        ("detection", "thresh_rms", "detection.fast.thresh_rms"),
        ("detection", "min_distance", "detection.fast.min_distance"),
        ("detection", "thresh_corr_a7", "detection.a7.thresh_corr"),
        ("detection", "a7_baseline", "detection.a7.baseline"),
    ],
)
def test_a_key_of_an_earlier_version_names_its_new_place(tmp_path, section, key, new):
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {key}: 1\n")
    with pytest.raises(ConfigError, match=rf"'{section}.{key}' has moved: use '{new}'"):
        load_config(path)


@pytest.mark.parametrize(("key", "value"), [("thresh_rel_pow", 2), ("thresh_corr", -0.1), ("thresh_rms", -1)])
def test_fast_thresholds_out_of_range_are_refused(key, value):
    with pytest.raises(ConfigError, match=rf"'detection.fast.{key}' parameter must be .*; got {float(value)}"):
        load_config(None, {"detection": {"method": "fast", "fast": {key: value}}})
    load_config(None, {"detection": {"fast": {key: None}}})  # null turns the criterion off


@pytest.mark.parametrize("key", ["detection.stages", "slow_oscillations.stages", "laterality.sigma_stages"])
def test_unknown_stage_names_are_refused_when_the_config_is_read_naming_the_key(key):
    section, name = key.split(".")
    with pytest.raises(ConfigError, match=rf"'{key}' parameter must be a non-empty list of stages .*'XX'"):
        load_config(None, {section: {name: ["N2", "XX"]}})
    with pytest.raises(ConfigError, match=rf"'{key}'"):
        load_config(None, {section: {name: []}})
    assert load_config(None, {section: {name: ["n2", "N3"]}})  # labels as the hypnogram reads them


def test_hypnogram_epoch_must_be_positive_seconds():
    with pytest.raises(ConfigError, match=r"'load.hypnogram_epoch' parameter must be a positive number of seconds"):
        load_config(None, {"load": {"hypnogram_epoch": 0}})
    assert load_config(None, {"load": {"hypnogram_epoch": 20}}).load.loader_options()["epoch_length"] == 20.0
