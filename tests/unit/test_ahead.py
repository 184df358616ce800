"""Fetching ahead of a bootstrap (devbox/build/ahead.py): what it fetches, apt's configuration
for it, the hook that hands its files to mmdebstrap, and the display of two things at once. The
fetch itself runs for real in tests/integration/test_fetch_ahead.py."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from devbox.build import ahead, steps
from devbox.build.progress import Display
from devbox.plan.recipe import LayerRecipe, plan
from devbox.spec.load import parse_spec

BASE = '[box]\nname = "x"\nbase = "debian:bookworm"\n'


def layers_of(tmp_path: Path, text: str) -> list[LayerRecipe]:
    return plan(parse_spec(BASE + text, tmp_path / "devbox.toml"))


def test_it_fetches_what_the_apt_steps_above_the_base_install(tmp_path: Path) -> None:
    text = '[packages]\napt = ["jq", "curl"]\n[interpreters]\npython = "3.11"\n'
    layers = layers_of(tmp_path, text)
    got = ahead.wanted(layers, [None] * len(layers))
    assert got[:2] == ("curl", "jq")
    assert any(p.startswith("python3.11") for p in got[2:])


def test_pinned_packages_are_fetched_at_their_pinned_versions(tmp_path: Path) -> None:
    layers = layers_of(tmp_path, '[packages]\napt = ["jq"]\n')
    pins = {"packages": {"jq": "1.6-2.1", "libjq1": "1.6-2.1"}}
    assert ahead.wanted(layers, [None, pins]) == ("jq=1.6-2.1", "libjq1=1.6-2.1")


def test_nothing_above_a_layer_not_from_the_archive(tmp_path: Path) -> None:
    """A step over a layer not from the archive gets private caches: a file fetched for it
    into the shared cache would never be used."""
    text = '[interpreters]\npython = { version = "3.12", provider = "uv" }\nnode = "18"\n'
    layers = layers_of(tmp_path, text + "[packages]\napt = []\n")
    kinds = [x.kind for x in layers]
    assert kinds[:2] == ["debian", "python"]
    got = ahead.wanted(layers, [None] * len(layers))
    assert not any("nodejs" in p for p in got)  # node from apt sits over python from uv


def test_only_a_base_without_apt_layers_fetches_nothing_above(tmp_path: Path) -> None:
    layers = layers_of(tmp_path, "")
    assert ahead.wanted(layers, [None]) == ()


def test_apt_is_configured_under_the_fetchs_own_dir_only() -> None:
    conf = steps.fetch_apt_conf("/s/layers/.tmp-x/fetch", "amd64", "/etc/apt/trusted.gpg",
                                "/etc/apt/trusted.gpg.d/")  # fmt: skip
    lines = dict(line.split(" ", 1) for line in conf.splitlines())
    assert lines["Dir"] == '"/s/layers/.tmp-x/fetch/";'
    assert lines["Dir::Etc::Parts"] == '"/s/layers/.tmp-x/fetch/parts/";'  # not the host's
    assert lines["Dir::State::Lists"] == '"/s/layers/.tmp-x/fetch/lists/";'
    assert lines["Dir::State::Status"] == '"/s/layers/.tmp-x/fetch/state/status";'  # empty
    assert lines["Dir::Etc::TrustedParts"] == '"/etc/apt/trusted.gpg.d/";'  # the host's keys
    assert lines["Apt::Architectures"] == '"amd64";'
    assert lines["pkgCacheGen::ForceEssential"] == '",";'  # as mmdebstrap's apt


def test_the_update_trusts_debians_archive_keyring_where_it_is_installed(tmp_path: Path) -> None:
    """On an Ubuntu host apt does not trust Debian's keys; mmdebstrap then checks a Debian suite
    against debian-archive-keyring, and so does the fetch's own update."""
    keyring = tmp_path / "debian-archive-keyring.gpg"
    assert ahead.trusted_keyring("/etc/apt/trusted.gpg", str(keyring)) == "/etc/apt/trusted.gpg"
    keyring.write_bytes(b"keys")
    assert ahead.trusted_keyring("/etc/apt/trusted.gpg", str(keyring)) == str(keyring)


@pytest.mark.parametrize("bad", ['/s/"quoted"', "/s/new\nline"])
def test_a_path_apt_cannot_quote_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        steps.fetch_apt_conf(bad, "amd64", "/t", "/p")


def test_the_package_sets_are_narrowed_as_mmdebstrap_narrows_them() -> None:
    assert steps.apt_narrow("bookworm", "arm64") == (
        "?or(?archive(^bookworm$),?codename(^bookworm$)),?architecture(arm64)"
    )


def test_mmdebstrap_waits_for_the_fetch_and_copies_in_what_it_fetched() -> None:
    args = ("mmdebstrap", "bookworm", "/t", "http://m", "/my cache", "/o")
    argv = steps.mmdebstrap_argv(*args, fetch="/s/.tmp-d/fetch")
    setup = [a for a in argv if a.startswith("--setup-hook=")]
    assert setup[0] == '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/'
    assert "/s/.tmp-d/fetch/updated" in setup[1] and "apt-cache gencaches" in setup[1]
    assert setup[2].endswith("sleep 0.02; i=$((i + 1)); done")  # waits for ready alone
    assert "/s/.tmp-d/fetch/ready" in setup[2] and "updated" not in setup[2]
    # the cache is copied in only once the essential packages are in it; the fetch adds to
    # it again only once that copy is done
    assert setup[3:] == [
        "--setup-hook=sync-in '/my cache' /var/cache/apt/archives/",
        "--setup-hook=touch /s/.tmp-d/fetch/synced",
    ]
    hooks = [a for a in argv if a.startswith("--essential-hook=")]
    assert hooks == [
        "--essential-hook=if [ -f /s/.tmp-d/fetch/fetched ]; then while IFS= read -r f; do "
        'g=\'/my cache\'/"$f"; if [ -f "$g" ] && [ ! -h "$g" ]; then '
        'cp -p -- "$g" "$1"/var/cache/apt/archives/ || :; fi; done '
        "< /s/.tmp-d/fetch/fetched; fi",
    ]
    plain = steps.mmdebstrap_argv(*args)
    assert [a for a in argv if a not in hooks and a not in setup[1:3] and a != setup[4]] == plain


def _setup_hook(fetch: Path, root: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    argv = steps.mmdebstrap_argv("m", "s", "/t", "http://m", "/c", "/o", fetch=str(fetch))
    script = next(a for a in argv if "updated" in a).removeprefix("--setup-hook=")
    (bad := fetch.parent / "apt.conf").write_text('Dir "/x" {\n')  # apt refuses it
    env = {"PATH": os.environ["PATH"], "MMDEBSTRAP_APT_CONFIG": str(bad)}
    return subprocess.run(["sh", "-c", script, "sh", str(root)], env=env, text=True,
                          capture_output=True, timeout=timeout)  # fmt: skip


def test_the_setup_hook_waits_for_the_lists_and_copies_plain_files_alone(tmp_path: Path) -> None:
    fetch, root = tmp_path / "fetch", tmp_path / "root"
    (fetch / "lists/partial").mkdir(parents=True)
    root.mkdir()
    (fetch / "lists/x_InRelease").write_text("signed\n")
    (fetch / "lists/lock").write_text("")
    (fetch / "lists/y_Packages").symlink_to("/etc/passwd")  # never followed
    threading.Timer(0.5, (fetch / "ready").touch).start()  # the fetch failed: no `updated`
    start = time.monotonic()
    _setup_hook(fetch, root)
    assert time.monotonic() - start >= 0.45  # it waited
    lists = root / "var/lib/apt/lists"
    assert sorted(p.name for p in lists.iterdir()) == ["partial", "x_InRelease"]
    assert not (lists / "auxfiles").exists()  # mmdebstrap runs its own update


def test_checked_lists_make_mmdebstrap_skip_its_update_or_nothing(tmp_path: Path) -> None:
    """`updated`: the hook makes apt's caches from the copied lists; when apt cannot (here: a
    config it refuses), it leaves no cache, so mmdebstrap's own update still runs."""
    fetch, root = tmp_path / "fetch", tmp_path / "root"
    (fetch / "lists").mkdir(parents=True)
    (fetch / "lists/x_InRelease").write_text("signed\n")
    (root / "var/cache/apt").mkdir(parents=True)
    (root / "var/cache/apt/pkgcache.bin").write_text("stale")
    (fetch / "updated").touch()
    _setup_hook(fetch, root)
    assert (root / "var/lib/apt/lists/auxfiles").is_dir()
    assert not (root / "var/cache/apt/pkgcache.bin").exists()


def test_the_setup_hook_waits_no_longer_than_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "WAIT_S", 1)
    (tmp_path / "fetch/lists").mkdir(parents=True)
    (tmp_path / "root").mkdir()
    start = time.monotonic()
    _setup_hook(tmp_path / "fetch", tmp_path / "root")  # nothing ever comes
    assert 0.9 < time.monotonic() - start < 10


@pytest.mark.parametrize(
    ("content", "size", "ok"),
    [(b"deb", 3, True), (b"deb", 4, False), (b"bed", 3, False)],
)
def test_a_file_is_kept_only_with_its_size_and_hash(
    tmp_path: Path, content: bytes, size: int, ok: bool
) -> None:
    f = tmp_path / "x.deb"
    f.write_bytes(content)
    assert ahead._verified(f, size, hashlib.sha256(b"deb").hexdigest()) is ok
    assert ahead._verified(tmp_path / "missing.deb", 3, "") is False


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_status_line_says_what_runs_beside_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("devbox.build.progress._columns", lambda: 60)
    out = Tty()
    d = Display(stream=out)
    d.aside = lambda: "fetching 33 packages ahead"
    d.status("[1/2] base debian:bookworm  3.1s  I: extracting archives... and much more")
    line = out.getvalue().split("\x1b[K")[-1]
    assert line.endswith("  · fetching 33 packages ahead")  # never cut off by a long line
    assert line.startswith("[1/2] base debian:bookworm")
    assert len(line) <= 59
    d.aside = lambda: ""
    d.status("[1/2] base  4.0s")
    assert out.getvalue().split("\x1b[K")[-1] == "[1/2] base  4.0s"
