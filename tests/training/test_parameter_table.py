"""The parameter table of docs/configuration.md states what agents/parameters.py and config.json hold:
every parameter of the agents' classes, each class default, and each shipped preset's value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agents.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["parameter", "agents", "meaning", "default", "DQN", "AC", "PG", "Generalist"]
AGENT_OF_COLUMN = {"DQN": "DQN_Agent", "AC": "AC_Agent", "PG": "PG_Agent", "Generalist": "DQN_Agent"}
NOT_SET = "—"
UNSET = object()  # a cell of "—"


def cells(line: str) -> list[str]:
    """The cells of one Markdown table row; `\\|` is a pipe inside a cell."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def value(cell: str) -> Any:
    """A value cell: "—", or a JSON value in backticks (`1000` an int, `1.0` a float, `null`)."""
    if cell == NOT_SET:
        return UNSET
    match = re.fullmatch(r"`([^`]*)`", cell)
    assert match, f"a value cell is `JSON` or {NOT_SET}, got {cell!r}"
    return json.loads(match.group(1))


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type: 1000 (episodes) is not 1000.0 (a fraction), true is not 1."""
    return type(a) is type(b) and a == b


def readme_table() -> dict[str, dict[str, Any]]:
    lines = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and cells(line) == HEADER]
    assert len(starts) == 1, f"docs/configuration.md needs exactly one table with the columns {' | '.join(HEADER)}"
    rows: dict[str, dict[str, Any]] = {}
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        row = dict(zip(HEADER, cells(line), strict=True))
        name = re.fullmatch(r"`(\w+)`", row["parameter"])
        assert name, f"a parameter cell is one `name`, got {row['parameter']!r}"
        assert name.group(1) not in rows, f"{name.group(1)} has two rows"
        rows[name.group(1)] = row
    return rows


def agents_of(row: dict[str, Any]) -> set[str]:
    """The agent classes of the row's agents column ("all", or a list such as "AC, PG")."""
    if row["agents"] == "all":
        return set(PARAMETERS)
    return {AGENT_OF_COLUMN[short.strip()] for short in row["agents"].split(",")}


def taken(agent: str) -> set[str]:
    """The parameters an agent takes: its class's fields, less those it accepts and ignores."""
    parameter_class = PARAMETERS[agent]
    return set(parameter_class.model_fields) - set(parameter_class.ignored)


def shipped_presets() -> dict[str, dict[str, Any]]:
    return json.loads((ROOT / "config.json").read_text(encoding="utf-8"))["presets"]


TABLE = readme_table()


def test_table_lists_exactly_the_parameters_of_the_classes():
    fields = set().union(*(taken(agent) for agent in PARAMETERS))
    assert set(TABLE) == fields, (f"missing from docs/configuration.md: {sorted(fields - set(TABLE))}; "
                                  f"not a parameter: {sorted(set(TABLE) - fields)}")


@pytest.mark.parametrize("name", sorted(TABLE))
def test_agents_column_names_the_classes_that_take_the_parameter(name):
    assert agents_of(TABLE[name]) == {agent for agent in PARAMETERS if name in taken(agent)}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_default_is_the_class_default(name):
    stated = value(TABLE[name]["default"])
    for agent in sorted(agents_of(TABLE[name])):
        default = PARAMETERS[agent].model_fields[name].default
        assert same(stated, default), (f"{name}: docs/configuration.md says {stated!r}, "
                                       f"{PARAMETERS[agent].__name__} has {default!r}")


@pytest.mark.parametrize("column", sorted(AGENT_OF_COLUMN))
def test_preset_column_is_what_config_json_sets(column):
    preset = shipped_presets()[column]
    assert preset["agent"] == AGENT_OF_COLUMN[column]
    parameters = preset.get("parameters", {})
    for name, row in TABLE.items():
        stated = value(row[column])
        where = f"docs/configuration.md's {column} column, {name}"
        if name in parameters and name in taken(preset["agent"]):
            assert same(stated, parameters[name]), f"{where}: {row[column]}, config.json {parameters[name]!r}"
        else:
            assert stated is UNSET, f"{where}: {row[column]}, config.json does not set it for the agent"


def test_config_json_sets_only_parameters_of_its_agents_class():
    presets = shipped_presets()
    assert set(presets) == set(AGENT_OF_COLUMN), "docs/configuration.md has one column per shipped preset"
    for name, preset in presets.items():
        unknown = set(preset.get("parameters", {})) - set(PARAMETERS[preset["agent"]].model_fields)
        assert not unknown, f"config.json preset {name} sets {sorted(unknown)}, not fields of {preset['agent']}"


def test_readme_names_the_keys_pg_ignores():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    note = text[text.index("PG presets may carry the DQN keys"):].split("\n\n")[0]
    for name in PARAMETERS["PG_Agent"].ignored:
        assert f"`{name}`" in note, f"docs/configuration.md's note on PG's ignored keys does not name {name}"
