"""Golden argv tests: every list is written out in full."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import time
from pathlib import Path

import pytest

from devbox.build import steps
from devbox.build.steps import (
    BUILD_SCRIPT,
    apt_script,
    build_argv,
    mmdebstrap_argv,
    packages_query,
    setup_script,
)
from devbox.errors import DevboxError
from devbox.sandbox import argv as sandbox
from devbox.sandbox.argv import Bind, Session, bwrap_argv, join_argv, overlay_options, unshare_argv
from devbox.sandbox.box import Box, sync_host_ca
from devbox.sandbox.host import UserNs
from devbox.sandbox.supervisor import (
    SUPERVISOR_MARK,
    SUPERVISOR_SCRIPT,
    box_fstab,
    fstab_path,
    supervisor_argv,
    supervisor_cmdline_head,
    supervisor_script,
)
from devbox.spec.load import parse_spec
from devbox.store.paths import Store

USERNS = UserNs(("--user", "--map-user=1000", "--map-users=100000,0,65536"))
DPKG_QUERY = r"dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n'"
COPY_OUT = (  # mmdebstrap's sync-out, through a plain pipe, refusing a symlink on the way
    '--customize-hook=d="$(cd -P "$1" && pwd)/{}" && cd -P "$d" && [ "$PWD" = "$d" ]'
    " && tar -c . | tar -C {} -x"
)
APT_OPTS = (  # the lists' binary cache kept beside them (a bind of the suite's cache)
    "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=/var/lib/apt/lists/devbox-srcpkgcache.bin"
    " -o APT::Keep-Downloaded-Packages=true"
)


def test_constants() -> None:
    assert sandbox.RC_DIR == "/run/devbox"
    assert steps.BUILD_OUT == "/tmp/devbox-out"


# -- binds and bwrap -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "flag"), [("rw", "--bind"), ("ro", "--ro-bind"), ("ro-try", "--ro-bind-try")]
)
def test_bind_modes(mode: str, flag: str) -> None:
    assert Bind("/src dir", "/dest", mode).argv() == [flag, "/src dir", "/dest"]


def test_bind_defaults_to_read_write() -> None:
    assert Bind("/a", "/b").argv() == ["--bind", "/a", "/b"]


def test_bwrap_argv_minimal_non_interactive() -> None:
    session = Session(root="/store/p/merged", argv=("make", "test"), cwd="/home/u/proj")
    assert bwrap_argv("/usr/bin/bwrap", session) == [
        "/usr/bin/bwrap",
        "--bind", "/store/p/merged", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--chdir", "/home/u/proj",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--",
        "make", "test",
    ]  # fmt: skip


def test_bwrap_argv_interactive_with_binds_and_tmpfs() -> None:
    session = Session(
        root="/m",
        argv=("bash", "--rcfile", "/run/devbox/bashrc", "-i"),
        cwd="/workspace/sub dir",
        binds=(
            Bind("/store/p/home", "/home/u"),
            Bind("/home/u/proj", "/workspace"),
            Bind("/store/p/rc", "/run/devbox", "ro"),
            Bind("/opt/tools", "/opt/tools", "ro-try"),
        ),
        tmpfs=("/tmp", "/var/tmp"),
        new_session=False,
    )
    assert bwrap_argv("bwrap", session) == [
        "bwrap",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--perms", "1777", "--tmpfs", "/tmp",
        "--perms", "0755", "--tmpfs", "/var/tmp",
        "--perms", "0755", "--dir", "/home",
        "--bind", "/store/p/home", "/home/u",
        "--bind", "/home/u/proj", "/workspace",
        "--perms", "0755", "--dir", "/run",
        "--ro-bind", "/store/p/rc", "/run/devbox",
        "--perms", "0755", "--dir", "/opt",
        "--ro-bind-try", "/opt/tools", "/opt/tools",
        "--chdir", "/workspace/sub dir",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--cap-drop", "ALL",
        "--",
        "bash", "--rcfile", "/run/devbox/bashrc", "-i",
    ]  # fmt: skip


def test_bwrap_argv_command_args_that_look_like_flags_follow_the_separator() -> None:
    argv = bwrap_argv("bwrap", Session(root="/m", argv=("--bind", "/", "/x"), cwd="/"))
    assert argv[-4:] == ["--", "--bind", "/", "/x"]


def test_bwrap_argv_makes_every_missing_parent_0755_once_across_binds() -> None:
    session = Session(
        root="/m",
        argv=("true",),
        cwd="/",
        binds=(
            Bind("/x", "/a/b/c"),
            Bind("/y", "/a/b/d", "ro"),
            Bind("/z", "/a/e/f/g", "ro-try"),
            Bind("/w", "/top"),
            Bind("/v", "/a/b"),
        ),
    )
    assert bwrap_argv("bwrap", session) == [
        "bwrap",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--perms", "0755", "--dir", "/a",
        "--perms", "0755", "--dir", "/a/b",
        "--bind", "/x", "/a/b/c",
        "--ro-bind", "/y", "/a/b/d",
        "--perms", "0755", "--dir", "/a/e",
        "--perms", "0755", "--dir", "/a/e/f",
        "--ro-bind-try", "/z", "/a/e/f/g",
        "--bind", "/w", "/top",
        "--bind", "/v", "/a/b",
        "--chdir", "/",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--",
        "true",
    ]  # fmt: skip


def test_bwrap_argv_parents_tolerate_doubled_and_trailing_slashes() -> None:
    session = Session(root="/m", argv=("true",), cwd="/", binds=(Bind("/s", "//a//b/c/"),))
    argv = bwrap_argv("bwrap", session)
    i = argv.index("--chdir")
    assert argv[i - 11 : i] == [
        "--perms", "0755", "--dir", "/a",
        "--perms", "0755", "--dir", "/a/b",
        "--bind", "/s", "//a//b/c/",
    ]  # fmt: skip


def test_bwrap_argv_build_step_tier_2() -> None:
    session = Session(
        root="/s/layers/.tmp-b/merged",
        argv=("/bin/sh", "-c", "apt-get install -y git"),
        cwd="/",
        tmpfs=("/tmp", "/run"),
        binds=(
            Bind("/s/cache/archives", "/var/cache/apt/archives"),
            Bind("/s/cache/lists", "/var/lib/apt/lists"),
            Bind("/s/layers/.tmp-b/out", "/tmp/devbox-out"),
        ),
        caps=sandbox.ALL_CAPS,
    )
    assert bwrap_argv("/usr/bin/bwrap", session) == [
        "/usr/bin/bwrap",
        "--bind", "/s/layers/.tmp-b/merged", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--perms", "1777", "--tmpfs", "/tmp",
        "--perms", "0755", "--tmpfs", "/run",
        "--perms", "0755", "--dir", "/var",
        "--perms", "0755", "--dir", "/var/cache",
        "--perms", "0755", "--dir", "/var/cache/apt",
        "--bind", "/s/cache/archives", "/var/cache/apt/archives",
        "--perms", "0755", "--dir", "/var/lib",
        "--perms", "0755", "--dir", "/var/lib/apt",
        "--bind", "/s/cache/lists", "/var/lib/apt/lists",
        "--perms", "0755", "--dir", "/tmp",
        "--bind", "/s/layers/.tmp-b/out", "/tmp/devbox-out",
        "--chdir", "/",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--new-session",
        "--cap-add", "ALL",
        "--",
        "/bin/sh", "-c", "apt-get install -y git",
    ]  # fmt: skip


def test_bwrap_argv_build_step_tier_3_with_seccomp() -> None:
    session = Session(
        root="/m", argv=("/bin/sh", "-c", "x"), cwd="/", caps=sandbox.ALL_CAPS, seccomp_fd=7
    )
    assert bwrap_argv("bwrap", session) == [
        "bwrap",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--chdir", "/",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--new-session",
        "--cap-add", "ALL",
        "--seccomp", "7",
        "--",
        "/bin/sh", "-c", "x",
    ]  # fmt: skip


def test_bwrap_argv_tier_2_session_drops_to_the_user_with_setpriv() -> None:
    session = Session(
        root="/m", argv=("bash", "-i"), cwd="/w", new_session=False, drop_to=(1000, 1001)
    )
    assert bwrap_argv("bwrap", session) == [
        "bwrap",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--chdir", "/w",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
        "--cap-add", "CAP_DAC_OVERRIDE", "--cap-add", "CAP_DAC_READ_SEARCH",
        "--",
        "setpriv", "--reuid=1000", "--regid=1001", "--clear-groups", "--",
        "bash", "-i",
    ]  # fmt: skip


def test_bwrap_argv_tier_3_session_is_the_user_in_a_nested_namespace() -> None:
    session = Session(root="/m", argv=("make",), cwd="/w", nested_uid=(1000, 1001), seccomp_fd=3)
    assert bwrap_argv("/usr/bin/bwrap", session) == [
        "/usr/bin/bwrap",
        "--unshare-user", "--uid", "1000", "--gid", "1001",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--chdir", "/w",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--seccomp", "3",
        "--",
        "make",
    ]  # fmt: skip


def test_bwrap_argv_every_option_at_once() -> None:
    session = Session(
        root="/m",
        argv=("--help",),
        cwd="/",
        binds=(Bind("/h", "/home/u"),),
        tmpfs=("/tmp",),
        new_session=False,
        caps=sandbox.ALL_CAPS,
        nested_uid=(5, 6),
        drop_to=(7, 8),
        seccomp_fd=9,
    )
    assert bwrap_argv("bwrap", session) == [
        "bwrap",
        "--unshare-user", "--uid", "5", "--gid", "6",
        "--bind", "/m", "/",
        "--proc", "/proc",
        "--dev", "/dev",
        "--ro-bind-try", "/sys", "/sys",
        "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf",
        "--ro-bind-try", "/etc/hosts", "/etc/hosts",
        "--perms", "1777", "--tmpfs", "/tmp",
        "--perms", "0755", "--dir", "/home",
        "--bind", "/h", "/home/u",
        "--chdir", "/",
        "--unshare-pid", "--unshare-uts", "--unshare-ipc",
        "--hostname", "devbox",
        "--die-with-parent",
        "--cap-add", "ALL",
        "--seccomp", "9",
        "--",
        "setpriv", "--reuid=7", "--regid=8", "--clear-groups", "--",
        "--help",
    ]  # fmt: skip


def test_session_defaults_add_no_privilege_options() -> None:
    s = Session(root="/m", argv=("x",), cwd="/")
    assert (s.caps, s.nested_uid, s.drop_to, s.seccomp_fd) == ((), None, None, None)
    assert (s.binds, s.tmpfs, s.new_session) == ((), (), True)
    assert bwrap_argv("bwrap", s)[-5:] == ["--new-session", "--cap-drop", "ALL", "--", "x"]


def test_bwrap_argv_session_in_its_own_uts_and_ipc_namespaces_named_as_asked() -> None:
    argv = bwrap_argv("bwrap", Session(root="/m", argv=("x",), cwd="/", hostname="my-box"))
    i = argv.index("--unshare-pid")
    assert argv[i : i + 5] == ["--unshare-pid", "--unshare-uts", "--unshare-ipc", "--hostname",
                               "my-box"]  # fmt: skip


def test_bwrap_argv_tier_1_root_keeps_what_apt_needs_and_nothing_of_sys_admin() -> None:
    s = Session(root="/m", argv=("apt-get", "install", "x"), cwd="/", caps=sandbox.ROOT_CAPS)
    argv = bwrap_argv("bwrap", s)
    i = argv.index("--cap-drop")
    kept = argv[i + 2 : argv.index("--")]
    assert argv[i : i + 2] == ["--cap-drop", "ALL"]
    assert kept == [w for c in sandbox.ROOT_CAPS for w in ("--cap-add", c)]
    for need in ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"):
        assert need in kept
    for never in ("CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_MKNOD", "CAP_NET_RAW",
                  "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "ALL"):  # fmt: skip
        assert never not in kept


def test_root_caps_per_tier() -> None:
    assert sandbox.root_caps(1) == sandbox.ROOT_CAPS
    assert sandbox.root_caps(2) == sandbox.root_caps(3) == sandbox.ALL_CAPS == ("ALL",)


# -- joining, unshare, supervisor, build ---------------------------------------------------------


def test_join_argv_host_root() -> None:
    assert join_argv("/usr/bin/nsenter", 4242, None) == [
        "/usr/bin/nsenter", "--target=4242", "--mount", "--",
    ]  # fmt: skip


def test_join_argv_with_a_user_namespace() -> None:
    assert join_argv("nsenter", 7, USERNS) == [
        "nsenter", "--target=7", "--user", "--mount", "--",
    ]  # fmt: skip


def test_join_argv_keeps_credentials_when_told() -> None:
    userns = UserNs(("--user", "--map-root-user"), ("--user", "--preserve-credentials"))
    assert join_argv("/usr/bin/nsenter", 31337, userns) == [
        "/usr/bin/nsenter", "--target=31337", "--user", "--preserve-credentials", "--mount", "--",
    ]  # fmt: skip


def test_user_ns_joins_as_its_root_by_default() -> None:
    assert UserNs(("--user",)).join_flags == ("--user",)


def test_unshare_argv_host_root() -> None:
    assert unshare_argv("/usr/bin/unshare", None) == [
        "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
    ]  # fmt: skip


def test_unshare_argv_with_a_user_namespace() -> None:
    assert unshare_argv("unshare", USERNS) == [
        "unshare",
        "--user", "--map-user=1000", "--map-users=100000,0,65536",
        "--mount", "--propagation", "private",
        "--",
    ]  # fmt: skip


def test_unshare_argv_with_a_pid_namespace() -> None:
    assert unshare_argv("unshare", None, pid=True) == [
        "unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--",
        "setpriv", "--pdeathsig", "KILL", "--",
    ]  # fmt: skip
    assert unshare_argv("unshare", USERNS, pid=True, setpriv="/usr/bin/setpriv") == [
        "unshare",
        "--user", "--map-user=1000", "--map-users=100000,0,65536",
        "--mount", "--propagation", "private",
        "--pid", "--fork", "--kill-child",
        "--",
        "/usr/bin/setpriv", "--pdeathsig", "KILL", "--",  # again, after unshare's --setuid
    ]  # fmt: skip


def test_supervisor_argv() -> None:
    argv = supervisor_argv(
        "/usr/bin/unshare",
        None,
        "/store",
        "FSTAB",
        "/store/projects/p/merged",
        "/store/projects/p/run/supervisor.pid",
        "/store/projects/p/run/sessions.fifo",
        "/store/projects/p/run/start.lock",
        "60",
    )
    assert argv == [
        "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c",
        f": {SUPERVISOR_MARK} /store/projects/p/run/supervisor.pid\n" + SUPERVISOR_SCRIPT,
        "devbox-box",
        "/store",
        "FSTAB",
        "/store/projects/p/merged",
        "/store/projects/p/run/supervisor.pid",
        "/store/projects/p/run/sessions.fifo",
        "",
        "",
        "/store/projects/p/run/start.lock",
        "60",
        "",  # the host's network
    ]  # fmt: skip


def test_supervisor_argv_with_a_user_namespace_and_passwd_and_group_lines() -> None:
    argv = supervisor_argv(
        "unshare", USERNS, "/s", "F", "/m", "/pid", "/fifo", "/start", "5",
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash", "alice:x:1000:",
    )  # fmt: skip
    assert argv == [
        "unshare", "--user", "--map-user=1000", "--map-users=100000,0,65536",
        "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", f": {SUPERVISOR_MARK} /pid\n" + SUPERVISOR_SCRIPT, "devbox-box",
        "/s", "F", "/m", "/pid", "/fifo",
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash", "alice:x:1000:", "/start", "5", "",
    ]  # fmt: skip


def test_box_fstab_mounts_the_overlay_tmp_run_then_the_shared_binds_in_order() -> None:
    binds = [
        Bind("/home/alice", "/home/alice"),
        Bind("/src/my project", "/home/alice/my project"),
        Bind("/s/p/rc", "/run/devbox", "ro"),
        Bind("/etc/ssl/certs", "/run/devbox-host-ca", "ro-try"),
    ]
    assert box_fstab("lowerdir=l,upperdir=u,workdir=w", "/s/p/merged", binds).splitlines() == [
        "devbox /s/p/merged overlay lowerdir=l,upperdir=u,workdir=w 0 0",
        "devbox-tmp /s/p/merged/tmp tmpfs mode=1777,nosuid,nodev 0 0",
        "devbox-run /s/p/merged/run tmpfs mode=755,nosuid,nodev 0 0",
        "/home/alice /s/p/merged/home/alice none rbind,X-mount.mkdir 0 0",
        "/src/my\\040project /s/p/merged/home/alice/my\\040project none rbind,X-mount.mkdir 0 0",
        "/s/p/rc /s/p/merged/run/devbox none bind,ro,X-mount.mkdir 0 0",
        "/etc/ssl/certs /s/p/merged/run/devbox-host-ca none bind,ro,nofail,X-mount.mkdir 0 0",
    ]


def test_box_fstab_masks_come_last_as_empty_read_only_tmpfs() -> None:
    binds = [Bind("/home/alice", "/home/alice")]
    lines = box_fstab("o", "/s/p/merged", binds, ["/home/alice/.local/share/dev box"])
    assert lines.splitlines()[-2:] == [
        "/home/alice /s/p/merged/home/alice none rbind,X-mount.mkdir 0 0",
        "devbox-mask /s/p/merged/home/alice/.local/share/dev\\040box tmpfs "
        "ro,nosuid,nodev,noexec,mode=755 0 0",
    ]


def test_fstab_paths_escape_what_separates_fields() -> None:
    raw = "/a b\tc\nd\\e ü'\""
    assert fstab_path(raw) == "/a\\040b\\011c\\012d\\134e\\040ü'\""


def test_supervisor_script_uses_its_arguments_in_argv_order() -> None:
    lines = SUPERVISOR_SCRIPT.splitlines()
    assert lines[0] == "set -eu"
    assert "merged=$3 pidfile=$4 fifo=$5 pwline=$6 grline=$7 startlock=$8" in lines
    assert 'cd "$1"' in lines
    assert 'printf \'%s\\n\' "$2" > "$run/fstab"' in lines
    mount = 'mount -a -T "$batch"'
    assert mount in lines
    # the pid file appears after the mounts (under the start lock), and goes before the unmount
    assert lines.index("ready") > lines.index(mount)
    assert lines.index('rm -f "$pidfile"', lines.index("ready")) < lines.index(
        'umount -R "$merged"'
    )
    # going by itself: the start lock first, then the pid file, and only then the last look
    assert (
        lines.index("  if flock -x -n 7; then")
        < lines.index('    rm -f "$pidfile"')
        < lines.index("    if nobody && ! held; then break; fi")
    )


def test_supervisor_script_adds_the_user_after_mounting_and_before_saying_ready() -> None:
    script = SUPERVISOR_SCRIPT
    mounted = script.index("mount -a -T")
    ready = script.index("\nready\n")
    assert mounted < script.index('add "$pwline" passwd "$merged"') < ready
    assert mounted < script.index('add "$grline" group "$merged"') < ready


def _fake_tools(tmp_path: Path, *names: str) -> dict[str, str]:
    """An environment where `names` (mount, flock, ...) do nothing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def _run_supervisor(tmp_path: Path, passwd_line: str, group_line: str) -> Path:
    """SUPERVISOR_SCRIPT for real, start to end (no session comes, no linger), with mount and
    umount that do nothing."""
    merged = tmp_path / "merged"
    if not merged.exists():
        (merged / "etc").mkdir(parents=True)
        (merged / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        (merged / "etc/group").write_text("root:x:0:\n")
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    if not (run / "sessions.fifo").exists():
        os.mkfifo(run / "sessions.fifo")
    argv = supervisor_argv(
        "unshare", None, str(tmp_path), "o", str(merged), str(run / "supervisor.pid"),
        str(run / "sessions.fifo"), str(run / "start.lock"), "0", passwd_line, group_line,
    )  # fmt: skip
    env = _fake_tools(tmp_path, "mount", "umount")
    subprocess.run(argv[argv.index("/bin/sh") :], env=env, check=True, timeout=10)
    assert not (run / "supervisor.pid").exists()  # gone again: nobody came
    return merged


def test_supervisor_script_appends_missing_passwd_and_group_entries(tmp_path: Path) -> None:
    alice = "alice:x:1000:1000:Alice:/home/alice:/bin/bash"
    _run_supervisor(tmp_path, alice, "alice:x:1000:")
    merged = _run_supervisor(tmp_path, alice, "alice:x:1000:")  # a second start adds nothing
    assert (merged / "etc/passwd").read_text() == f"root:x:0:0:root:/root:/bin/bash\n{alice}\n"
    assert (merged / "etc/group").read_text() == "root:x:0:\nalice:x:1000:\n"


def test_supervisor_script_leaves_existing_entries_and_empty_lines_alone(tmp_path: Path) -> None:
    _run_supervisor(tmp_path, "root:x:1000:1000::/home/root:/bin/sh", "")
    merged = _run_supervisor(tmp_path, "", "root:x:1000:")
    assert (merged / "etc/passwd").read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert (merged / "etc/group").read_text() == "root:x:0:\n"


def test_supervisor_script_matches_whole_names_only(tmp_path: Path) -> None:
    merged = _run_supervisor(tmp_path, "roo:x:1000:1000::/home/roo:/bin/sh", "ro:x:1000:")
    assert (merged / "etc/passwd").read_text().splitlines() == [
        "root:x:0:0:root:/root:/bin/bash",
        "roo:x:1000:1000::/home/roo:/bin/sh",
    ]
    assert (merged / "etc/group").read_text().splitlines() == ["root:x:0:", "ro:x:1000:"]


@pytest.mark.parametrize("plant", ["passwd-link", "etc-link", "passwd-fifo", "etc-dotdot"])
def test_supervisor_script_follows_no_planted_link_nor_waits_on_a_fifo(
    tmp_path: Path, plant: str
) -> None:
    """The box's layers make its /etc: a symlink there (to a host file, or out of the box) is
    not written through, a FIFO is not waited on; the box still starts."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (victim.parent / "etc-elsewhere").mkdir()
    (victim.parent / "etc-elsewhere/passwd").write_text("precious\n")
    etc = tmp_path / "merged/etc"
    etc.parent.mkdir()
    if plant == "etc-link":
        etc.symlink_to(victim.parent / "etc-elsewhere")
    elif plant == "etc-dotdot":
        etc.symlink_to("../etc-elsewhere")
    else:
        etc.mkdir()
        (etc / "group").write_text("root:x:0:\n")
        if plant == "passwd-link":
            (etc / "passwd").symlink_to(victim)
        else:
            os.mkfifo(etc / "passwd")
    _run_supervisor(tmp_path, "alice:x:1000:1000::/home/alice:/bin/sh", "alice:x:1000:")
    assert victim.read_text() == "precious\n"
    assert (victim.parent / "etc-elsewhere/passwd").read_text() == "precious\n"
    if plant in ("passwd-link", "passwd-fifo"):
        assert (etc / "group").read_text() == "root:x:0:\nalice:x:1000:\n"  # the file still is


def test_build_argv() -> None:
    bwrap_cmd = ["bwrap", "--bind", "/s/m", "/", "--", "/bin/sh", "-c", "apt-get install -y git"]
    argv = build_argv(
        "/usr/bin/unshare",
        None,
        "/s",
        "lowerdir=layers/a/rootfs,upperdir=layers/.tmp-b/rootfs,workdir=layers/.tmp-b/work",
        "/s/layers/.tmp-b/merged",
        bwrap_cmd,
    )
    assert argv == [
        "/usr/bin/unshare", "--mount", "--propagation", "private",
        "--pid", "--fork", "--kill-child", "--", "setpriv", "--pdeathsig", "KILL", "--",
        "/bin/sh", "-c", BUILD_SCRIPT, "devbox-build",
        "/s",
        "lowerdir=layers/a/rootfs,upperdir=layers/.tmp-b/rootfs,workdir=layers/.tmp-b/work",
        "/s/layers/.tmp-b/merged",
        "",
        "bwrap", "--bind", "/s/m", "/", "--", "/bin/sh", "-c", "apt-get install -y git",
    ]  # fmt: skip


def test_build_argv_with_a_user_namespace_and_dirs_to_remove() -> None:
    argv = build_argv(
        "unshare", USERNS, "/s", "o", "/s/m", ["bwrap", "--", "true"], ["home/u/proj", "home/u"],
        setpriv="/usr/bin/setpriv",
    )  # fmt: skip
    assert argv == [
        "unshare", "--user", "--map-user=1000", "--map-users=100000,0,65536",
        "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--",
        "/usr/bin/setpriv", "--pdeathsig", "KILL", "--",
        "/bin/sh", "-c", BUILD_SCRIPT, "devbox-build",
        "/s", "o", "/s/m", "home/u/proj\nhome/u",
        "bwrap", "--", "true",
    ]  # fmt: skip


def test_build_script_runs_the_command_then_removes_the_dirs_and_keeps_its_status() -> None:
    assert BUILD_SCRIPT.splitlines() == [
        "set -eu",
        'cd "$1"',
        'mount -t overlay devbox-build -o "$2" "$3"',
        "merged=$3",
        "cleanup=$4",
        "shift 4",
        "rc=0",
        '"$@" || rc=$?',
        'if [ -n "$cleanup" ]; then',
        """  printf '%s\\n' "$cleanup" | while IFS= read -r d; do""",
        "    (",
        '      cd -P "$merged" && m=$PWD || exit 1',
        '      case $d in */*) cd -P "${d%/*}" && [ "$PWD" = "$m/${d%/*}" ] || exit 1 ;; esac',
        '      rmdir "${d##*/}"',
        "    ) 2>/dev/null || :",
        "  done",
        "fi",
        'exit "$rc"',
    ]


def _run_build_script(tmp_path: Path, rmdirs: list[str], *command: str) -> int:
    """BUILD_SCRIPT for real, with a `mount` that does nothing."""
    merged = tmp_path / "merged"
    argv = build_argv("unshare", None, str(tmp_path), "o", str(merged), command, rmdirs)
    env = _fake_tools(tmp_path, "mount")
    return subprocess.run(argv[argv.index("/bin/sh") :], env=env, check=False).returncode


def test_build_script_removes_empty_mount_points_deepest_first(tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    (merged / "home/u/proj").mkdir(parents=True)
    (merged / "home/other").mkdir(parents=True)
    (merged / "opt/tools").mkdir(parents=True)
    (merged / "opt/tools/made-by-the-step").write_text("")
    rc = _run_build_script(tmp_path, ["home/u/proj", "home/u", "opt/tools", "no/such"], "true")
    assert rc == 0
    assert not (merged / "home/u").exists()
    assert (merged / "home/other").is_dir()  # not listed
    assert (merged / "opt/tools/made-by-the-step").exists()  # not empty: kept


def test_build_script_removes_no_dir_through_a_symlink_the_step_made(tmp_path: Path) -> None:
    """The step replaced a mount point's parent by a link to a host directory: the host's
    empty directory of the same name stays."""
    merged = tmp_path / "merged"
    (merged / "home/u/proj").mkdir(parents=True)
    host = tmp_path / "host"
    (host / "u/proj").mkdir(parents=True)
    step = f"rm -rf {merged}/home && ln -s {host} {merged}/home"
    assert _run_build_script(tmp_path, ["home/u/proj", "home/u"], "/bin/sh", "-c", step) == 0
    assert (host / "u/proj").is_dir()


def test_build_script_exits_with_the_command_status_after_cleaning_up(tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    (merged / "workspace").mkdir(parents=True)
    assert _run_build_script(tmp_path, ["workspace"], "/bin/sh", "-c", "exit 7") == 7
    assert not (merged / "workspace").exists()


def test_build_script_without_dirs_passes_the_command_arguments_through(tmp_path: Path) -> None:
    (tmp_path / "merged").mkdir()
    out = tmp_path / "args"
    rc = _run_build_script(
        tmp_path, [], "/bin/sh", "-c", 'printf "%s|" "$@" > "$0"', str(out), "a b", "--", ""
    )
    assert rc == 0
    assert out.read_text() == "a b|--||"


# -- overlay options -----------------------------------------------------------------------------


def test_overlay_options() -> None:
    opts = overlay_options(
        ["layers/top/rootfs", "layers/bottom/rootfs"], "projects/p/upper", "projects/p/work"
    )
    assert opts == (
        "lowerdir=layers/top/rootfs:layers/bottom/rootfs,"
        "upperdir=projects/p/upper,workdir=projects/p/work,"
        "redirect_dir=nofollow,metacopy=off,index=off,xino=off"
    )


def test_overlay_options_with_userxattr() -> None:
    opts = overlay_options(["l"], "u", "w", userxattr=True)
    assert opts == (
        "lowerdir=l,upperdir=u,workdir=w,redirect_dir=nofollow,metacopy=off,index=off,xino=off,userxattr"
    )


@pytest.mark.parametrize("bad", ["/abs/path", "a,b", "a:b", "a\\b"])
@pytest.mark.parametrize("where", ["lower", "upper", "work"])
def test_overlay_options_reject_absolute_or_special_paths(bad: str, where: str) -> None:
    paths = {"lower": "l", "upper": "u", "work": "w", where: bad}
    with pytest.raises(ValueError, match="store-relative"):
        overlay_options(["ok", paths["lower"]], paths["upper"], paths["work"])


# -- mmdebstrap ----------------------------------------------------------------------------------


def test_mmdebstrap_argv() -> None:
    argv = mmdebstrap_argv(
        "/usr/bin/mmdebstrap",
        "bookworm",
        "/s/layers/.tmp-d/rootfs",
        "http://deb.debian.org/debian",
        "/s/cache/apt/bookworm",
        "/s/layers/.tmp-d/out",
    )
    assert argv == [
        "/usr/bin/mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        "--setup-hook=sync-in /s/cache/apt/bookworm /var/cache/apt/archives/",
        COPY_OUT.format("var/cache/apt/archives", "/s/cache/apt/bookworm"),
        '--customize-hook=chroot "$1" ' + DPKG_QUERY + " > /s/layers/.tmp-d/out/packages.tsv",
        "bookworm",
        "/s/layers/.tmp-d/rootfs",
        "http://deb.debian.org/debian",
    ]


def test_mmdebstrap_argv_quotes_paths_in_hooks() -> None:
    argv = mmdebstrap_argv("mmdebstrap", "sid", "/t", "http://m", "/my cache", "/it's out")
    assert "--setup-hook=sync-in '/my cache' /var/cache/apt/archives/" in argv
    assert COPY_OUT.format("var/cache/apt/archives", "'/my cache'") in argv
    assert argv[7].endswith(""" > '/it'"'"'s out'/packages.tsv""")


def test_mmdebstrap_argv_single_uid() -> None:
    argv = mmdebstrap_argv(
        "mmdebstrap",
        "trixie",
        "/s/layers/.tmp-d/rootfs",
        "http://deb.debian.org/debian",
        "/s/cache/apt/trixie",
        "/s/layers/.tmp-d/out",
        single_uid=True,
    )
    devs = "null zero full random urandom tty"
    assert argv == [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        "--setup-hook=sync-in /s/cache/apt/trixie /var/cache/apt/archives/",
        "--skip=chroot/mount/dev",
        '--aptopt=APT::Sandbox::User "root"',
        '--setup-hook=mkdir -p "$1/dev"',
        f'--extract-hook=for f in {devs}; do rm -f "$1/dev/$f"; touch "$1/dev/$f"; '
        'mount --bind "/dev/$f" "$1/dev/$f"; done',
        COPY_OUT.format("var/cache/apt/archives", "/s/cache/apt/trixie"),
        '--customize-hook=chroot "$1" ' + DPKG_QUERY + " > /s/layers/.tmp-d/out/packages.tsv",
        f'--customize-hook=for f in {devs}; do umount "$1/dev/$f"; rm -f "$1/dev/$f"; done',
        "trixie",
        "/s/layers/.tmp-d/rootfs",
        "http://deb.debian.org/debian",
    ]


def test_mmdebstrap_argv_single_uid_defaults_off() -> None:
    args = ("mmdebstrap", "sid", "/t", "http://m", "/c", "/o")
    assert mmdebstrap_argv(*args) == mmdebstrap_argv(*args, single_uid=False)
    assert not any("Sandbox" in a or "/dev" in a for a in mmdebstrap_argv(*args))


# -- scripts run in the box ----------------------------------------------------------------------


def test_packages_query() -> None:
    assert packages_query("/tmp/devbox-out") == DPKG_QUERY + " > /tmp/devbox-out/packages.tsv"
    assert packages_query("/o u t") == DPKG_QUERY + " > '/o u t'/packages.tsv"


def test_apt_script() -> None:
    script = apt_script(["git", "g++", "libpq-dev=15.*"])
    assert script == "\n".join(
        [
            "set -eu",
            "export DEBIAN_FRONTEND=noninteractive",
            f"apt-get {APT_OPTS} -q update",
            f"apt-get {APT_OPTS} -q -y --no-install-recommends install -- git g++ 'libpq-dev=15.*'",
            DPKG_QUERY + " > /tmp/devbox-out/packages.tsv",
        ]
    )


def test_apt_script_packages_survive_shell_splitting() -> None:
    packages = ["libpq-dev=15.*", "weird name", "it's", "$(rm -rf /)"]
    install = apt_script(packages, out="/o").splitlines()[3]
    words = shlex.split(install)
    assert words[words.index("--") + 1 :] == packages
    assert apt_script(packages, out="/o").splitlines()[-1] == DPKG_QUERY + " > /o/packages.tsv"


def test_setup_script() -> None:
    script = setup_script(["pip install -r requirements.txt", "make"], "/workspace")
    assert script == "\n".join(
        [
            "set -eu",
            "cd /workspace",
            "echo 'devbox: setup step 1/2: pip install -r requirements.txt'",
            "/bin/sh -c 'pip install -r requirements.txt'",
            "echo 'devbox: setup step 2/2: make'",
            "/bin/sh -c make",
            DPKG_QUERY + " > /tmp/devbox-out/packages.tsv",
        ]
    )


def test_setup_script_quotes_steps_and_workdir() -> None:
    step = """echo "it's" > 'a b' && echo $HOME"""
    script = setup_script([step], "/home/u/my project", out="/out")
    assert script == "\n".join(
        [
            "set -eu",
            "cd '/home/u/my project'",
            """echo 'devbox: setup step 1/1: echo "it'"'"'s" > '"'"'a b'"'"' && echo $HOME'""",
            """/bin/sh -c 'echo "it'"'"'s" > '"'"'a b'"'"' && echo $HOME'""",
            DPKG_QUERY + " > /out/packages.tsv",
        ]
    )
    lines = script.splitlines()
    assert shlex.split(lines[1]) == ["cd", "/home/u/my project"]
    assert shlex.split(lines[2]) == ["echo", f"devbox: setup step 1/1: {step}"]
    assert shlex.split(lines[3]) == ["/bin/sh", "-c", step]


def test_setup_script_with_a_multi_line_step() -> None:
    step = "for f in a b; do\n  echo $f\ndone"
    script = setup_script([step], "/w")
    assert f"/bin/sh -c {shlex.quote(step)}" in script
    assert shlex.split(f"/bin/sh -c {shlex.quote(step)}")[2] == step


def test_apt_script_with_cached_lists_updates_only_when_install_fails() -> None:
    lines = apt_script(["jq"], cached_lists=True).splitlines()
    install = f"apt-get {APT_OPTS} -q -y --no-install-recommends install -- jq"
    assert lines[2:7] == [
        f"if ! {install}; then",
        "  echo 'devbox: the cached package lists did not do; updating them'",
        f"  apt-get {APT_OPTS} -q update",
        f"  {install}",
        "fi",
    ]


def test_apt_script_cached_lists_really_falls_back(tmp_path: Path) -> None:
    """The script under sh with an apt-get that fails until `update` ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "log"
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *update*) touch {tmp_path}/updated;; '
        f"*install*) [ -e {tmp_path}/updated ];; esac\n"
    )
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    script = apt_script(["jq"], out=str(tmp_path), cached_lists=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    subprocess.run(["sh", "-c", script], env=env, check=True, capture_output=True)
    assert [line.split()[-1] for line in log.read_text().splitlines()] == ["jq", "update", "jq"]


def test_mmdebstrap_argv_keeps_the_lists_when_asked() -> None:
    argv = mmdebstrap_argv("mmdebstrap", "sid", "/t", "http://m", "/c", "/o", lists="/my lists")
    hook = COPY_OUT.format("var/lib/apt/lists", "'/my lists'")
    assert hook in argv
    assert argv.index(hook) < argv.index("sid")


def test_supervisor_cmdline_names_its_pid_file_on_its_first_line(tmp_path: Path) -> None:
    """What the launcher reads from /proc/PID/cmdline to know a pid is this box's supervisor."""
    pid_file = str(tmp_path / "it's a" / "supervisor.pid")
    script = supervisor_script(pid_file)
    assert script.endswith(SUPERVISOR_SCRIPT)
    proc = subprocess.Popen(["/bin/sh", "-c", script.split("\n")[0] + "\nsleep 30"])
    try:
        time.sleep(0.2)
        reader = 'IFS= read -r l < "/proc/$1/cmdline"; printf %s "$l"'
        out = subprocess.run(["sh", "-c", reader, "sh", str(proc.pid)], capture_output=True)
        assert out.stdout.decode() == supervisor_cmdline_head(pid_file)
    finally:
        proc.kill()
        proc.wait()


def test_host_ca_binds_the_bundle_file_alone_and_points_the_tools_at_it() -> None:
    assert sandbox.host_ca_env(None) == {}
    assert sandbox.host_ca_binds(None) == ()
    bundle = "/home/u/corp/ca.pem"
    assert sandbox.host_ca_binds(bundle) == (sandbox.Bind(bundle, "/run/devbox/host-ca.pem", "ro"),)
    env = sandbox.host_ca_env(bundle)
    assert set(env) >= {"SSL_CERT_FILE", "PIP_CERT", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"}
    assert set(env.values()) == {"/run/devbox/host-ca.pem"} == {sandbox.HOST_CA}
    assert os.path.dirname(sandbox.HOST_CA) == sandbox.RC_DIR


def _ca_box(tmp_path: Path) -> Box:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    spec = parse_spec('[box]\nbase = "debian:bookworm"\n', project / "devbox.toml")
    return Box(spec, Store(tmp_path / "store"), ())


def test_sync_host_ca_copies_the_bundle_alone_and_keeps_it_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = _ca_box(tmp_path)
    corp = tmp_path / "corp"
    corp.mkdir()
    (corp / "ca.pem").write_text("CA-ONE\n")
    (corp / "secret").write_text("no\n")
    monkeypatch.delenv("DEVBOX_HOST_CA", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(corp / "ca.pem"))
    copy = box.paths.rc / "host-ca.pem"
    sync_host_ca(box)
    assert copy.read_text() == "CA-ONE\n"
    assert sorted(os.listdir(box.paths.rc)) == ["host-ca.pem"]
    (corp / "ca.pem").write_text("CA-TWO\n")
    sync_host_ca(box)
    assert copy.read_text() == "CA-TWO\n"
    monkeypatch.setenv("DEVBOX_HOST_CA", "0")
    sync_host_ca(box)
    assert not copy.exists()


def test_sync_host_ca_writes_no_file_through_a_planted_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = _ca_box(tmp_path)
    (tmp_path / "ca.pem").write_text("CA\n")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    monkeypatch.delenv("DEVBOX_HOST_CA", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    box.paths.rc.mkdir(parents=True)
    (box.paths.rc / "host-ca.pem").symlink_to(victim)
    (box.paths.rc / f".host-ca.pem.{os.getpid()}").symlink_to(victim)
    sync_host_ca(box)
    assert victim.read_text() == "precious\n"
    assert (box.paths.rc / "host-ca.pem").read_text() == "CA\n"
    assert not (box.paths.rc / "host-ca.pem").is_symlink()


@pytest.mark.parametrize("where", ["project", "store"])
def test_sync_host_ca_refuses_a_bundle_a_box_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    box = _ca_box(tmp_path)
    inside = tmp_path / where / "certs"
    inside.mkdir(parents=True)
    (inside / "ca.pem").write_text("CA\n")
    link = tmp_path / "link.pem"  # reached through a symlink: still refused
    link.symlink_to(inside / "ca.pem")
    monkeypatch.delenv("DEVBOX_HOST_CA", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(link))
    with pytest.raises(DevboxError, match="which a box can write"):
        sync_host_ca(box)
    assert not (box.paths.rc / "host-ca.pem").exists()


def test_a_new_writable_layer_is_the_box_s_root_for_every_user_whatever_the_umask(
    tmp_path: Path,
) -> None:
    """upper's root dir is the box's `/`: made under umask 077 it is 0755 too, so a server that
    runs as its own user (a service's `user`) can still reach its files."""
    from devbox.sandbox import start

    old = os.umask(0o077)
    try:
        start._make_root(tmp_path / "project/upper")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "project/upper").stat().st_mode) == 0o755
