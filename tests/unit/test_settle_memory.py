"""The server process exempts what it holds after its start from the cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from familienkarte import app as app_module
from familienkarte.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_server_entry_point_freezes_what_it_built(
    unfrozen: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import make_test_settings

    settings: Settings = make_test_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'fk.db'}")
    monkeypatch.setattr(app_module, "load_settings", lambda: settings)
    monkeypatch.setattr("familienkarte.logs.configure_logging", lambda level, form: None)
    assert gc.get_freeze_count() == 0
    built = app_module.app_from_environment()
    assert gc.get_freeze_count() > 0
    # The app itself is among the frozen objects: a full collection no longer walks it.
    assert gc.is_tracked(built)
    assert not any(built is tracked for tracked in gc.get_objects(generation=2))
