"""One project's build cannot poison another's: the suite's shared apt caches (lists and .debs
under the store) are written only by apt installing from the Debian archive, never by a [setup]
step, an interpreter download or a session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.actors import Actor

pytestmark = pytest.mark.integration

MARK = b"DEVBOX-TROJAN"

# A hostile [setup] step: plant a trojan hello (a real package, built with dpkg-deb, whose
# postinst runs as root wherever it is installed) among the suite's cached .debs, and make the
# cached lists vouch for it (its SHA256 and size in hello's entry).
POISON = r"""#!/bin/sh
set -u
archives=/var/cache/apt/archives
lists=/var/lib/apt/lists
echo "DEVBOX-TROJAN planted" > "$archives/devbox-planted" || :
packages=$(ls "$lists"/*_Packages 2>/dev/null | head -n 1)
if [ -z "$packages" ]; then
  echo "poison: no cached lists here"
  exit 0
fi
field() { awk -v f="$1:" '/^Package: /{p=($2=="hello")} p && $1==f {print $2; exit}' "$packages"; }
version=$(field Version)
arch=$(field Architecture)
root=/tmp/trojan
mkdir -p "$root/DEBIAN" "$root/usr/bin"
printf 'Package: hello\nVersion: %s\nArchitecture: %s\n' "$version" "$arch" > "$root/DEBIAN/control"
printf 'Maintainer: M <m@example.org>\nDescription: DEVBOX-TROJAN\n' >> "$root/DEBIAN/control"
printf '#!/bin/sh\necho DEVBOX-TROJAN\n' > "$root/usr/bin/hello"
printf '#!/bin/sh\necho DEVBOX-TROJAN > /etc/devbox-trojan\n' > "$root/DEBIAN/postinst"
chmod 755 "$root/usr/bin/hello" "$root/DEBIAN/postinst"
deb="$archives/hello_$(echo "$version" | sed 's/:/%3a/')_$arch.deb"
dpkg-deb -Znone --root-owner-group --build "$root" "$deb" || exit 0
sum=$(sha256sum "$deb" | cut -d ' ' -f 1)
size=$(wc -c < "$deb")
awk -v sum="$sum" -v size="$size" '
/^Package: /{p=($2=="hello")}
p && /^SHA256: /{print "SHA256: " sum; next}
p && /^Size: /{print "Size: " size; next}
p && /^MD5sum: /{next}
{print}' "$packages" > /tmp/Packages && cat /tmp/Packages > "$packages"
echo "poison: planted $deb"
"""

ATTACKER = """\
[box]
name = "{name}"
base = "debian:bookworm"

[setup]
run = ["sh poison.sh"]
"""

VICTIM = """\
[box]
name = "{name}"
base = "debian:bookworm"

[packages]
apt = ["hello", "tree"]
"""


def planted(store: Path) -> list[str]:
    """Files under the store's caches holding the trojan's mark (the planted .deb is built
    uncompressed, so its script's text is in it)."""
    out = []
    for dirpath, _, files in os.walk(store / "cache"):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            with open(path, "rb") as f:
                if MARK in f.read():
                    out.append(str(path))
    return out


def test_a_setup_step_cannot_poison_another_projects_apt_install(actor: Actor) -> None:
    attacker = actor.project("cache-poisoner", files={"poison.sh": POISON})
    spec = attacker / "devbox.toml"
    spec.write_text(ATTACKER.format(name=attacker.name))
    r = actor.devbox("build", cwd=attacker)
    assert r.returncode == 0, r.stdout + r.stderr

    victim = actor.project("cache-victim")
    (victim / "devbox.toml").write_text(VICTIM.format(name=victim.name))
    r = actor.devbox("build", cwd=victim)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "apt hello tree: built" in r.stderr, r.stderr  # installed now, not found in the store
    r = actor.devbox("run", "--", "sh", "-c", "hello; cat /etc/devbox-trojan 2>&1", cwd=victim)
    assert r.stdout.startswith("Hello, world!\n"), r.stdout + r.stderr
    assert "DEVBOX-TROJAN" not in r.stdout
    assert planted(actor.store()) == []


def test_a_session_cannot_reach_the_stores_caches(actor: Actor) -> None:
    """The working tree is bound read-write into every session: one that holds the store (here
    the store's parent directory) must not bring the store into the box."""
    store = actor.store()
    tree = store.parent
    made = [tree / "devbox.toml", tree / "devbox.lock"]
    try:
        made[0].write_text('[box]\nname = "store-holder"\nbase = "debian:bookworm"\n')
        actor.own(made[0])
        caches = store / "cache" / "apt"
        script = (
            f"ls {caches}; for d in {caches}/*/archives {caches}/*/lists {caches}; do "
            'echo DEVBOX-TROJAN > "$d/devbox-planted" && echo "wrote $d"; done; true'
        )
        r = actor.devbox("run", "--", "sh", "-c", script, cwd=tree)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "wrote" not in r.stdout and "bookworm" not in r.stdout, r.stdout
        assert planted(store) == []
    finally:
        for path in made:
            path.unlink(missing_ok=True)
