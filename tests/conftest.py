"""The fixtures every test can take, registered from tests/support/ (which any test or
benchmark may also import; nothing imports this file).

Every storage test runs on SQLite and on a real PostgreSQL server (tests.support.databases).
"""

pytest_plugins = [
    "tests.support.databases",
    "tests.support.registry_fixtures",
    "tests.support.web_sites",
]
