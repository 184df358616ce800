"""[share] audio = true, for real: a PulseAudio server on the host (Debian's pulseaudio, as the
user's session runs it: its socket at $XDG_RUNTIME_DIR/pulse/native, a null sink of a name of
its own) is reached from a box with Debian's pactl and pacat; a box without `audio` reaches no
server. As root (tier 1); the bind itself is golden in tests/unit/test_share.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Devbox, MakeProject, launch

pytestmark = pytest.mark.integration

SPEC = """\
[box]
name = "{name}"
base = "debian:bookworm"

[packages]
apt = ["pulseaudio-utils"]
{share}"""
SINK = "devbox_test_sink"
# 0.2 s of silence, 16-bit stereo at 44.1 kHz, played to the end (pacat waits for the drain)
PLAY = "head -c 35280 /dev/zero | pacat --raw --format=s16le --rate=44100 --channels=2"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The user's session: a runtime dir (0700) with a PulseAudio server in it."""
    missing = [t for t in ("pulseaudio", "pactl") if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing {missing}: SETUP_FOR_TESTS=1 bash scripts/setup.sh installs them")
    home = tmp_path_factory.mktemp("audio-home")
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    argv = [
        *("pulseaudio", "-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1"),
        *(f"--load=module-null-sink sink_name={SINK}", "--load=module-native-protocol-unix"),
    ]
    server = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (runtime / "pulse" / "native").exists():
            assert server.poll() is None, f"pulseaudio died: {server.stderr!r}"
            assert time.monotonic() < deadline, "pulseaudio never made its socket"
            time.sleep(0.1)
        yield env
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def project(make: MakeProject, name: str, share: str) -> Path:
    return make(name, SPEC.format(name=name, share=share))


def test_a_box_with_audio_plays_through_the_hosts_pulseaudio(
    devbox: Devbox, make_project: MakeProject, session: dict[str, str]
) -> None:
    where = project(make_project, "audio", "\n[share]\naudio = true\n")
    r = devbox("run", "--", "pactl", "info", cwd=where, env=session)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Server String: unix:/run/devbox-host/pulse-native" in r.stdout, r.stdout
    assert f"Default Sink: {SINK}" in r.stdout, r.stdout
    r = launch(devbox, where, "sh", "-c", f"pactl list short sinks; {PLAY}", extra=session)
    assert r.returncode == 0, r.stderr
    assert SINK in r.stdout.split(), r.stdout
    r = launch(devbox, where, "ls", "-a", "/run/devbox-host", extra=session)
    assert r.stdout.split() == [".", "..", "pulse-native"], "the socket alone, not its directory"


def test_a_box_without_audio_reaches_no_sound_server(
    devbox: Devbox, make_project: MakeProject, session: dict[str, str]
) -> None:
    where = project(make_project, "no-audio", "")
    r = devbox("run", "--", "sh", "-c", "pactl info; echo status=$?", cwd=where, env=session)
    assert r.stdout.strip().endswith("status=1"), r.stdout + r.stderr
    assert "Connection refused" in r.stderr or "Connection failure" in r.stderr, r.stderr
