"""Lazy exports: a name is imported from its module the first time it is read, not before; an
unknown name is the usual AttributeError; dir() lists the exports."""

import sys

import pytest


@pytest.fixture
def package(tmp_path, monkeypatch):
    """``lazypkg`` exporting ``VALUE`` from ``lazypkg.heavy``, which records that it was loaded."""
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "from effnet.lazy import lazy_exports\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'VALUE': 'heavy'})\n"
    )
    (root / "heavy.py").write_text("import sys\nsys.modules['lazypkg'].LOADED = True\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [n for n in sys.modules if n.startswith("lazypkg")]:
        del sys.modules[name]


def test_a_name_is_imported_when_first_read(package):
    import lazypkg

    assert "lazypkg.heavy" not in sys.modules and not hasattr(lazypkg, "LOADED")
    assert "VALUE" in dir(lazypkg)
    assert lazypkg.VALUE == 42 and lazypkg.LOADED
    from lazypkg import VALUE

    assert VALUE == 42


def test_an_unknown_name_is_an_attribute_error_naming_the_package(package):
    import lazypkg

    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'other'"):
        lazypkg.other  # noqa: B018
    assert "lazypkg.heavy" not in sys.modules
