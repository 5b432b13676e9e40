"""Shared helpers of our own tests."""

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "topologies"


@pytest.fixture
def reference_data():
    """The reference topology as plain data, to mutate into bad inputs."""
    return copy.deepcopy(yaml.safe_load((TOPOLOGIES / "reference.yaml").read_text()))
