"""Settings from initializationOptions and workspace/didChangeConfiguration."""

from __future__ import annotations

import pytest

from assistant.errors import CoveError
from lsp.settings import Settings


def test_camel_case_keys_update_the_matching_fields():
    settings = Settings().updated({"maxTokens": 16, "timeBudgetMs": 300, "multiline": False})
    assert (settings.max_tokens, settings.time_budget_ms, settings.multiline) == (16, 300, False)


def test_a_nested_cove_section_is_unwrapped():
    assert Settings().updated({"cove": {"prefixTokens": 100}}).prefix_tokens == 100


def test_unset_fields_keep_their_values():
    settings = Settings().updated({"maxTokens": 16}).updated({"timeBudgetMs": 300})
    assert settings.max_tokens == 16


def test_trigger_characters_become_a_tuple():
    assert Settings().updated({"triggerCharacters": ["."]}).trigger_characters == (".",)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"maxTokenz": 3}, "maxTokenz"),
        ({"maxTokens": "many"}, "maxTokens"),
        ({"maxTokens": True}, "maxTokens"),
        ({"maxTokens": 0}, "maxTokens"),
        ({"backend": "cloud"}, "backend"),
        ({"backend": "remote", "remoteUrl": "gpu-box:8080"}, "remoteUrl"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(options, named):
    with pytest.raises(CoveError, match=named):
        Settings().updated(options)


def test_a_non_object_is_refused():
    with pytest.raises(CoveError, match="JSON object"):
        Settings().updated(["maxTokens"])


def test_min_confidence_takes_a_number_between_0_and_1():
    assert Settings().updated({"minConfidence": 0.5}).min_confidence == 0.5
    assert Settings().updated({"minConfidence": 0}).min_confidence == 0.0
    with pytest.raises(CoveError, match="minConfidence"):
        Settings().updated({"minConfidence": 1.5})
    with pytest.raises(CoveError, match="minConfidence"):
        Settings().updated({"minConfidence": True})


def test_min_confidence_new_name_takes_a_number_between_0_and_1():
    assert Settings().updated({"minConfidenceNewName": 0}).min_confidence_new_name == 0.0
    with pytest.raises(CoveError, match="minConfidenceNewName=-0.1 must be between 0 and 1"):
        Settings().updated({"minConfidenceNewName": -0.1})


def test_a_null_min_confidence_means_the_models_own_gate():
    assert Settings().min_confidence is None
    assert Settings().updated({"minConfidence": 0.4}).updated({"minConfidence": None}).min_confidence is None
