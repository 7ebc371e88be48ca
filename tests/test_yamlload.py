"""todo_infra/yamlload.py: libyaml's safe loader (fast), and as safe as yaml.safe_load."""

from __future__ import annotations

import pytest
import yaml

from todo_infra import yamlload

PYTHON_TAG = "!!python/object/apply:os.getcwd []"


def test_the_loader_is_libyamls_safe_loader() -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: every manifest is parsed by the pure-Python loader"
    assert yamlload.LOADER is yaml.CSafeLoader


def test_it_reads_what_safe_load_reads() -> None:
    text = "a: 1\nb: [x, 'y', 2.5, null, true]\nc: {d: 2026-12-08}\n---\n- e\n"
    assert list(yamlload.load_all(text)) == list(yaml.safe_load_all(text))
    assert yamlload.load("a: [1, 2]") == yaml.safe_load("a: [1, 2]")


@pytest.mark.parametrize("loader", [yamlload.LOADER, yaml.UnsafeLoader])
def test_seeded_a_python_tag_is_refused(loader: type) -> None:
    """Seeded: an unsafe loader would run the tag; the module's refuses it like safe_load."""
    if loader is yaml.UnsafeLoader:
        assert yaml.load(PYTHON_TAG, Loader=loader)  # the seeded failure: it runs os.getcwd
        return
    with pytest.raises(yaml.constructor.ConstructorError):
        yamlload.load(PYTHON_TAG)
