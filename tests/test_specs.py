"""Specs: shipped files parse; typos, unknown names and bad values are one clear error."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.specs import list_models, list_suites, list_tasks, load_model, load_suite


def test_shipped_specs_parse():
    assert "smoke" in list_suites()
    for name in list_suites():
        load_suite(name)
    for name in list_models():
        load_model(name)
    assert set(list_tasks()) >= set(load_suite("smoke").tasks)


def test_unknown_suite_names_known_ones():
    with pytest.raises(BenchError) as exc:
        load_suite("smok")
    assert "unknown suite 'smok'" in str(exc.value) and "smoke" in str(exc.value)


def test_toml_typo_names_file_and_key(spec_home):
    path = spec_home / "tasks" / "smoke.toml"
    path.write_text(path.read_text().replace("n_per_prompt", "n_per_promt"))
    with pytest.raises(BenchError) as exc:
        load_suite("smoke")
    msg = str(exc.value)
    assert "smoke.toml" in msg and "n_per_promt" in msg and "n_per_prompt" in msg


def test_toml_syntax_error(spec_home):
    path = spec_home / "tasks" / "smoke.toml"
    path.write_text(path.read_text() + "\n[broken\n")
    with pytest.raises(BenchError, match="not valid TOML"):
        load_suite("smoke")


def test_bad_value_and_choice(spec_home):
    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text()
    path.write_text(text.replace('source = "embedded"', 'source = "s3"'))
    with pytest.raises(BenchError, match="allowed values: embedded, medmnist, folder"):
        load_suite("smoke")
    path.write_text(text.replace("n_per_prompt = 20", "n_per_prompt = -3"))
    with pytest.raises(BenchError, match="n_per_prompt"):
        load_suite("smoke")
    path.write_text(text.replace("n_per_prompt = 20", 'n_per_prompt = "many"'))
    with pytest.raises(BenchError, match="must be int"):
        load_suite("smoke")


def test_unknown_model_in_suite(spec_home):
    path = spec_home / "tasks" / "smoke.toml"
    path.write_text(path.read_text().replace('models = ["holdout"', 'models = ["hold-out"'))
    with pytest.raises(BenchError) as exc:
        load_suite("smoke")
    assert "unknown model 'hold-out'" in str(exc.value) and "holdout" in str(exc.value)


def test_unknown_generator_kind_and_param(spec_home):
    path = spec_home / "models" / "memoriser.toml"
    path.write_text(path.read_text().replace("sigma = 2.0", "sigmaa = 2.0"))
    with pytest.raises(BenchError, match="unknown key 'sigmaa'.*"):
        load_model("memoriser")
    (spec_home / "models" / "weird.toml").write_text('name = "weird"\nkind = "gan"\n')
    with pytest.raises(BenchError, match="unknown generator kind 'gan'"):
        load_model("weird")


def test_adding_a_model_is_a_toml_file(spec_home):
    (spec_home / "models" / "memoriser-heavy.toml").write_text(
        'name = "memoriser-heavy"\nkind = "memoriser"\n[params]\nsigma = 8.0\n')
    spec = load_model("memoriser-heavy")
    assert spec.params == {"sigma": 8.0}


def test_suite_changes_its_reference_recipe(spec_home):
    from bench.recipes import ReferenceRecipe
    from bench.specs import reference_recipe

    small = load_suite("small")
    recipe, base = reference_recipe(small), ReferenceRecipe.for_profile("cpu")
    assert recipe.classifier.steps == 1500 and recipe.clip.steps == 1500 and recipe.clip.warmup_steps == 100
    assert recipe.classifier.arch == base.classifier.arch and recipe.clip.embed_dim == base.clip.embed_dim
    smoke = reference_recipe(load_suite("smoke"))  # no recipe table: the profile's recipe
    assert (smoke.classifier, smoke.clip) == (base.classifier, base.clip) and set(smoke.pinned) == {"classifier", "clip"}

    path = spec_home / "tasks" / "small.toml"
    text = path.read_text()
    path.write_text(text.replace("[reference.classifier]\nsteps = 1500", "[reference.classifier]\nstepz = 1500"))
    with pytest.raises(BenchError, match="unknown key 'stepz'") as exc:
        load_suite("small")
    assert "small.toml" in str(exc.value) and "reference.classifier" in str(exc.value)
    path.write_text(text + "\n[reference.vae]\nsteps = 3\n")
    with pytest.raises(BenchError, match=r"unknown table \[reference.vae\]"):
        load_suite("small")
