"""An experiment's settings from one execution of its config file, with flags on top."""

import pytest

from effnet.experiments.grid_search import SearchConfig
from effnet.experiments.settings import base_for, load_experiment, with_flags
from effnet.experiments.study import StudyConfig
from effnet.train import TrainConfig
from tests.experiments.tiny import executions, tiny_base, write_config

STUDY_GETTER = """
from effnet.experiments.study import StudyConfig


def get_study():
    return StudyConfig(phis=(2.0,), seeds=2)
"""


def test_one_execution_gives_the_training_config_and_the_settings(tmp_path):
    config = write_config(tmp_path / "exp.py", STUDY_GETTER)
    cfg, study = load_experiment(config, ["epochs=3"], "get_study", StudyConfig)
    assert executions(config) == 1
    assert isinstance(cfg, TrainConfig) and cfg.epochs == 3
    assert study == StudyConfig(phis=(2.0,), seeds=2)


def test_a_file_without_the_getter_gives_the_settings_defaults(tmp_path):
    config = write_config(tmp_path / "plain.py")
    assert load_experiment(config, None, "get_study", StudyConfig)[1] == StudyConfig()
    assert executions(config) == 1


def test_the_getter_must_return_the_settings_type(tmp_path):
    config = write_config(tmp_path / "wrong.py", STUDY_GETTER)
    with pytest.raises(ValueError, match=r"get_study\(\) returned StudyConfig, not SearchConfig"):
        load_experiment(config, None, "get_study", SearchConfig)


def test_flags_replace_only_the_fields_given():
    file_values = StudyConfig(phis=(2.0,), seeds=2, alpha=1.3)
    assert with_flags(file_values, phis=None, seeds=None, alpha=None) == file_values
    changed = with_flags(file_values, seeds=5, alpha=None, base="efficientnet_b1")
    assert changed == StudyConfig(phis=(2.0,), seeds=5, alpha=1.3, base="efficientnet_b1")
    with pytest.raises(TypeError):
        with_flags(file_values, no_such_field=1)


def test_base_is_the_named_network_or_the_configs_model_at_the_configs_size(tmp_path):
    cfg = TrainConfig(model="efficientnet_b0", image_size=56)
    assert base_for(cfg).name == "efficientnet_b0" and base_for(cfg).resolution == 56
    assert base_for(cfg.replace(image_size=None)).resolution == 224
    spec_file = tmp_path / "tiny.json"
    spec_file.write_text(tiny_base().to_json())
    assert base_for(cfg, spec_file) == tiny_base().replace(resolution=56)
