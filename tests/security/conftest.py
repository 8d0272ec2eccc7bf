"""The privacy suite runs for people as it runs for sessions (issue U)."""

import pytest

from tests.security import clients


@pytest.fixture(params=["sessions", "people"])
def identity(request, settings):
    """`sessions`: open mode, each browser its own session; `people`: accounts mode, each
    browser a different signed-in person."""
    people = request.param == "people"
    if people:
        settings.COMFYWEB_ACCESS = "accounts"
    clients.AS_PEOPLE[0] = people
    yield request.param
    clients.AS_PEOPLE[0] = False
