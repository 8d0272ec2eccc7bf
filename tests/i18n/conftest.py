import pytest

from tests.i18n.catalogs import compile_translations


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations() -> None:
    compile_translations()
