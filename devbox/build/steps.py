"""Pure argv and scripts of build steps: the base's mmdebstrap, a step over the lower layers
(mount the overlay, run bwrap), the apt and [setup] scripts. Nothing here runs anything; every
function is golden-tested (tests/unit/test_sandbox.py). The tier is the `UserNs` parameter.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from devbox.sandbox.argv import unshare_argv
from devbox.sandbox.host import UserNs

BUILD_OUT = "/tmp/devbox-out"


APT_ARCHIVES = "/var/cache/apt/archives"


APT_LISTS = "/var/lib/apt/lists"


# apt's binary cache of the lists (parsing them: ~0.5 s here) is kept beside them in the lists
# dir (a bind of the suite's cache, never in a layer), seeded by the bootstrap's apt: every apt
# command after it reuses it, and apt makes it again when the lists changed. Not the status's.
SRCPKGCACHE = f"{APT_LISTS}/devbox-srcpkgcache.bin"
APT_CACHE_FILES = f"-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache={SRCPKGCACHE}"


APT_HELPER = "/usr/lib/apt/apt-helper"  # apt's own fetcher (checks a file's hash)


# A build step: mount the layer being built over the layers below it, run the step in bwrap.
# The mount points bwrap made are removed after it, each from its real parent directory (the
# step may have made a component a symlink to a host path: rmdir never goes through one).
BUILD_SCRIPT = r"""set -eu
cd "$1"
mount -t overlay devbox-build -o "$2" "$3"
merged=$3
cleanup=$4
shift 4
rc=0
"$@" || rc=$?
if [ -n "$cleanup" ]; then
  printf '%s\n' "$cleanup" | while IFS= read -r d; do
    (
      cd -P "$merged" && m=$PWD || exit 1
      case $d in */*) cd -P "${d%/*}" && [ "$PWD" = "$m/${d%/*}" ] || exit 1 ;; esac
      rmdir "${d##*/}"
    ) 2>/dev/null || :
  done
fi
exit "$rc"
"""


def build_argv(
    unshare: str,
    userns: UserNs | None,
    store_root: str,
    options: str,
    merged: str,
    bwrap_cmd: Sequence[str],
    rmdirs: Sequence[str] = (),
    *,
    setpriv: str = "setpriv",
) -> list[str]:
    """`rmdirs`: mount points bwrap made in the new layer (merged-relative, deepest first),
    removed through the overlay after the step, so they do not end up in the layer."""
    return [
        *unshare_argv(unshare, userns, pid=True, setpriv=setpriv),
        "/bin/sh", "-c", BUILD_SCRIPT, "devbox-build",
        store_root, options, merged, "\n".join(rmdirs), *bwrap_cmd,
    ]  # fmt: skip


def apt_script(
    packages: Sequence[str],
    out: str = BUILD_OUT,
    *,
    sandbox_root: bool = False,
    pins: Mapping[str, str] | None = None,
    cached_lists: bool = False,
) -> str:
    """What runs in the box to build an apt layer. Lists and .debs live in bind-mounted caches,
    so they never land in the layer. With `pins` (from devbox.lock) every pinned package is
    installed at exactly its version; versions the archive does not have are listed in
    OUT/unavailable and the script fails (status 3) before installing anything.
    `cached_lists`: the suite's lists are already in the cache (the base's bootstrap leaves them
    there): use them, and update only when they do not have or fetch what is asked for."""
    opts = f"{APT_CACHE_FILES} -o APT::Keep-Downloaded-Packages=true"
    if sandbox_root:  # tier 3: apt cannot drop to _apt in a single-uid namespace
        opts += " -o APT::Sandbox::User=root"
    update = f"apt-get {opts} -q update"
    args = list(packages)
    steps: list[str] = []
    if pins:
        pinned = [f"{name}={version}" for name, version in sorted(pins.items())]
        requested = {p.split("=", 1)[0] for p in packages}
        args = pinned + [p for p in packages if p.split("=", 1)[0] not in pins]
        q_out = shlex.quote(out)
        check = [
            f"rm -f {q_out}/unavailable",
            f"for p in {' '.join(shlex.quote(p) for p in pinned)}; do",
            f'  found="$(apt-cache {opts} show -- "$p" 2>/dev/null)" || found=',
            f'  [ -n "$found" ] || echo "$p" >> {q_out}/unavailable',
            "done",
        ]
        steps += check
        if cached_lists:
            steps += [f"if [ -s {q_out}/unavailable ]; then", f"  {update}", *check, "fi"]
        steps += [
            f"if [ -s {q_out}/unavailable ]; then",
            f"  echo 'devbox: the archive does not have:'; cat {q_out}/unavailable; exit 3",
            "fi",
        ]
    pkgs = " ".join(shlex.quote(p) for p in args)
    install = f"apt-get {opts} -q -y --no-install-recommends install -- {pkgs}"
    if cached_lists:
        steps += [
            f"if ! {install}; then",
            "  echo 'devbox: the cached package lists did not do; updating them'",
            f"  {update}",
            f"  {install}",
            "fi",
        ]
    else:
        steps = [update, *steps, install]
    if pins:
        auto = sorted(set(pins) - requested)
        if auto:
            steps.append(
                f"apt-mark {opts} auto -- {' '.join(shlex.quote(p) for p in auto)} >/dev/null"
            )
    return "\n".join(
        ["set -eu", "export DEBIAN_FRONTEND=noninteractive", *steps, packages_query(out)]
    )


def setup_script(steps: Sequence[str], workdir: str, out: str = BUILD_OUT) -> str:
    lines = ["set -eu", f"cd {shlex.quote(workdir)}"]
    for i, step in enumerate(steps, 1):
        lines.append(f"echo {shlex.quote(f'devbox: setup step {i}/{len(steps)}: {step}')}")
        lines.append(f"/bin/sh -c {shlex.quote(step)}")
    lines.append(packages_query(out))
    return "\n".join(lines)


def packages_query(out: str) -> str:
    fmt = r"${Package}\t${Version}\t${Architecture}\n"
    return f"dpkg-query -W -f '{fmt}' > {shlex.quote(out)}/packages.tsv"


# Tier 3: devpts cannot be mounted with gid=5 in a single-uid namespace, and device nodes
# cannot be made; bind the host's few device nodes into the chroot for the bootstrap instead.
_DEVS = "null zero full random urandom tty"


_BIND_DEVS = (
    f'for f in {_DEVS}; do rm -f "$1/dev/$f"; touch "$1/dev/$f"; '
    'mount --bind "/dev/$f" "$1/dev/$f"; done'
)


_UNBIND_DEVS = f'for f in {_DEVS}; do umount "$1/dev/$f"; rm -f "$1/dev/$f"; done'


def _in_chroot(inside: str) -> str:
    """A customize hook's start: into `inside` of the chroot, or the build stops (a link)."""
    return f'--customize-hook=d="$(cd -P "$1" && pwd)/{inside}" && cd -P "$d" && [ "$PWD" = "$d" ]'


def _copy_srcpkgcache(lists: str, out: str) -> str:
    """A hook keeping the bootstrap apt's cache of the lists beside them (SRCPKGCACHE): not a
    link, copied to the private `out` and renamed in (replacing a link planted there)."""
    q = shlex.quote
    tmp, dst = q(f"{out}/srcpkgcache.bin"), q(f"{lists}/{SRCPKGCACHE.rsplit('/', 1)[1]}")
    return (
        f"{_in_chroot('var/cache/apt')} && if [ -f srcpkgcache.bin ] && [ ! -h srcpkgcache.bin ];"
        f" then cp srcpkgcache.bin {tmp} && mv -f {tmp} {dst}; fi"
    )


def _copy_out(inside: str, outside: str) -> str:
    """A hook copying a chroot dir to `outside` as `sync-out` does, through a plain pipe (its
    tar relayed by perl 4 KiB at a time: ~0.3 s for a base's .debs or lists, ~0.1 s so)."""
    return f"{_in_chroot(inside)} && tar -c . | tar -C {shlex.quote(outside)} -x"


def mmdebstrap_argv(
    mmdebstrap: str,
    suite: str,
    target: str,
    mirror: str,
    cache: str,
    out: str,
    *,
    single_uid: bool = False,
    lists: str | None = None,
    fetch: str | None = None,
) -> list[str]:
    """A minbase bootstrap; .debs are synced in from and out to a per-suite cache, and
    apt's lists out to `lists` (so apt layers on this suite need no `apt-get update`).
    mmdebstrap runs as (namespace) root in our own namespace, so the layer gets our uid map.
    `fetch`: the dir of a fetch ahead (build.ahead). Setup hooks wait (at most WAIT_S) for it
    (`_wait_for_fetch`): its checked lists are copied in and mmdebstrap skips its own update,
    and the cache is synced in only once the essential packages are in it, so mmdebstrap
    downloads nothing; the fetch adds to the cache again only once its `synced` file says that
    copy is done. Its `fetched` file names the .debs it put in the cache after that; the
    essential hook copies those in (not a link) for the rest."""
    fmt = r"${Package}\t${Version}\t${Architecture}\n"
    q = shlex.quote
    argv = [
        mmdebstrap, "--variant=minbase", "--mode=root", "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        *(_wait_for_fetch(fetch) if fetch else []),
        f"--setup-hook=sync-in {q(cache)} /var/cache/apt/archives/",
        *([f"--setup-hook=touch {q(fetch + '/synced')}"] if fetch else []),
    ]  # fmt: skip
    if single_uid:
        argv += [
            "--skip=chroot/mount/dev",
            '--aptopt=APT::Sandbox::User "root"',
            '--setup-hook=mkdir -p "$1/dev"',
            f"--extract-hook={_BIND_DEVS}",
        ]
    if fetch:
        fetched = f"{fetch}/fetched"
        argv.append(
            f"--essential-hook=if [ -f {q(fetched)} ]; then while IFS= read -r f; do "
            f'g={q(cache)}/"$f"; if [ -f "$g" ] && [ ! -h "$g" ]; then '
            f'cp -p -- "$g" "$1"/var/cache/apt/archives/ || :; fi; done < {q(fetched)}; fi'
        )
    argv += [
        _copy_out("var/cache/apt/archives", cache),
        *([_copy_out("var/lib/apt/lists", lists), _copy_srcpkgcache(lists, out)] if lists else []),
        f"--customize-hook=chroot \"$1\" dpkg-query -W -f '{fmt}' > {q(out)}/packages.tsv",
    ]
    if single_uid:
        argv.append(f"--customize-hook={_UNBIND_DEVS}")
    return [*argv, suite, target, mirror]


WAIT_S = 300  # the longest a bootstrap waits for a fetch ahead's essential packages


def _wait_for_fetch(fetch: str) -> list[str]:
    """The setup hooks that wait for a fetch ahead (`mmdebstrap_argv`). The first waits for its
    `updated` (or `ready`) file and copies its lists (regular files, not its lock) into the
    chroot, which nothing but mmdebstrap has written. Lists the fetch's update checked in full
    are what mmdebstrap's own update would get: apt's caches are made from them, beside the
    fetch's downloads, which tells mmdebstrap to skip its update. The second waits for
    `ready`: the essential packages are in the cache."""
    q = shlex.quote
    ready, updated, lists = q(f"{fetch}/ready"), q(f"{fetch}/updated"), q(f"{fetch}/lists")
    ticks = WAIT_S * 50

    def wait(*files: str) -> str:
        none = " && ".join(f"[ ! -e {f} ]" for f in files)
        return f'i=0; while {none} && [ "$i" -lt {ticks} ]; do sleep 0.02; i=$((i + 1)); done'

    return [
        f"--setup-hook={wait(updated, ready)}; "
        f'L="$1"/var/lib/apt/lists; mkdir -p "$L"/partial && for f in {lists}/*; do '
        'if [ -f "$f" ] && [ ! -h "$f" ] && [ "${f##*/}" != lock ]; then cp -p -- "$f" "$L"/; fi; '
        f'done; if [ -e {updated} ]; then mkdir -p "$L"/auxfiles && touch "$L"/lock && '
        'APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-cache gencaches >/dev/null '
        '|| rm -f "$1"/var/cache/apt/pkgcache.bin "$1"/var/cache/apt/srcpkgcache.bin; fi',
        f"--setup-hook={wait(ready)}",
    ]


def apt_narrow(suite: str, arch: str) -> str:
    """The condition mmdebstrap narrows its package sets with (the suite, the native arch)."""
    return f"?or(?archive(^{suite}$),?codename(^{suite}$)),?architecture({arch})"


def fetch_apt_conf(root: str, arch: str, trusted: str, parts: str) -> str:
    """apt's whole configuration for fetching ahead (APT_CONFIG): everything under `root`, none
    of the host's apt.conf.d or sources (as mmdebstrap's own apt), the host's keyrings to check
    the release with (`trusted`, `parts`, as mmdebstrap takes them), downloads as the
    namespace's root (the dirs are the store's, 0700)."""
    if any('"' in x or "\n" in x for x in (root, trusted, parts)):
        raise ValueError("a store path apt's configuration cannot quote")
    d = root.rstrip("/")
    items = {
        "Apt::Architecture": arch, "Apt::Architectures": arch, "Dir": f"{d}/",
        "Dir::Etc::SourceList": f"{d}/sources.list", "Dir::Etc::SourceParts": f"{d}/parts/",
        "Dir::Etc::Parts": f"{d}/parts/", "Dir::Etc::Preferences": f"{d}/preferences",
        "Dir::Etc::PreferencesParts": f"{d}/prefs/", "Dir::Etc::Trusted": trusted,
        "Dir::Etc::TrustedParts": parts, "Dir::State": f"{d}/state/",
        "Dir::State::Status": f"{d}/state/status", "Dir::State::Lists": f"{d}/lists/",
        "Dir::Cache": f"{d}/cache/", "Dir::Cache::Archives": f"{d}/cache/",
        "Dir::Cache::pkgcache": "",  # the empty status: cheap to add to the lists' cache
        "Dir::Log": f"{d}/state/", "Apt::Install-Recommends": "false",
        "Acquire::Languages": "none", "pkgCacheGen::ForceEssential": ",",
        "APT::Sandbox::User": "root",
    }  # fmt: skip
    return "".join(f'{k} "{v}";\n' for k, v in items.items())
