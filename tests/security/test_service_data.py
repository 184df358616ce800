"""A service's data (`.devbox/data/NAME`) is in the working tree, which a box can write: the host
makes and deletes it without following a link (devbox/services/data.py).

The first tests plant hostile trees directly (as a box would, between sessions) and prove that
nothing outside the project was made, written, read or deleted: every entry of a directory
outside is compared before and after (kind, mode, size, mtime, content, link target), and a
FIFO outside, held open by the test with bytes queued in it, shows that nothing read from or
wrote to it. The last ones let a real box make the tree, as root in each tier (in tier 2 its
files belong to the user's subordinate ids), and delete it as the created user."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox import nofollow
from devbox.services.data import ensure_data, remove_data
from tests.security.actors import Actor, changed

QUEUED = b"queued by the test\n"
Entry = tuple[int, int, int, int, bytes]


class Outside:
    """A directory beside the project standing for the host's files: `secret`, `dir/data/db/keep`
    (what a followed `.devbox` link would find to delete) and `fifo`, held open read-write by
    the test with QUEUED in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "dir/data/db").mkdir(parents=True)
        (path / "dir/data/db/keep").write_bytes(b"keep me\n")
        (path / "secret").write_bytes(b"host secret\n")
        os.mkfifo(path / "fifo")
        self.fifo = os.open(path / "fifo", os.O_RDWR | os.O_NONBLOCK)
        os.write(self.fifo, QUEUED)
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, Entry]:
        out: dict[str, Entry] = {}
        for dirpath, dirnames, filenames in os.walk(self.path):
            for name in ["", *dirnames, *filenames]:
                p = Path(dirpath) / name
                st = p.lstat()
                body = b""
                if stat.S_ISREG(st.st_mode):
                    body = p.read_bytes()
                elif stat.S_ISLNK(st.st_mode):
                    body = os.fsencode(os.readlink(p))
                out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, body)
        return out

    def untouched(self) -> bool:
        """Nothing outside was made, changed or deleted, and the FIFO holds exactly QUEUED."""
        now = self.snapshot()
        try:
            queued = os.read(self.fifo, 1 << 16)
        except BlockingIOError:
            queued = b""
        os.write(self.fifo, queued)  # for the next look (a write changes the FIFO's mtime)
        same = now == self.before
        self.before = self.snapshot()
        return same and queued == QUEUED


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Outside]:
    path = tmp_path / "outside"
    path.mkdir()
    o = Outside(path)
    yield o
    os.close(o.fifo)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def plant_link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


# -- hostile trees -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("planted", "target"),
    [(".devbox", "dir"), (".devbox", "new"), (".devbox/data", "dir/data"), (".devbox/data", "new")],
)
def test_a_symlinked_devbox_or_data_dir_is_refused_both_ways(
    project: Path, outside: Outside, planted: str, target: str
) -> None:
    plant_link(project / planted, outside.path / target)
    for act in (lambda: ensure_data(project, "db"), lambda: remove_data(project, "db")):
        with pytest.raises(nofollow.Refused) as info:
            act()
        assert f"{project / planted} is a symlink" in info.value.message
    assert outside.untouched()
    assert (project / planted).is_symlink()


def test_a_symlinked_data_dir_is_refused_by_ensure_and_removed_as_a_link(
    project: Path, outside: Outside
) -> None:
    plant_link(project / ".devbox/data/db", outside.path / "dir/data/db")
    with pytest.raises(nofollow.Refused, match="db is a symlink, not a directory"):
        ensure_data(project, "db")
    assert remove_data(project, "db") is True
    assert os.listdir(project / ".devbox/data") == []
    assert outside.untouched()


def test_links_inside_the_data_are_removed_not_followed(project: Path, outside: Outside) -> None:
    ensure_data(project, "db")
    db = project / ".devbox/data/db"
    plant_link(db / "to-dir", outside.path / "dir")
    plant_link(db / "to-secret", outside.path / "secret")
    plant_link(db / "to-fifo", outside.path / "fifo")
    plant_link(db / "sub/deeper/to-outside", outside.path)
    plant_link(db / "sub/up", Path("../../../../.."))
    plant_link(db / "dangling", outside.path / "new")
    (db / "sub").chmod(0o500)
    assert remove_data(project, "db") is True
    assert not db.exists() and not db.is_symlink()
    assert outside.untouched()


def test_a_fifo_as_gitignore_is_replaced_never_opened(project: Path, outside: Outside) -> None:
    (project / ".devbox").mkdir()
    os.mkfifo(project / ".devbox/.gitignore")
    held = os.open(project / ".devbox/.gitignore", os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(held, QUEUED)
        ensure_data(project, "db")  # an open of the FIFO for writing or reading would not block
        assert os.read(held, 1 << 16) == QUEUED  # ... but would have read or added bytes
    finally:
        os.close(held)
    assert (project / ".devbox/.gitignore").read_bytes() == b"*\n"
    assert outside.untouched()


@pytest.mark.parametrize("target", ["secret", "fifo", "new", "dir"])
def test_a_symlink_as_gitignore_is_replaced_not_written_through(
    project: Path, outside: Outside, target: str
) -> None:
    plant_link(project / ".devbox/.gitignore", outside.path / target)
    ensure_data(project, "db")
    gitignore = project / ".devbox/.gitignore"
    assert not gitignore.is_symlink() and gitignore.read_bytes() == b"*\n"
    assert outside.untouched()


def test_what_is_not_a_directory_on_the_way_is_refused(project: Path, outside: Outside) -> None:
    (project / ".devbox").write_bytes(b"")
    with pytest.raises(nofollow.Refused, match=r"\.devbox is a file, not a directory"):
        ensure_data(project, "db")
    (project / ".devbox").unlink()
    (project / ".devbox/.gitignore").mkdir(parents=True)
    with pytest.raises(nofollow.Refused, match=r"\.gitignore is a directory, not a file"):
        ensure_data(project, "db")
    (project / ".devbox/.gitignore").rmdir()
    (project / ".devbox/data/db").rmdir()
    (project / ".devbox/data/db").write_bytes(b"not a directory")
    with pytest.raises(nofollow.Refused, match="db is a file, not a directory"):
        ensure_data(project, "db")
    assert remove_data(project, "db") is True  # the file in its place is the data: deleted
    assert outside.untouched()


def test_a_box_directory_reached_through_a_planted_link_is_refused(
    project: Path, outside: Outside
) -> None:
    """`box = "services/db"`: `services` is the box's to write too."""
    plant_link(project / "services", outside.path / "dir")
    (outside.path / "dir/db").mkdir()
    outside.before = outside.snapshot()
    box = project / "services/db"
    with pytest.raises(nofollow.Refused, match="services is a symlink"):
        ensure_data(box, "db", project=project)
    with pytest.raises(nofollow.Refused, match="services is a symlink"):
        remove_data(box, "db", project=project)
    assert outside.untouched()


# -- trees a real box made -----------------------------------------------------------------------

# As root in the box: a data dir of another id (postgres'), read-only and unreadable dirs, a
# FIFO and links out of the project.
PLANT = """\
set -e
cd .devbox/data/db
mkdir -p base/1 ro/inner locked
echo row > base/1/file
chown -R 999:999 base
chmod 700 base base/1
ln -s "$1/victim" base/to-victim
ln -s / root-link
ln -s ../../../.. up-link
mkfifo fifo
echo x > ro/inner/f
chmod 555 ro/inner
chmod 500 ro
chmod 000 locked
"""

REMOVE = """\
import sys
from pathlib import Path
from devbox.errors import DevboxError
from devbox.sandbox.host import current_tier
from devbox.services.data import ensure_data, remove_data
try:
    if sys.argv[1] == "ensure":
        ensure_data(Path.cwd(), "db")
    else:
        print(remove_data(Path.cwd(), "db", current_tier() if sys.argv[1] == "tier" else None))
except DevboxError as e:
    print(e.render())
    sys.exit(1)
"""


def as_actor(actor: Actor, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        actor.argv(actor.python(), "-c", REMOVE, *args), cwd=project, env=actor.env(),
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_data_a_box_made_as_root_is_deleted_by_its_user(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    p = actor.project("service-data")
    r = as_actor(actor, p, "ensure")
    assert r.returncode == 0, r.stdout + r.stderr
    r = actor.devbox("run", "--root", "--", "sh", "-c", PLANT, "plant", str(actor.home), cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    base = p / ".devbox/data/db/base"
    if actor.tier == 2:  # the premise: files the user cannot delete from outside the namespace
        assert base.lstat().st_uid not in (0, actor.uid)
        r = as_actor(actor, p, "no-tier")
        assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
        assert r.stdout.startswith(f"devbox: error: cannot delete {p}/.devbox/data/db: ")
        assert "devbox run --root -- rm -rf .devbox/data/db" in r.stdout
    r = as_actor(actor, p, "tier")
    assert (r.returncode, r.stdout.strip()) == (0, "True"), r.stdout + r.stderr
    assert os.listdir(p / ".devbox/data") == []
    assert changed(sentinels) == []


def test_data_links_a_box_planted_are_not_followed(
    actor: Actor, sentinels: dict[Path, bytes]
) -> None:
    """The box links `.devbox/data` to the user's home, where a `db` is: refused, nothing there
    deleted. Then it links `.devbox/data/db` there: the link is deleted, not the home's `db`."""
    precious = actor.home / "db/precious"
    precious.parent.mkdir()
    precious.write_bytes(b"precious\n")
    actor.own(precious.parent)
    p = actor.project("service-data-link")
    plant = f"mkdir -p .devbox && ln -s {actor.home} .devbox/data"
    r = actor.devbox("run", "--root", "--", "sh", "-c", plant, cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    for mode in ("tier", "ensure"):
        r = as_actor(actor, p, mode)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{p}/.devbox/data is a symlink" in r.stdout
    # then `.devbox/data/db` itself, linked to the home's `db`: the link is what is deleted
    plant = f"rm .devbox/data && mkdir .devbox/data && ln -s {actor.home}/db .devbox/data/db"
    r = actor.devbox("run", "--root", "--", "sh", "-c", plant, cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    r = as_actor(actor, p, "tier")
    assert (r.returncode, r.stdout.strip()) == (0, "True"), r.stdout + r.stderr
    assert os.listdir(p / ".devbox/data") == []
    assert precious.read_bytes() == b"precious\n"
    assert changed(sentinels) == []
