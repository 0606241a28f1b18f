"""Reading configuration files: every problem names the file, the field (or line) and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from axiom.admin.apply_config import ConfigFileError, load_config_file

EXAMPLES = Path(__file__).resolve().parents[3] / "rules" / "examples"

VALID = """\
destinations:
  - name: pacs
    type: cstore
    host: 127.0.0.1
    port: 4242
    ae_title: ORTHANC
rulesets:
  - name: clinical
    rules:
      - name: ct
        when: {tag: Modality, equals: CT}
        destinations: [pacs]
"""


def _error(tmp_path: Path, text: str) -> ConfigFileError:
    path = tmp_path / "axiom.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(path)
    return caught.value


@pytest.mark.parametrize("name", ["default.yaml", "routing-example.yaml"])
def test_shipped_examples_load(name: str) -> None:
    config = load_config_file(EXAMPLES / name)
    assert config.destinations and config.rulesets


def test_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    config = load_config_file(path)
    assert [d.name for d in config.destinations] == ["pacs"]
    assert config.rulesets[0].rules[0].destinations == ["pacs"]


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    config = load_config_file(path)
    assert (config.destinations, config.rulesets, config.source) == ([], [], str(path))


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    error = _error(tmp_path, "destinations:\n  - name: pacs\n    type: [cstore\n")
    message = str(error)
    assert message.startswith(f"{tmp_path / 'axiom.yaml'}: line ")
    assert "column" in message and "YAML syntax error" in message
    line = int(message.split("line ")[1].split(",")[0])
    assert line in (3, 4)


def test_repeated_yaml_key_is_an_error(tmp_path: Path) -> None:
    message = str(_error(tmp_path, "destinations: []\nrulesets: []\ndestinations: []\n"))
    assert "line 3, column 1" in message
    assert "'destinations' appears more than once" in message


def test_invalid_regex_names_its_field(tmp_path: Path) -> None:
    text = VALID + "      - name: broken\n        when: {tag: StudyDescription, regex: '(unclosed'}\n"
    error = _error(tmp_path, text)
    assert str(error) == (
        f"{tmp_path / 'axiom.yaml'}: rulesets[0].rules[1].when.regex: invalid regular expression: "
        "missing ), unterminated subpattern at position 0"
    )
    assert error.problems == [
        (
            "rulesets[0].rules[1].when.regex",
            "invalid regular expression: missing ), unterminated subpattern at position 0",
        )
    ]


def test_destination_errors_name_each_field(tmp_path: Path) -> None:
    text = """\
destinations:
  - {name: pacs, type: cstore, host: 127.0.0.1, port: 70000, ae_title: PACS}
  - {name: arch, type: filesystem, colour: blue}
  - {name: peer, type: cstore}
  - {name: cloud, type: ftp}
  - {name: bucket, type: gcs}
"""
    problems = dict(_error(tmp_path, text).problems)
    assert problems["destinations[0].port"] == "Input should be less than or equal to 65535"
    assert problems["destinations[1].colour"] == "Extra inputs are not permitted"
    assert problems["destinations[2].host"] == "Field required"
    # The registry's answer, not a closed union's: a kind installed as a plugin would be accepted.
    assert problems["destinations[3].type"].startswith("unknown destination type 'ftp'")
    assert problems["destinations[4].bucket"] == "Field required"


def test_unknown_top_level_key_and_wrong_shape(tmp_path: Path) -> None:
    assert dict(_error(tmp_path, "destinatons: []\n").problems) == {
        "destinatons": "Extra inputs are not permitted"
    }
    message = str(_error(tmp_path, "- just\n- a list\n"))
    assert "top level must be a mapping" in message


def test_duplicate_names_are_reported_by_path(tmp_path: Path) -> None:
    text = """\
destinations:
  - {name: pacs, type: filesystem}
  - {name: pacs, type: filesystem, root: /elsewhere}
rulesets:
  - {name: clinical, rules: []}
  - {name: clinical, rules: []}
"""
    message = str(_error(tmp_path, text))
    assert "destinations[1].name: destination name 'pacs' is used more than once" in message
    assert "rulesets[1].name: ruleset name 'clinical' is used more than once" in message


def test_errors_never_echo_values(tmp_path: Path) -> None:
    # A rule may name a patient; the error names the field and the rule's tag, never the value.
    text = VALID + "      - name: vip\n        when: {tag: PatientName, equals: DOE^JOHN, regex: DOE}\n"
    message = str(_error(tmp_path, text))
    assert "rulesets[0].rules[1].when" in message and "exactly one operator" in message
    assert "DOE" not in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(tmp_path / "missing.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'missing.yaml'}: cannot read the file")


def test_unknown_kind_gets_the_registry_did_you_mean(tmp_path: Path) -> None:
    text = (
        "destinations:\n  - {name: b, type: s3x, bucket: x}\n  - {name: c, type: cstor, host: h, port: 1}\n"
    )
    problems = dict(_error(tmp_path, text).problems)
    assert problems == {
        "destinations[0].type": "unknown destination type 's3x'; did you mean 's3'?",
        "destinations[1].type": "unknown destination type 'cstor'; did you mean 'cstore'?",
    }
