"""Fixtures: the packaged registry, the shipped rules and channels, a fresh engine."""

from __future__ import annotations

import pytest

from alerts import AlertEngine, load_channels, load_rules
from schemas.registry import Registry, load_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="session")
def rules(registry):
    return load_rules(registry)


@pytest.fixture(scope="session")
def channels():
    return load_channels()


@pytest.fixture
def engine(registry, rules, channels) -> AlertEngine:
    return AlertEngine(registry, rules, channels)
