from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.store import private
from devbox.store.fs import disk_usage, flocked, remove_tree
from devbox.store.layers import TMP_PREFIX, LayerBuild, LayerMeta, clean_stale, has_layer, read_meta
from devbox.store.paths import Store, state_root

D1, D2, D3 = "1" * 64, "2" * 64, "3" * 64
ROOT = os.geteuid() == 0


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def make_meta(digest: str = D1) -> LayerMeta:
    return LayerMeta(
        digest=digest,
        kind="apt",
        parent="0" * 64,
        recipe={"packages": ["git"]},
        title="apt git",
        size=4096,
        created=1700000000.5,
        tier=1,
        packages={"git": "1:2.39.2-1.1"},
        arch="amd64",
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


# -- flocked -------------------------------------------------------------------------------------


def test_flocked_creates_the_lock_file_and_its_directory(tmp_path: Path) -> None:
    lock = tmp_path / "a" / "b" / "x.lock"
    with flocked(lock) as got:
        assert got is True
        assert lock.is_file()


def test_a_held_exclusive_lock_makes_a_non_blocking_attempt_fail(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with flocked(lock):
        with flocked(lock, blocking=False) as got:
            assert got is False
        with flocked(lock, exclusive=False, blocking=False) as got:
            assert got is False
    with flocked(lock, blocking=False) as got:
        assert got is True  # released on leaving


def test_shared_locks_coexist_but_exclude_an_exclusive_one(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with flocked(lock, exclusive=False) as first:
        assert first is True
        with flocked(lock, exclusive=False, blocking=False) as second:
            assert second is True
        with flocked(lock, blocking=False) as exclusive:
            assert exclusive is False


def test_flocked_releases_on_an_exception(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), flocked(lock):
        raise RuntimeError("boom")
    with flocked(lock, blocking=False) as got:
        assert got is True


# -- disk_usage ----------------------------------------------------------------------------------


def blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_disk_usage_of_an_empty_or_missing_directory(tmp_path: Path) -> None:
    assert disk_usage(tmp_path) == 0
    assert disk_usage(tmp_path / "missing") == 0


def test_disk_usage_counts_files_and_subdirectories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    big = tmp_path / "sub" / "big"
    big.write_bytes(os.urandom(256 * 1024))
    small = tmp_path / "small"
    small.write_bytes(b"x")
    assert blocks(big) >= 256 * 1024
    assert disk_usage(tmp_path) == blocks(big) + blocks(small) + blocks(tmp_path / "sub")


def test_disk_usage_counts_hard_links_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(os.urandom(128 * 1024))
    before = disk_usage(tmp_path)
    os.link(data, tmp_path / "link1")
    os.link(data, tmp_path / "link2")
    assert disk_usage(tmp_path) == before == blocks(data)


def test_disk_usage_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(os.urandom(128 * 1024))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside)
    (tree / "dirlink").symlink_to(tmp_path)
    assert disk_usage(tree) == blocks(tree / "link") + blocks(tree / "dirlink")
    assert disk_usage(tree) < 128 * 1024


# -- remove_tree ---------------------------------------------------------------------------------


def make_tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("f")
    (root / "a" / "g").write_text("g")
    keep = root.parent / f"{root.name}-keep"
    keep.mkdir()
    (keep / "canary").write_text("still here")
    (root / "link").symlink_to(keep)
    return root


def test_remove_tree(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    remove_tree(tree)
    assert not tree.exists()
    assert (tmp_path / "t-keep" / "canary").is_file()  # the symlink inside was not followed


def test_remove_tree_of_a_missing_path_is_a_no_op(tmp_path: Path) -> None:
    remove_tree(tmp_path / "missing")
    assert tmp_path.is_dir()


@pytest.mark.parametrize("mode", [0o500, 0o555, 0o700])
def test_remove_tree_without_write_permission(tmp_path: Path, mode: int) -> None:
    tree = make_tree(tmp_path / "t")
    (tree / "a").chmod(mode)
    remove_tree(tree)
    assert not tree.exists()


@pytest.mark.skipif(ROOT, reason="root ignores permissions, so this passes trivially as root")
@pytest.mark.parametrize(("mode", "content"), [(0o000, False), (0o000, True), (0o600, True)])
def test_remove_tree_with_an_unreadable_or_unsearchable_directory(
    tmp_path: Path, mode: int, content: bool
) -> None:
    tree = tmp_path / "t"
    (tree / "a").mkdir(parents=True)
    if content:
        (tree / "a" / "sub").mkdir()  # only a directory: the outcome must not hang on order
    (tree / "a").chmod(mode)
    remove_tree(tree)
    assert not tree.exists()


def test_remove_tree_of_a_symlink_removes_the_link_not_the_target(tmp_path: Path) -> None:
    target = make_tree(tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)
    assert (target / "a" / "g").is_file()
    assert not link.is_symlink()


def test_remove_tree_of_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    remove_tree(link)
    assert not link.is_symlink()


# -- LayerMeta -----------------------------------------------------------------------------------


def test_layer_meta_json_round_trip() -> None:
    meta = make_meta()
    data = json.loads(json.dumps(meta.to_json()))
    assert LayerMeta.from_json(data) == meta
    assert LayerMeta.from_json({**data, "future-field": 1}) == meta


# -- LayerBuild ----------------------------------------------------------------------------------


def test_layer_build_makes_a_temp_dir_beside_the_layers(store: Store) -> None:
    build = LayerBuild(store, D1)
    assert build.tmp.parent == store.layers
    assert build.tmp.name.startswith(f"{TMP_PREFIX}{D1}-")
    assert stat.S_IMODE(build.tmp.stat().st_mode) == 0o755
    assert sorted(p.name for p in build.tmp.iterdir()) == ["merged", "out", "rootfs", "work"]
    assert build.rootfs == build.tmp / "rootfs"
    assert not has_layer(store, D1)
    assert LayerBuild(store, D1).tmp != build.tmp  # two builds never share a temp dir


def test_commit_renames_into_place_with_meta(store: Store) -> None:
    build = LayerBuild(store, D1)
    (build.rootfs / "etc").mkdir()
    (build.rootfs / "etc" / "hello").write_text("hi")
    (build.tmp / "work" / "scratch").mkdir()
    (build.tmp / "out" / "packages.tsv").write_text("git\t1\tamd64\n")
    meta = make_meta(D1)
    build.commit(meta)
    layer = store.layer_dir(D1)
    assert not build.tmp.exists()
    assert sorted(p.name for p in layer.iterdir()) == ["meta.json", "rootfs"]
    assert (store.layer_rootfs(D1) / "etc" / "hello").read_text() == "hi"
    assert has_layer(store, D1)
    assert read_meta(store, D1) == meta
    assert json.loads((layer / "meta.json").read_text())["digest"] == D1


def test_abort_leaves_nothing(store: Store) -> None:
    build = LayerBuild(store, D1)
    (build.rootfs / "usr").mkdir()
    (build.rootfs / "usr" / "f").write_text("x")
    build.abort()
    assert not build.tmp.exists()
    assert not store.layer_dir(D1).exists()
    assert list(store.layers.iterdir()) == []


def test_read_meta_of_a_damaged_layer(store: Store) -> None:
    store.layer_dir(D1).mkdir(parents=True)
    (store.layer_dir(D1) / "meta.json").write_text('{"digest": "x"}')
    with pytest.raises(DevboxError, match="damaged") as info:
        read_meta(store, D1)
    assert D1[:12] in info.value.message
    with pytest.raises(DevboxError, match="damaged"):
        read_meta(store, D2)  # missing altogether


# -- clean_stale ---------------------------------------------------------------------------------


def test_clean_stale_without_a_layers_dir(store: Store) -> None:
    assert clean_stale(store) == []


def test_clean_stale_removes_dead_builds_only(store: Store) -> None:
    dead = LayerBuild(store, D1)
    (dead.rootfs / "f").write_text("x")
    alive = LayerBuild(store, D2)
    LayerBuild(store, D3).commit(make_meta(D3))
    (store.layers / "unrelated").mkdir()
    with flocked(store.layer_lock(D2)):  # a build of D2 is running
        removed = clean_stale(store)
    assert removed == [dead.tmp]
    assert not dead.tmp.exists()
    assert alive.tmp.is_dir()
    assert has_layer(store, D3)
    assert (store.layers / "unrelated").is_dir()
    assert clean_stale(store) == [alive.tmp]  # its lock is free now


# -- private: the store is the user's alone --------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_root_is_made_0700_with_its_missing_parents(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "store"
    with umask(0o022):
        assert private.check_root(root, "store") == root
    assert [mode_of(p) for p in (tmp_path / "a", tmp_path / "a" / "b", root)] == [0o700] * 3


def test_a_root_others_can_only_read_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    root.chmod(0o755)  # an older devbox under umask 022
    private.check_root(root, "store")
    assert mode_of(root) == 0o700


@pytest.mark.parametrize("loose", [0o775, 0o757, 0o777, 0o1777])
def test_a_root_others_can_write_is_refused(tmp_path: Path, loose: int) -> None:
    root = tmp_path / "store"
    root.mkdir()
    root.chmod(loose)
    with pytest.raises(DevboxError) as e:
        private.check_root(root, "store")
    assert f"{root} is writable by others (mode {loose:o})" in e.value.render()
    assert f"chmod 700 {root}" in e.value.render()
    assert mode_of(root) == loose


@pytest.mark.skipif(not ROOT, reason="giving a directory to another user needs root")
def test_a_root_another_user_owns_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir(mode=0o755)
    os.chown(root, 65534, 65534)
    with pytest.raises(DevboxError) as e:
        private.check_root(root, "store")
    assert f"{root} is owned by" in e.value.render() and "DEVBOX_HOME" in e.value.render()
    assert mode_of(root) == 0o755
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "mine")
    (tmp_path / "mine").mkdir(mode=0o700)
    os.lchown(link, 65534, 65534)
    with pytest.raises(DevboxError, match="a symlink owned by"):
        private.check_root(link, "store")


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("")
    with pytest.raises(DevboxError, match="is not a directory"):
        private.check_root(tmp_path / "store", "store")


def test_mkdirs_makes_0700_dirs_and_tightens_an_existing_one(tmp_path: Path) -> None:
    d = tmp_path / "x" / "y"
    with umask(0o022):
        private.mkdirs(d)
    assert [mode_of(tmp_path / "x"), mode_of(d)] == [0o700, 0o700]
    d.chmod(0o755)
    private.mkdirs(d)
    assert mode_of(d) == 0o700


def test_lock_files_are_0600_and_an_older_one_is_tightened(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "x.lock"
    with umask(0o022), flocked(lock):
        pass
    assert (mode_of(lock.parent), mode_of(lock)) == (0o700, 0o600)
    lock.chmod(0o644)
    with flocked(lock):
        pass
    assert mode_of(lock) == 0o600


def test_the_default_store_and_state_dir_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DEVBOX_HOME", str(home))
    assert Store.default().root == home and mode_of(home) == 0o700
    assert state_root() == home / "state" and mode_of(home / "state") == 0o700
    private._checked.clear()
    (home / "state").chmod(0o777)
    with pytest.raises(DevboxError, match="writable by others"):
        state_root()
    private._checked.clear()
    home.chmod(0o770)
    with pytest.raises(DevboxError, match="writable by others"):
        Store.default()


def test_an_older_devbox_store_is_tightened_but_not_the_boxes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    pdir = home / "projects" / "0123456789abcdef"
    made = [home, home / "locks", home / "projects", pdir, pdir / "home", pdir / "run"]
    made += [home / "by-path", home / "by-path" / "x", home / "state", home / "state" / "shims"]
    kept = [home / "layers" / D1, home / "layers" / D1 / "rootfs", pdir / "upper"]
    with umask(0o022):
        for d in made + kept:
            d.mkdir(parents=True, exist_ok=True)
        files = [home / "gc.lock", home / "locks" / f"{D1}.lock", pdir / "run" / "start.lock",
                 pdir / "project.json", home / "state" / "shims" / "tool"]  # fmt: skip
        for f in [*files, pdir / "home" / ".bashrc", home / "layers" / D1 / "rootfs" / "f"]:
            f.write_text("")
        (pdir / "launcher").write_text("")
        (pdir / "launcher").chmod(0o755)
    monkeypatch.setenv("DEVBOX_HOME", str(home))
    Store.default()
    state_root()
    assert {str(d): mode_of(d) for d in made} == {str(d): 0o700 for d in made}
    assert {str(f): mode_of(f) for f in files} == {str(f): 0o600 for f in files}
    assert mode_of(pdir / "launcher") == 0o700
    assert [mode_of(d) for d in kept] == [0o755] * 3
    assert mode_of(pdir / "home" / ".bashrc") == mode_of(home / "layers" / D1 / "rootfs" / "f")
    assert mode_of(pdir / "home" / ".bashrc") == 0o644
