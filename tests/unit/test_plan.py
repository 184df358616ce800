from __future__ import annotations

import hashlib
import os
import re
import textwrap
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.plan import recipe as plan_mod
from devbox.plan.recipe import LayerRecipe, hash_inputs, lock_request, plan, workdir_of
from devbox.spec.load import parse_spec
from devbox.spec.model import DEFAULT_MIRROR, Spec

FULL = """\
[box]
name = "webapp"
base = "debian:bookworm"

[packages]
apt = ["git", "curl"]

[env]
DJANGO_SETTINGS_MODULE = "web.settings"

[setup]
run = ["pip install -r requirements.txt", "make"]
inputs = ["requirements.txt"]
"""


def make_spec(project: Path, text: str, files: dict[str, str] | None = None) -> Spec:
    project.mkdir(parents=True, exist_ok=True)
    if files is None:
        files = {"requirements.txt": "django==5.0\n"}
    for name, content in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(content)
    return parse_spec(textwrap.dedent(text), project / "devbox.toml")


def digests(layers: list[LayerRecipe]) -> dict[str, str]:
    return {layer.kind: layer.digest for layer in layers}


def full_digests(
    project: Path, text: str = FULL, files: dict[str, str] | None = None
) -> dict[str, str]:
    return digests(plan(make_spec(project, text, files)))


# -- shape ---------------------------------------------------------------------------------------


def test_full_spec_gives_base_apt_setup_chained_by_parent(tmp_path: Path) -> None:
    layers = plan(make_spec(tmp_path, FULL))
    assert [layer.kind for layer in layers] == ["debian", "apt", "setup"]
    assert layers[0].parent is None
    assert layers[1].parent == layers[0].digest
    assert layers[2].parent == layers[1].digest


def test_digests_are_sha256_hex_and_distinct(tmp_path: Path) -> None:
    found = list(full_digests(tmp_path).values())
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in found)
    assert len(set(found)) == 3


def test_recipes_and_titles(tmp_path: Path) -> None:
    req = "django==5.0\n"
    base, apt, setup = plan(make_spec(tmp_path, FULL, {"requirements.txt": req}))
    assert base.recipe == {"suite": "bookworm", "mirror": DEFAULT_MIRROR, "variant": "minbase"}
    assert base.title == "base debian:bookworm"
    assert apt.recipe == {"packages": ["curl", "git"]}  # sorted
    assert apt.title == "apt git curl"  # as written
    assert setup.recipe == {
        "run": ["pip install -r requirements.txt", "make"],
        "inputs": {"requirements.txt": hashlib.sha256(req.encode()).hexdigest()},
        "workdir": str(tmp_path),
    }
    assert setup.title == "setup (2 step(s))"


def test_no_apt_means_no_apt_layer(tmp_path: Path) -> None:
    text = FULL.replace('apt = ["git", "curl"]', "")
    layers = plan(make_spec(tmp_path, text))
    assert [layer.kind for layer in layers] == ["debian", "setup"]
    assert layers[1].parent == layers[0].digest


def test_no_setup_run_means_no_setup_layer(tmp_path: Path) -> None:
    text = FULL.replace('run = ["pip install -r requirements.txt", "make"]\n', "")
    layers = plan(make_spec(tmp_path, text))
    assert [layer.kind for layer in layers] == ["debian", "apt"]


def test_base_only(tmp_path: Path) -> None:
    layers = plan(make_spec(tmp_path, '[box]\nbase = "debian:sid"\n'))
    assert [layer.kind for layer in layers] == ["debian"]
    assert layers[0].recipe["suite"] == "sid"


# -- what changes which digest -------------------------------------------------------------------


def test_same_spec_gives_same_digests(tmp_path: Path) -> None:
    first = full_digests(tmp_path)
    assert full_digests(tmp_path) == first
    spec = make_spec(tmp_path, FULL)
    assert plan(spec) == plan(spec)


def test_env_changes_no_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    text = FULL.replace('"web.settings"', '"other.settings"\nPATH = "/x:${PATH}"')
    assert full_digests(tmp_path, text) == before
    assert full_digests(tmp_path, FULL.replace("[env]\n", "[env]\nNEW = '1'\n")) == before


def test_box_name_changes_no_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    assert full_digests(tmp_path, FULL.replace('name = "webapp"', 'name = "other"')) == before


def test_adding_an_apt_package_changes_apt_and_setup_not_base(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    after = full_digests(tmp_path, FULL.replace('"git", "curl"', '"git", "curl", "make"'))
    assert after["debian"] == before["debian"]
    assert after["apt"] != before["apt"]
    assert after["setup"] != before["setup"]


def test_reordering_apt_packages_changes_no_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    assert full_digests(tmp_path, FULL.replace('"git", "curl"', '"curl", "git"')) == before


def test_pinning_a_package_version_changes_apt_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    after = full_digests(tmp_path, FULL.replace('"git"', '"git=1:2.39.*"'))
    assert after["debian"] == before["debian"]
    assert after["apt"] != before["apt"]


def test_changing_the_mirror_changes_every_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    text = FULL.replace(
        'base = "debian:bookworm"', 'base = "debian:bookworm"\nmirror = "http://m/d"'
    )
    after = full_digests(tmp_path, text)
    assert all(after[kind] != before[kind] for kind in ("debian", "apt", "setup"))


def test_changing_the_suite_changes_every_digest(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    after = full_digests(tmp_path, FULL.replace("debian:bookworm", "debian:trixie"))
    assert all(after[kind] != before[kind] for kind in ("debian", "apt", "setup"))


def test_changing_a_setup_input_changes_only_setup(tmp_path: Path) -> None:
    before = full_digests(tmp_path, files={"requirements.txt": "django==5.0\n"})
    after = full_digests(tmp_path, files={"requirements.txt": "django==5.1\n"})
    assert after["debian"] == before["debian"]
    assert after["apt"] == before["apt"]
    assert after["setup"] != before["setup"]


def test_changing_a_setup_step_changes_only_setup(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    after = full_digests(tmp_path, FULL.replace('"make"', '"make all"'))
    assert (after["debian"], after["apt"]) == (before["debian"], before["apt"])
    assert after["setup"] != before["setup"]


def test_changing_the_workdir_changes_only_setup(tmp_path: Path) -> None:
    before = full_digests(tmp_path)
    after = full_digests(tmp_path, FULL + '\n[shell]\nworkdir = "/workspace"\n')
    assert (after["debian"], after["apt"]) == (before["debian"], before["apt"])
    assert after["setup"] != before["setup"]


def test_two_projects_with_the_same_spec_share_every_layer(tmp_path: Path) -> None:
    text = FULL + '\n[shell]\nworkdir = "/workspace"\n'
    assert full_digests(tmp_path / "a", text) == full_digests(tmp_path / "b", text)


def test_two_projects_share_base_and_apt_even_with_default_workdirs(tmp_path: Path) -> None:
    a = full_digests(tmp_path / "a")
    b = full_digests(tmp_path / "b")
    assert (a["debian"], a["apt"]) == (b["debian"], b["apt"])


def test_a_builder_version_bump_invalidates_its_layer_and_those_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = full_digests(tmp_path)
    monkeypatch.setitem(plan_mod.BUILDER_VERSIONS, "apt", plan_mod.BUILDER_VERSIONS["apt"] + 1)
    after = full_digests(tmp_path)
    assert after["debian"] == before["debian"]
    assert after["apt"] != before["apt"]
    assert after["setup"] != before["setup"]


IDMAPS = ["root", "single:1000:1000", "single:1000:1001", "sub:1000:1000:100000+100000"]


def test_the_uid_map_changes_every_digest(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL)
    root = digests(plan(spec, idmap="root"))
    single = digests(plan(spec, idmap="single:1000:1000"))
    assert root.keys() == single.keys() == {"debian", "apt", "setup"}
    for kind in root:
        assert root[kind] != single[kind], kind


def test_each_uid_map_gets_its_own_layers(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL)
    found = [d for idmap in IDMAPS for d in digests(plan(spec, idmap=idmap)).values()]
    assert len(set(found)) == len(IDMAPS) * 3


@pytest.mark.parametrize("idmap", IDMAPS)
def test_the_same_uid_map_gives_the_same_digests(tmp_path: Path, idmap: str) -> None:
    spec = make_spec(tmp_path, FULL)
    assert plan(spec, idmap=idmap) == plan(spec, idmap=idmap)
    again = make_spec(tmp_path / "again", FULL + '\n[shell]\nworkdir = "/w"\n')
    other = make_spec(tmp_path / "other", FULL + '\n[shell]\nworkdir = "/w"\n')
    assert digests(plan(again, idmap=idmap)) == digests(plan(other, idmap=idmap))


def test_the_default_uid_map_is_root(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL)
    assert plan(spec) == plan(spec, idmap="root")


def test_the_uid_map_changes_only_digests(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL)
    root, single = plan(spec, idmap="root"), plan(spec, idmap="single:1000:1000")
    for a, b in zip(root, single):
        assert (a.kind, a.recipe, a.title) == (b.kind, b.recipe, b.title)
    assert single[1].parent == single[0].digest
    assert single[2].parent == single[1].digest


def test_a_base_only_spec_depends_on_the_uid_map_too(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, '[box]\nname = "b"\nbase = "debian:sid"\n', files={})
    assert plan(spec, idmap="root")[0].digest != plan(spec, idmap="single:1000:1000")[0].digest


def test_given_input_hashes_are_used_instead_of_reading_files(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL, files={})  # requirements.txt does not exist
    setup = plan(spec, input_hashes={"requirements.txt": "0" * 64})[-1]
    assert setup.recipe["inputs"] == {"requirements.txt": "0" * 64}


# -- errors --------------------------------------------------------------------------------------


def test_an_oci_base_is_one_lockable_base_layer_named_by_its_reference(tmp_path: Path) -> None:
    ref = "localhost:5000/team/base:1"
    layers = plan(make_spec(tmp_path, f'[box]\nbase = "oci:{ref}"\n[packages]\napt = ["jq"]\n'))
    assert [layer.kind for layer in layers] == ["oci", "apt"]
    base = layers[0]
    assert base.recipe == {"ref": ref} and base.lockable and base.lock_section == "base"
    assert lock_request(base) == {"source": f"oci:{ref}"}
    other = plan(make_spec(tmp_path, '[box]\nbase = "oci:localhost:5000/team/base:2"\n'))
    assert other[0].digest != base.digest


def test_a_rootfs_base_is_keyed_by_the_tarball_content(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    tarball = tmp_path / "images" / "root.tar.gz"
    tarball.write_bytes(b"one")
    spec = make_spec(tmp_path, '[box]\nbase = "rootfs:images/root.tar.gz"\n')
    first = plan(spec)[0]
    assert first.kind == "rootfs" and first.recipe["path"] == "images/root.tar.gz"
    assert lock_request(first)["sha256"] == first.recipe["sha256"]
    tarball.write_bytes(b"two")
    assert plan(spec)[0].digest != first.digest


def test_a_missing_rootfs_tarball_is_named(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, '[box]\nbase = "rootfs:images/root.tar.gz"\n')
    with pytest.raises(DevboxError, match="does not exist") as info:
        plan(spec)
    assert "images/root.tar.gz" in info.value.message


def test_interpreters_are_layers_of_their_own_python_below_node(tmp_path: Path) -> None:
    text = FULL.replace("[env]", '[interpreters]\nnode = "20"\npython = "3.11"\n\n[env]')
    layers = plan(make_spec(tmp_path, text))
    assert [layer.kind for layer in layers] == ["debian", "apt", "python", "node", "setup"]
    py, node = layers[2], layers[3]
    assert py.recipe["provider"] == "apt" and py.recipe["version"] == "3.11"
    assert "python3.11" in py.recipe["packages"] and "python3.11-venv" in py.recipe["packages"]
    assert node.recipe["provider"] == "npm" and node.recipe["version"] == "20"
    assert node.lock_section == "interpreters.node" and node.lockable
    assert not layers[4].lockable


@pytest.mark.parametrize(
    ("line", "needs"),
    [
        ('python = "3.11"', ["python3.11-dev", "python3.11-venv", "python3-pip"]),
        ('python = { version = "3.12.7", provider = "uv" }', []),
        ('node = { version = "18", provider = "apt" }', ["libnode-dev", "npm", "python3"]),
        ('node = "20"', ["python3"]),
    ],
)
def test_every_interpreter_brings_what_building_native_extensions_needs(
    tmp_path: Path, line: str, needs: list[str]
) -> None:
    text = f'[box]\nbase = "debian:bookworm"\n[interpreters]\n{line}\n'
    (layer,) = plan(make_spec(tmp_path, text))[1:]
    assert set(layer.recipe["packages"]) >= {"gcc", "g++", "libc6-dev", "make", *needs}
    assert layer.recipe["suite"] == "bookworm"


def test_changing_only_node_changes_only_node_and_what_is_above(tmp_path: Path) -> None:
    text = '[box]\nbase = "debian:bookworm"\n[interpreters]\npython = "3.11"\nnode = "NODE"\n'
    a = plan(make_spec(tmp_path / "a", text.replace("NODE", "20.18.0")))
    b = plan(make_spec(tmp_path / "b", text.replace("NODE", "22")))
    assert [x.digest for x in a[:2]] == [x.digest for x in b[:2]]
    assert a[2].digest != b[2].digest


@pytest.mark.parametrize(
    ("suite", "version", "names"),
    [
        ("bookworm", "3.13", ["trixie", "sid", "uv"]),
        ("bookworm", "3.9", ["bullseye", "uv"]),
        ("trixie", "3.11", ["bookworm", "uv"]),
        ("bullseye", "3.12", ["uv"]),
    ],
)
def test_a_python_the_suite_lacks_names_suites_that_have_it_and_uv(
    tmp_path: Path, suite: str, version: str, names: list[str]
) -> None:
    text = f'[box]\nbase = "debian:{suite}"\n[interpreters]\npython = "{version}"\n'
    with pytest.raises(DevboxError) as info:
        plan(make_spec(tmp_path, text))
    said = info.value.message + " " + (info.value.hint or "")
    for name in names:
        assert name in said
    assert f"{tmp_path / 'devbox.toml'}:4: interpreters.python:" in info.value.message  # its line


@pytest.mark.parametrize(
    ("suite", "version"), [("trixie", "3.13"), ("sid", "3.14"), ("bullseye", "3.9.2")]
)
def test_pythons_the_suites_have_plan(tmp_path: Path, suite: str, version: str) -> None:
    text = f'[box]\nbase = "debian:{suite}"\n[interpreters]\npython = "{version}"\n'
    assert plan(make_spec(tmp_path, text))[-1].kind == "python"


def test_uv_takes_any_python_and_apt_node_checks_the_suite(tmp_path: Path) -> None:
    text = '[box]\nbase = "debian:bookworm"\n[interpreters]\n'
    text += 'python = { version = "3.13.1", provider = "uv" }\n'
    assert plan(make_spec(tmp_path / "a", text))[-1].recipe["provider"] == "uv"
    text = '[box]\nbase = "debian:bookworm"\n[interpreters]\n'
    text += 'node = { version = "20", provider = "apt" }\n'
    with pytest.raises(DevboxError, match="bookworm has node 18") as info:
        plan(make_spec(tmp_path / "b", text))
    assert "trixie" in info.value.message and "npm" in (info.value.hint or "")
    assert "devbox.toml:4: interpreters.node.version:" in info.value.message


def test_layer_key_depends_on_request_parent_and_pins() -> None:
    k = plan_mod.layer_key
    base = k("r" * 64, None, {"packages": {"a": "1"}})
    assert base == k("r" * 64, None, {"packages": {"a": "1"}})
    assert base != k("r" * 64, None, {"packages": {"a": "2"}})
    assert base != k("r" * 64, "p" * 64, {"packages": {"a": "1"}})
    assert base != k("s" * 64, None, {"packages": {"a": "1"}})
    assert k("r" * 64, None, None) != base


def test_a_missing_setup_input_is_named(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, FULL, files={})
    with pytest.raises(DevboxError, match=r"'requirements\.txt'") as info:
        plan(spec)
    assert str(tmp_path) in info.value.message


def test_a_missing_input_is_not_an_error_without_setup_steps(tmp_path: Path) -> None:
    text = FULL.replace('run = ["pip install -r requirements.txt", "make"]\n', "")
    assert len(plan(make_spec(tmp_path, text, files={}))) == 2


# -- hash_inputs and workdir_of ------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_hash_inputs_of_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "b.py").write_text("b")
    (tmp_path / "src" / "sub" / "a.py").write_text("a")
    (tmp_path / "req.txt").write_text("r")
    found = hash_inputs(tmp_path, ("src", "req.txt"))
    assert found == {"req.txt": sha("r"), "src/b.py": sha("b"), "src/sub/a.py": sha("a")}
    assert list(found) == sorted(found)


def test_hash_inputs_follows_no_symlink_and_waits_on_no_fifo(tmp_path: Path) -> None:
    project, outside = tmp_path / "p", tmp_path / "outside"
    (project / "src").mkdir(parents=True)
    outside.mkdir()
    (outside / "key").write_text("secret")
    (project / "src" / "key").symlink_to(outside / "key")
    (project / "src" / "dir").symlink_to(outside)
    (project / "top").symlink_to(outside)
    os.mkfifo(project / "src" / "fifo")
    found = hash_inputs(project, ("src", "top"))
    link = hashlib.sha256(b"symlink:" + str(outside).encode()).hexdigest()
    assert found == {
        "src/dir": link,
        "src/key": hashlib.sha256(b"symlink:" + str(outside / "key").encode()).hexdigest(),
        "top": link,
    }
    assert sha("secret") not in found.values()
    with pytest.raises(DevboxError, match="symlink"):
        hash_inputs(project, ("top/key",))  # through a symlinked directory: refused
    with pytest.raises(DevboxError, match="special file"):
        hash_inputs(project, ("src/fifo",))
    with pytest.raises(DevboxError, match="does not exist"):
        hash_inputs(project, ("src/none",))


def test_a_new_file_in_an_input_directory_changes_the_setup_digest(tmp_path: Path) -> None:
    text = FULL.replace('inputs = ["requirements.txt"]', 'inputs = ["src"]')
    before = full_digests(tmp_path, text, files={"src/a.py": "a"})
    after = full_digests(tmp_path, text, files={"src/b.py": "b"})  # a.py is still there
    assert after["apt"] == before["apt"]
    assert after["setup"] != before["setup"]


def test_renaming_an_input_file_changes_the_setup_digest(tmp_path: Path) -> None:
    text = FULL.replace('inputs = ["requirements.txt"]', 'inputs = ["src"]')
    before = full_digests(tmp_path / "p1", text, files={"src/a.py": "x"})
    after = full_digests(tmp_path / "p2", text, files={"src/b.py": "x"})
    assert before["setup"] != after["setup"]


def test_workdir_defaults_to_the_project_path(tmp_path: Path) -> None:
    assert workdir_of(make_spec(tmp_path, FULL)) == str(tmp_path)
    custom = make_spec(tmp_path, FULL + '\n[shell]\nworkdir = "/workspace"\n')
    assert workdir_of(custom) == "/workspace"
