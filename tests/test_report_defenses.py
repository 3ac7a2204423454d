"""Defenses in campaign files and the report's defenses table.

A campaign's ``defenses`` key adds ``<backend>+<defense>`` backends and an adaptive copy of each
transfer attack (oracle ``float+<defense>``), checked with file and line; the defenses table is
built from the records of a real tiny campaign (the float model and the engine, a real defense).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from host.errors import UserError
from host.run.spec import load_campaign

DEFENDED = """name = "d"
models = ["cifar10-resnet8"]
backends = ["float", "engine-int8", "device-int8"]
defenses = ["bits5", "median2"]

[sample]
n = 4

[[attack]]
name = "pgd"
eps_steps = [1, 2]

[[attack]]
name = "square-linf"
mode = "direct"
oracle = "engine-int8"
eps_steps = [2]

[[attack]]
name = "autoattack"
eps = [0.03]
adaptive = false
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "d.toml"
    path.write_text(text)
    return load_campaign(path)


def test_defenses_expand_backends_and_add_adaptive_copies(tmp_path) -> None:
    spec = _load(tmp_path, DEFENDED)
    assert spec.defenses == ("bits5", "median2")
    assert spec.backends == (
        *("float", "engine-int8", "device-int8"),
        *("float+bits5", "engine-int8+bits5", "float+median2", "engine-int8+median2"),
    )
    found = [(a.name, a.mode, a.oracle, a.line) for a in spec.attacks]
    assert found == [
        ("pgd", "transfer", None, 9),
        ("square-linf", "direct", "engine-int8", 13),
        ("autoattack", "transfer", None, 19),  # adaptive = false: no copy
        ("pgd", "transfer", "float+bits5", 9),
        ("pgd", "transfer", "float+median2", 9),
    ]
    assert spec.as_dict()["defenses"] == ["bits5", "median2"]
    plain = _load(tmp_path, DEFENDED.replace('defenses = ["bits5", "median2"]\n', ""))
    assert plain.backends == ("float", "engine-int8", "device-int8") and len(plain.attacks) == 3


BAD = {
    "not a defense name": ('["bits5", "median2"]', '["bits5", "Median 2"]', "not a defense", 4),
    "defenses not strings": ('["bits5", "median2"]', '["bits5", 2]', "list of strings", 4),
    "adaptive not a boolean": ("adaptive = false", 'adaptive = "no"', "true or false", 22),
    "no float to adapt on": ('"float", "engine-int8"', '"engine-int8"', "add float", 4),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_defenses_name_file_and_line(case, tmp_path) -> None:
    old, new, message, line = BAD[case]
    text = DEFENDED.replace(old, new, 1)
    assert text != DEFENDED
    with pytest.raises(UserError) as raised:
        _load(tmp_path, text)
    assert str(raised.value).startswith(f"{tmp_path / 'd.toml'}:{line}: "), raised.value
    assert message in str(raised.value)
