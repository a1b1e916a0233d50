"""The xdist work units of ``make test``: only the tests that use the one end-to-end smoke run share a
worker with it; the other tests of the same modules are free to run on the other worker."""

from __future__ import annotations

from pathlib import Path

from conftest import SHARED_RUN_SCOPE, shared_run_scope, shared_run_tests


def test_shared_run_tests_follow_fixtures_to_the_smoke_run(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "@pytest.fixture(scope='session')\ndef smoke_runs(tmp_path_factory):\n    return 1\n"
        "@pytest.fixture\ndef smoke_baselines(smoke_runs):\n    return 2\n"
        "@pytest.fixture\ndef cheap():\n    return 3\n")
    (tmp_path / "test_a.py").write_text(
        "import pytest\n"
        "@pytest.fixture(scope='module')\ndef published(smoke_baselines):\n    return 4\n"
        "@pytest.fixture\ndef derived(published, cheap):\n    return 5\n"
        "def test_direct(smoke_runs):\n    pass\n"
        "def test_through_two_fixtures(derived):\n    pass\n"
        "@pytest.mark.usefixtures('smoke_runs')\ndef test_marked():\n    pass\n"
        "@pytest.mark.parametrize('x', [1, 2])\ndef test_alone(x, cheap):\n    pass\n")
    (tmp_path / "test_b.py").write_text(  # the name appears where no signature shows it: the whole file
        "def test_dynamic(request):\n    request.getfixturevalue('smoke_runs')\n"
        "def test_other():\n    pass\n")
    (tmp_path / "test_c.py").write_text("def test_unrelated(cheap):\n    pass\n")

    shared = shared_run_tests(tmp_path)
    assert shared == {"test_a.py": {"test_direct", "test_through_two_fixtures", "test_marked"}, "test_b.py": None}
    assert shared_run_scope("tests/test_a.py::test_direct", shared) == SHARED_RUN_SCOPE
    assert shared_run_scope("tests/test_a.py::test_through_two_fixtures", shared) == SHARED_RUN_SCOPE
    assert shared_run_scope("tests/test_a.py::test_alone[1]", shared) == "tests/test_a.py"
    assert shared_run_scope("tests/test_b.py::test_other", shared) == SHARED_RUN_SCOPE
    assert shared_run_scope("tests/test_c.py::test_unrelated", shared) == "tests/test_c.py"


def test_this_suites_shared_unit_holds_only_tests_that_need_the_run():
    shared = shared_run_tests(Path(__file__).parent)
    assert "test_gains_are_paired_on_the_same_real_subsets" in shared["test_utility.py"]
    assert "test_unknown_budget_is_refused" not in shared["test_utility.py"]  # runs beside the smoke run
    assert shared["test_e2e.py"] and all(v is not None for v in shared.values())
