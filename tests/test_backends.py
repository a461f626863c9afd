"""Says, in the test report, whether the PostgreSQL half of the data-layer suite ran."""
import pytest

from tests.conftest import BACKENDS, REQUIRE_PG


def test_postgresql_suite_is_on_or_said_to_be_skipped():
    if "postgresql" not in BACKENDS:
        assert not REQUIRE_PG
        pytest.skip("PostgreSQL suite skipped: set TEST_DATABASE_URL=postgresql+psycopg://… to run it")
    assert BACKENDS == ["sqlite", "postgresql"]
