from __future__ import annotations

import pytest

from garrison.detect.sigma.load import load_rules
from tests.conftest import DATA


@pytest.fixture(scope="session")
def sigma_rules():
    """Every SigmaHQ rule set in ../shared/data/sigma, loaded once."""
    d = DATA / "sigma"
    return load_rules([d / "rules", d / "rules-emerging-threats", d / "rules-threat-hunting", d / "rules-placeholder"])
