"""Golden argv tests: every list is written out in full."""

from __future__ import annotations

import shlex

import pytest

from devbox import sandbox
from devbox.sandbox import (
    BUILD_SCRIPT,
    SUPERVISOR_SCRIPT,
    Bind,
    Session,
    UserNs,
    apt_script,
    build_argv,
    bwrap_argv,
    join_argv,
    mmdebstrap_argv,
    overlay_options,
    packages_query,
    setup_script,
    shell_quote_env,
    supervisor_argv,
    unshare_argv,
)

USERNS = UserNs(("--user", "--map-user=1000", "--map-users=100000,0,65536"))
DPKG_QUERY = r"dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n'"
APT_OPTS = (
    "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Keep-Downloaded-Packages=true"
)


def test_constants() -> None:
    assert sandbox.RC_DIR == "/run/devbox"
    assert sandbox.BUILD_OUT == "/tmp/devbox-out"


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
        "--unshare-pid",
        "--die-with-parent",
        "--new-session",
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
        "--bind", "/store/p/home", "/home/u",
        "--bind", "/home/u/proj", "/workspace",
        "--ro-bind", "/store/p/rc", "/run/devbox",
        "--ro-bind-try", "/opt/tools", "/opt/tools",
        "--chdir", "/workspace/sub dir",
        "--unshare-pid",
        "--die-with-parent",
        "--",
        "bash", "--rcfile", "/run/devbox/bashrc", "-i",
    ]  # fmt: skip


def test_bwrap_argv_command_args_that_look_like_flags_follow_the_separator() -> None:
    argv = bwrap_argv("bwrap", Session(root="/m", argv=("--bind", "/", "/x"), cwd="/"))
    assert argv[-4:] == ["--", "--bind", "/", "/x"]


# -- joining, unshare, supervisor, build ---------------------------------------------------------


def test_join_argv_host_root() -> None:
    assert join_argv("/usr/bin/nsenter", 4242, None) == [
        "/usr/bin/nsenter", "--target=4242", "--mount", "--",
    ]  # fmt: skip


def test_join_argv_with_a_user_namespace() -> None:
    assert join_argv("nsenter", 7, USERNS) == [
        "nsenter", "--target=7", "--mount", "--user", "--preserve-credentials", "--",
    ]  # fmt: skip


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


def test_supervisor_argv() -> None:
    argv = supervisor_argv(
        "/usr/bin/unshare",
        None,
        "/store",
        "lowerdir=a,upperdir=b,workdir=c",
        "/store/projects/p/merged",
        "/store/projects/p/run/supervisor.pid",
        "/store/projects/p/run/sessions.lock",
    )
    assert argv == [
        "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", SUPERVISOR_SCRIPT, "devbox-box",
        "/store",
        "lowerdir=a,upperdir=b,workdir=c",
        "/store/projects/p/merged",
        "/store/projects/p/run/supervisor.pid",
        "/store/projects/p/run/sessions.lock",
    ]  # fmt: skip


def test_supervisor_argv_with_a_user_namespace() -> None:
    argv = supervisor_argv("unshare", USERNS, "/s", "o", "/m", "/pid", "/lock")
    assert argv[:7] == [
        "unshare", "--user", "--map-user=1000", "--map-users=100000,0,65536",
        "--mount", "--propagation", "private",
    ]  # fmt: skip
    assert argv[-5:] == ["/s", "o", "/m", "/pid", "/lock"]


def test_supervisor_script_uses_its_arguments_in_argv_order() -> None:
    # $1 store root, $2 overlay options, $3 merged dir, $4 pid file, $5 sessions lock
    lines = SUPERVISOR_SCRIPT.splitlines()
    assert lines[0] == "set -eu"
    assert 'cd "$1"' in lines
    assert 'mount -t overlay devbox -o "$2" "$3"' in lines
    assert 'exec 9>>"$5"' in lines
    # the pid file appears atomically, after the mounts, and goes before the unmount
    assert lines.index('mv -f "$4.new" "$4"') > lines.index('mount -t overlay devbox -o "$2" "$3"')
    assert (
        lines.index("flock -x 9")
        < lines.index('rm -f "$4"')
        < lines.index('umount "$3/run" "$3/tmp" "$3"')
    )


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
        "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", BUILD_SCRIPT, "devbox-build",
        "/s",
        "lowerdir=layers/a/rootfs,upperdir=layers/.tmp-b/rootfs,workdir=layers/.tmp-b/work",
        "/s/layers/.tmp-b/merged",
        "bwrap", "--bind", "/s/m", "/", "--", "/bin/sh", "-c", "apt-get install -y git",
    ]  # fmt: skip


def test_build_script_runs_the_command_after_its_three_arguments() -> None:
    assert BUILD_SCRIPT.splitlines() == [
        "set -eu",
        'cd "$1"',
        'mount -t overlay devbox-build -o "$2" "$3"',
        "shift 3",
        'exec "$@"',
    ]


# -- overlay options -----------------------------------------------------------------------------


def test_overlay_options() -> None:
    opts = overlay_options(
        ["layers/top/rootfs", "layers/bottom/rootfs"], "projects/p/upper", "projects/p/work"
    )
    assert opts == (
        "lowerdir=layers/top/rootfs:layers/bottom/rootfs,"
        "upperdir=projects/p/upper,workdir=projects/p/work,"
        "redirect_dir=off,metacopy=off,index=off,xino=off"
    )


def test_overlay_options_with_userxattr() -> None:
    opts = overlay_options(["l"], "u", "w", userxattr=True)
    assert opts == (
        "lowerdir=l,upperdir=u,workdir=w,redirect_dir=off,metacopy=off,index=off,xino=off,userxattr"
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
        "--customize-hook=sync-out /var/cache/apt/archives /s/cache/apt/bookworm",
        '--customize-hook=chroot "$1" ' + DPKG_QUERY + " > /s/layers/.tmp-d/out/packages.tsv",
        "bookworm",
        "/s/layers/.tmp-d/rootfs",
        "http://deb.debian.org/debian",
    ]


def test_mmdebstrap_argv_quotes_paths_in_hooks() -> None:
    argv = mmdebstrap_argv("mmdebstrap", "sid", "/t", "http://m", "/my cache", "/it's out")
    assert "--setup-hook=sync-in '/my cache' /var/cache/apt/archives/" in argv
    assert "--customize-hook=sync-out /var/cache/apt/archives '/my cache'" in argv
    assert argv[7].endswith(""" > '/it'"'"'s out'/packages.tsv""")


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


def test_shell_quote_env() -> None:
    env = {"A": "1", "B": "two words", "C": "it's", "D": ""}
    assert shell_quote_env(env) == "A=1 B='two words' C='it'\"'\"'s' D=''"
