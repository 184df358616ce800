"""Which privilege tier a user gets, the uid maps of each tier, and diagnosing userns failures."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from types import SimpleNamespace

import pytest

from devbox.errors import HostError
from devbox.sandbox import host
from devbox.sandbox.host import Tier, UserNs, current_tier, sub_range, userns_failure

SUBIDS = """\
# comment lines and junk are skipped
alice:100000:65536
bob:200000:1000
bob:300000:65536
bob:400000:65536
1003:500000:131072
garbage
carol:abc:65536
carol:600000
carol:700000:65536:extra
carol:800000:65536
alice2:1000000:65536
"""
SUBIDS += "  dave:900000:70000  \n"  # surrounding blanks


@pytest.fixture
def subids(tmp_path: Path) -> str:
    path = tmp_path / "subuid"
    path.write_text(SUBIDS)
    return str(path)


# -- sub_range -----------------------------------------------------------------------------------


def test_sub_range_by_name(subids: str) -> None:
    assert sub_range(subids, "alice", 1000) == (100000, 65536)


def test_sub_range_by_numeric_uid(subids: str) -> None:
    assert sub_range(subids, "erin", 1003) == (500000, 131072)


def test_sub_range_skips_ranges_smaller_than_65536_and_takes_the_first_big_one(
    subids: str,
) -> None:
    assert sub_range(subids, "bob", 1002) == (300000, 65536)


def test_sub_range_skips_malformed_lines(subids: str) -> None:
    assert sub_range(subids, "carol", 1004) == (800000, 65536)


def test_sub_range_strips_whitespace(subids: str) -> None:
    assert sub_range(subids, "dave", 1005) == (900000, 70000)


def test_sub_range_matches_whole_names_and_numbers(subids: str) -> None:
    assert sub_range(subids, "alice2", 1000) == (1000000, 65536)
    assert sub_range(subids, "ali", 100) is None
    assert sub_range(subids, "1003x", 100) is None
    assert sub_range(subids, "erin", 100) is None


def test_sub_range_only_small_ranges_is_none(tmp_path: Path) -> None:
    path = tmp_path / "subuid"
    path.write_text("frank:100000:65535\n")
    assert sub_range(str(path), "frank", 1000) is None


def test_sub_range_of_a_missing_or_unreadable_file_is_none(tmp_path: Path) -> None:
    assert sub_range(str(tmp_path / "no-such-file"), "alice", 1000) is None
    assert sub_range(str(tmp_path), "alice", 1000) is None  # a directory


def test_sub_range_of_an_empty_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text("")
    assert sub_range(str(tmp_path / "subuid"), "alice", 1000) is None


# -- Tier ----------------------------------------------------------------------------------------

T1 = Tier(1, 0, 0, "root")
T2 = Tier(2, 1000, 1001, "alice", (100000, 65536), (200000, 131072))
T3 = Tier(3, 1000, 1001, "alice")


def test_tier_keys() -> None:
    assert T1.key == "root"
    assert T2.key == "sub:1000:1001:100000+200000"
    assert T3.key == "single:1000:1001"


def test_tier_keys_are_distinct_and_stable() -> None:
    assert len({T1.key, T2.key, T3.key}) == 3
    assert Tier(2, 1000, 1001, "alice", (100000, 65536), (200000, 131072)).key == T2.key
    assert Tier(3, 1000, 1001, "someone-else").key == T3.key  # the map, not the name
    assert Tier(3, 1000, 1002, "alice").key != T3.key
    assert Tier(2, 1000, 1001, "alice", (100001, 65536), (200000, 131072)).key != T2.key


def test_tier_1_has_no_user_namespace_and_no_seccomp() -> None:
    assert T1.userns is None
    assert not T1.seccomp


def test_tier_2_maps_the_user_and_65536_subids_and_becomes_root() -> None:
    flags = (
        "--user",
        "--map-user=1000",
        "--map-group=1001",
        "--map-users=100000,0,65536",
        "--map-groups=200000,0,65536",  # a bigger range is still mapped 65536 wide
        "--setuid", "0",
        "--setgid", "0",
    )  # fmt: skip
    assert T2.userns == UserNs(flags, ("--user",))
    assert T2.userns is not None and T2.userns.join_flags == ("--user",)
    assert not T2.seccomp


def test_tier_3_is_a_single_uid_namespace_with_seccomp() -> None:
    assert T3.userns == UserNs(("--user", "--map-root-user"), ("--user", "--preserve-credentials"))
    assert T3.seccomp


def test_tier_descriptions() -> None:
    assert T1.describe() == "tier 1: root on the host; no user namespace"
    assert T2.describe() == "tier 2: user namespace with your subuid range (100000, 65536) mapped"
    assert T3.describe() == (
        "tier 3: single-uid user namespace with a seccomp filter (no subuid range)"
    )


# -- current_tier --------------------------------------------------------------------------------


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """An unprivileged alice (1000:1001) with subuid/subgid ranges and newuidmap installed;
    tests change the parts they are about."""
    state = SimpleNamespace(
        euid=1000, uid=1000, gid=1001, names={1000: "alice"}, helpers=True, tmp=tmp_path
    )
    (tmp_path / "subuid").write_text("alice:100000:65536\n")
    (tmp_path / "subgid").write_text("alice:200000:65536\n")
    files = {"/etc/subuid": str(tmp_path / "subuid"), "/etc/subgid": str(tmp_path / "subgid")}
    real_sub_range = host.sub_range

    def getpwuid(uid: int) -> SimpleNamespace:
        if uid not in state.names:
            raise KeyError(uid)
        return SimpleNamespace(pw_name=state.names[uid])

    def which(name: str) -> str | None:
        if name in ("newuidmap", "newgidmap"):
            return f"/usr/bin/{name}" if state.helpers else None
        return f"/usr/bin/{name}"

    monkeypatch.setattr(os, "geteuid", lambda: state.euid)
    monkeypatch.setattr(os, "getuid", lambda: state.uid)
    monkeypatch.setattr(os, "getgid", lambda: state.gid)
    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    monkeypatch.setattr(host, "which", which)
    monkeypatch.setattr(
        host, "sub_range", lambda path, name, ident: real_sub_range(files[path], name, ident)
    )
    monkeypatch.delenv("DEVBOX_TIER", raising=False)
    monkeypatch.delenv("USER", raising=False)
    return state


def test_root_is_tier_1(fake_host: SimpleNamespace) -> None:
    fake_host.euid = fake_host.uid = fake_host.gid = 0
    fake_host.names[0] = "root"
    assert current_tier() == Tier(1, 0, 0, "root")


def test_root_stays_tier_1_even_with_devbox_tier_3(
    fake_host: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_host.euid = fake_host.uid = fake_host.gid = 0
    fake_host.names[0] = "root"
    monkeypatch.setenv("DEVBOX_TIER", "3")
    assert current_tier().level == 1


def test_a_user_with_subids_and_newuidmap_is_tier_2(fake_host: SimpleNamespace) -> None:
    assert current_tier() == Tier(2, 1000, 1001, "alice", (100000, 65536), (200000, 65536))


def test_subids_may_be_listed_by_uid(fake_host: SimpleNamespace) -> None:
    (fake_host.tmp / "subuid").write_text("1000:100000:65536\n")
    (fake_host.tmp / "subgid").write_text("1000:200000:65536\n")
    assert current_tier().level == 2


def test_devbox_tier_3_forces_tier_3(
    fake_host: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_TIER", "3")
    assert current_tier() == Tier(3, 1000, 1001, "alice")


def test_other_devbox_tier_values_change_nothing(
    fake_host: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_TIER", "2")
    assert current_tier().level == 2


def test_no_subuid_range_is_tier_3(fake_host: SimpleNamespace) -> None:
    (fake_host.tmp / "subuid").write_text("bob:100000:65536\n")
    assert current_tier() == Tier(3, 1000, 1001, "alice")


def test_no_subgid_range_is_tier_3(fake_host: SimpleNamespace) -> None:
    (fake_host.tmp / "subgid").unlink()
    assert current_tier() == Tier(3, 1000, 1001, "alice")


def test_a_too_small_range_is_tier_3(fake_host: SimpleNamespace) -> None:
    (fake_host.tmp / "subuid").write_text("alice:100000:1000\n")
    assert current_tier().level == 3


def test_no_newuidmap_is_tier_3(fake_host: SimpleNamespace) -> None:
    fake_host.helpers = False
    assert current_tier() == Tier(3, 1000, 1001, "alice")


def test_a_user_missing_from_passwd_is_named_by_user(
    fake_host: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_host.names.clear()
    monkeypatch.setenv("USER", "alice")
    assert current_tier() == Tier(2, 1000, 1001, "alice", (100000, 65536), (200000, 65536))


def test_a_user_missing_from_passwd_and_env_is_named_by_uid(fake_host: SimpleNamespace) -> None:
    fake_host.names.clear()
    assert current_tier() == Tier(3, 1000, 1001, "1000")


# -- userns_failure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        "",
        "E: Unable to locate package nosuchpackage",
        "mount: /s/m: permission denied.",
        "dpkg: error: No space left on device",
        "bwrap: Can't mkdir /x: Operation not permitted",
    ],
)
def test_userns_failure_ignores_unrelated_output(output: str) -> None:
    assert userns_failure(output) is None


def test_userns_failure_no_namespaces_left() -> None:
    err = userns_failure("unshare: unshare failed: No space left on device\n")
    assert isinstance(err, HostError)
    assert "max_user_namespaces" in err.message
    assert "unshare: unshare failed: No space left on device" in err.message
    assert err.hint is not None
    assert "sudo sysctl -w user.max_user_namespaces=" in err.hint


def test_userns_failure_unprivileged_namespaces_disabled() -> None:
    err = userns_failure("some log line\nunshare: unshare failed: Operation not permitted\n")
    assert isinstance(err, HostError)
    assert "unprivileged user namespaces" in err.message
    assert "AppArmor" in err.message
    assert err.message.endswith("(unshare: unshare failed: Operation not permitted)")
    assert err.hint is not None
    assert "sysctl -w kernel.unprivileged_userns_clone=1" in err.hint
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in err.hint


@pytest.mark.parametrize(
    "output",
    [
        "newuidmap: write to uid_map failed: Operation not permitted\n",
        "newgidmap: open of gid_map failed: Permission denied\n",
    ],
)
def test_userns_failure_newuidmap_refused(output: str) -> None:
    err = userns_failure(output)
    assert isinstance(err, HostError)
    assert "newuidmap/newgidmap" in err.message
    assert err.hint is not None
    assert "/etc/subuid" in err.hint
    assert "DEVBOX_TIER=3" in err.hint


def test_userns_failure_other_unshare_errors_point_at_doctor() -> None:
    err = userns_failure("unshare: unshare failed: Invalid argument")
    assert isinstance(err, HostError)
    assert err.hint is not None and "devbox doctor" in err.hint


def test_userns_failure_newuidmap_range_not_allowed() -> None:
    # verbatim from `unshare --map-users=100000,0,65536 ...` run by a user without that range
    err = userns_failure("newuidmap: uid range [0-65534) -> [100000-165534) not allowed\n")
    assert isinstance(err, HostError)
    assert err.hint is not None and "/etc/subuid" in err.hint


def test_userns_failure_ubuntu_apparmor_uid_map_write() -> None:
    err = userns_failure("unshare: write failed /proc/self/uid_map: Operation not permitted\n")
    assert isinstance(err, HostError)
    assert err.hint is not None and "apparmor_restrict_unprivileged_userns=0" in err.hint


def test_ca_files_are_what_ca_bundle_looks_at_up_to_the_one_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing, bundle = tmp_path / "missing.pem", tmp_path / "corp.pem"
    bundle.write_text("CA\n")
    monkeypatch.setattr(host, "CA_BUNDLES", (str(missing), str(bundle), "/never/looked/at"))
    monkeypatch.delenv("DEVBOX_HOST_CA", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "gone.pem"))
    assert host.ca_files() == [str(tmp_path / "gone.pem"), str(missing), str(bundle)]
    assert host.ca_bundle() == str(bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert host.ca_files() == [str(bundle)]
    monkeypatch.setenv("DEVBOX_HOST_CA", "0")
    assert host.ca_files() == [] and host.ca_bundle() is None
    monkeypatch.delenv("DEVBOX_HOST_CA")
    monkeypatch.setattr(host, "CA_BUNDLES", (str(missing),))
    monkeypatch.delenv("SSL_CERT_FILE")
    assert host.ca_files() == [str(missing)] and host.ca_bundle() is None
