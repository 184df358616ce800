"""[share] gpu = true (devbox/sandbox/gpu.py): which nodes, libraries, tools and vendor files a
host's GPU gives a box, from a fake /dev and fake `ldconfig -p` output, and the session argv and
binds they make, against golden files (DEVBOX_UPDATE_GOLDEN=1 rewrites them); on a host without
a GPU, the message."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devbox.errors import DevboxError
from devbox.sandbox import argv, gpu

GOLDEN = Path(__file__).with_name("golden")
UPDATE = bool(os.environ.get("DEVBOX_UPDATE_GOLDEN"))

LDCONFIG = """\
1234 libs found in cache `/etc/ld.so.cache'
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1
\tlibnvidia-ml.so.1 (libc6) => /usr/lib/i386-linux-gnu/libnvidia-ml.so.1
\tlibnvidia-ml.so (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so
\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
\tlibcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1
\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1
\tlibGLX_nvidia.so.0 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0
\tlibGLX.so.0 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libGLX.so.0
\tlibGLESv2.so.2 (libc6,x86-64, hwcap: 0x0000000000000002) => /opt/gl/libGLESv2.so.2
\tlibnvidia-egl-wayland.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-egl-wayland.so.1
\tlibnvoptix.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvoptix.so.1
\tlibGLU.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libGLU.so.1
\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12
"""
DRI = ["card0", "card1", "renderD128", "renderD129", "by-path"]
DEV_NVIDIA = ["null", "nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
              "nvidia-modeset", "nvidia-caps", "nvidiafoo", "dri", "tty"]  # fmt: skip
TOOLS = {"nvidia-smi": "/usr/bin/nvidia-smi", "nvidia-persistenced": "/usr/bin/nvidia-persistenced"}
VENDOR = {"/usr/share/glvnd/egl_vendor.d/10_nvidia.json", "/usr/share/vulkan/icd.d/nvidia_icd.json"}


def nvidia_host() -> gpu.Gpu:
    return gpu.find(DRI, DEV_NVIDIA, LDCONFIG, "x86_64", TOOLS.get, VENDOR.__contains__)


def mesa_host() -> gpu.Gpu:
    return gpu.find(["card0", "renderD128"], ["null", "dri"], LDCONFIG, "x86_64", TOOLS.get,
                    VENDOR.__contains__)  # fmt: skip


def session_argv(found: gpu.Gpu, box_env: dict[str, str]) -> str:
    """What a session gets: its bwrap argv (one word a line) and the env it gains."""
    s = argv.Session(root="/merged", argv=("nvidia-smi",), cwd="/w", binds=tuple(found.binds()))
    words = argv.bwrap_argv("/usr/bin/bwrap", s)
    return "\n".join(words) + "\n--- env\n" + json.dumps(found.env(box_env), indent=1) + "\n"


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()


def test_an_nvidia_hosts_nodes_libraries_tools_and_vendor_files() -> None:
    found = nvidia_host()
    assert found.devices == (
        "/dev/dri/card0", "/dev/dri/card1", "/dev/dri/renderD128", "/dev/dri/renderD129",
        "/dev/nvidia-modeset", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0",
        "/dev/nvidia1", "/dev/nvidiactl",
    )  # fmt: skip
    assert dict(found.libraries) == {
        "libGLESv2.so.2": "/opt/gl/libGLESv2.so.2",
        "libGLX.so.0": "/usr/lib/x86_64-linux-gnu/libGLX.so.0",
        "libGLX_nvidia.so.0": "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0",
        "libcuda.so.1": "/usr/lib/x86_64-linux-gnu/libcuda.so.1",  # the loader's first
        "libnvidia-egl-wayland.so.1": "/usr/lib/x86_64-linux-gnu/libnvidia-egl-wayland.so.1",
        "libnvidia-ml.so": "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so",
        "libnvidia-ml.so.1": "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        "libnvoptix.so.1": "/usr/lib/x86_64-linux-gnu/libnvoptix.so.1",
    }, "no 32-bit library, none off the list (libGLU, the CUDA runtime is the box's own)"
    assert found.binaries == ("/usr/bin/nvidia-smi", "/usr/bin/nvidia-persistenced")
    assert found.vendor_files == tuple(sorted(VENDOR))


def test_an_nvidia_hosts_session_argv_and_env_are_golden() -> None:
    text = session_argv(nvidia_host(), {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/opt/x"})
    check_golden("gpu-nvidia.txt", text)
    assert "--dev-bind-try\n/dev/nvidiactl\n/dev/nvidiactl\n" in text
    cuda = "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
    assert f"--ro-bind-try\n{cuda}\n{gpu.LIB_DIR}/libcuda.so.1\n" in text


def test_a_mesa_hosts_session_gets_its_nodes_alone() -> None:
    found = mesa_host()
    assert found == gpu.Gpu(("/dev/dri/card0", "/dev/dri/renderD128"))
    assert found.env({"PATH": "/usr/bin"}) == {}
    check_golden("gpu-mesa.txt", session_argv(found, {"PATH": "/usr/bin"}))


def test_the_library_path_follows_the_boxs_own() -> None:
    found = nvidia_host()
    assert found.env({"PATH": "/bin"}) == {
        "LD_LIBRARY_PATH": gpu.LIB_DIR,
        "PATH": f"/bin:{gpu.BIN_DIR}",
    }
    assert found.env({"PATH": "/bin", "LD_LIBRARY_PATH": "/a:/b"})["LD_LIBRARY_PATH"] == (
        f"/a:/b:{gpu.LIB_DIR}"
    )


def test_libraries_of_another_machine_and_odd_lines() -> None:
    out = "\tlibcuda.so.1 (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/libcuda.so.1\n"
    out += "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n"
    out += "garbage\n\tlibcuda.so.2 (libc6,x86-64) => not-absolute\n"
    assert gpu.libraries(out, "aarch64") == (
        ("libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"),
    )
    assert gpu.libraries(out, "riscv64") == (
        ("libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1"),
    )
    assert gpu.libraries("", "x86_64") == ()


def test_a_host_without_a_gpu_is_told_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        gpu, "_listdir", lambda path: ["null", "zero", "tty0"] if path == "/dev" else []
    )
    with pytest.raises(DevboxError) as info:
        gpu.probe()
    assert info.value.message == (
        "[share] gpu = true, but this host has no GPU: no card or render node in /dev/dri and "
        "no /dev/nvidia* device"
    )
    assert info.value.hint is not None and "gpu = false" in info.value.hint


def test_this_host() -> None:
    """This machine has no GPU (the CI's); where one has, it is found."""
    has = any(n.startswith(("card", "renderD")) for n in gpu._listdir(gpu.DRI))
    has = has or "nvidiactl" in gpu._listdir("/dev")
    if has:
        assert gpu.probe().devices
    else:
        with pytest.raises(DevboxError, match="this host has no GPU"):
            gpu.probe()
