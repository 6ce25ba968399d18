import pytest

from microdl.data.catalog import Catalog, default_catalog_path
from microdl.exceptions import InvalidParameterError


def test_catalog_location_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MICRODL_CATALOG", str(tmp_path / "c.sqlite"))
    assert default_catalog_path() == tmp_path / "c.sqlite"
    monkeypatch.delenv("MICRODL_CATALOG")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_catalog_path() == tmp_path / "xdg" / "microdl" / "catalog.sqlite"


def test_record_list_get_update(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    a = cat.record("dataset", "gnd-lines", config={"n": 1}, seed=0, path=tmp_path / "a.h5",
                   checksum="abc", metrics={"pearson": 0.9})
    b = cat.record("run", "train", config={"ratio": 0.5}, seed=1, status="running")
    assert [e.id for e in cat.list("dataset")] == [a]
    assert {e.id for e in cat.list()} == {a, b}
    e = cat.get(a[:6])
    assert e.config == {"n": 1} and e.metrics == {"pearson": 0.9} and e.checksum == "abc"
    assert e.environment["microdl_version"]
    cat.update(b, status="done", metrics={"loss": 0.1})
    assert cat.get(b).status == "done" and cat.get(b).metrics == {"loss": 0.1}


def test_errors_name_the_problem(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    with pytest.raises(InvalidParameterError, match="kind"):
        cat.record("model", "x", config={})
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.get("ffff")
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.update("ffff", status="done")
