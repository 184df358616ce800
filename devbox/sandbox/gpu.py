"""[share] gpu = true: the host's GPU in a box. The DRM card and render nodes of /dev/dri (Mesa
drivers in the box use them), and for NVIDIA the driver's device nodes and its user-space
libraries, which must match the host's kernel module and so come from the host: found as
apptainer's `--nv` finds them (its list of library names, matched against `ldconfig -p`), bound
read-only one by one into a directory on the box's library path, with the driver's tools
beside them and the vendor files the NVIDIA container toolkit's CDI specs mount at their own
paths (glvnd's EGL vendor file, the Vulkan ICD).

`find` is pure (the golden tests give it a fake /dev and fake ldconfig output); `probe` looks
at this host."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from devbox.errors import DevboxError
from devbox.sandbox.argv import Bind

GPU_DIR = "/run/devbox-host/gpu"
LIB_DIR = f"{GPU_DIR}/lib"  # on the box's LD_LIBRARY_PATH
BIN_DIR = f"{GPU_DIR}/bin"  # last on its PATH
DRI = "/dev/dri"
_DRI_NODE = re.compile(r"(card|renderD)[0-9]+")
_NVIDIA_NODE = re.compile(r"nvidia([0-9]+|ctl|-uvm|-uvm-tools|-modeset)")
# apptainer's etc/nvliblist.conf: a library is taken when its soname starts with one of these
LIBRARIES = (
    "libcuda.so", "libcudadebugger.so", "libEGL_nvidia.so", "libEGL.so", "libGLdispatch.so",
    "libGLESv1_CM_nvidia.so", "libGLESv1_CM.so", "libGLESv2_nvidia.so", "libGLESv2.so",
    "libGL.so", "libGLX_nvidia.so", "libGLX.so", "libnvcuvid.so", "libnvidia-allocator.so",
    "libnvidia-cbl.so", "libnvidia-cfg.so", "libnvidia-compiler.so", "libnvidia-eglcore.so",
    "libnvidia-egl-wayland.so", "libnvidia-encode.so", "libnvidia-fbc.so",
    "libnvidia-glcore.so", "libnvidia-glsi.so", "libnvidia-glvkspirv.so",
    "libnvidia-gpucomp.so", "libnvidia-ml.so", "libnvidia-ngx.so", "libnvidia-nvvm.so",
    "libnvidia-opencl.so", "libnvidia-opticalflow.so", "libnvidia-pkcs11.so",
    "libnvidia-ptxjitcompiler.so", "libnvidia-rtcore.so", "libnvidia-tls.so",
    "libnvoptix.so", "libOpenCL.so", "libOpenGL.so", "libvdpau_nvidia.so",
)  # fmt: skip
BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
            "nvidia-cuda-mps-server")  # fmt: skip
BINARY_PATH = "/usr/bin:/usr/sbin:/bin:/sbin:/usr/local/bin"  # not $PATH: the same every entry
VENDOR_FILES = (
    "/usr/share/glvnd/egl_vendor.d/10_nvidia.json",
    "/usr/share/vulkan/icd.d/nvidia_icd.json",
    "/usr/share/vulkan/implicit_layer.d/nvidia_layers.json",
    "/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json",
    "/usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json",
)
# ldconfig's tag for this machine's own libraries (a 32-bit one beside them has another)
MACHINE_TAGS = {"x86_64": "x86-64", "aarch64": "AArch64", "ppc64le": "64bit"}
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(/\S.*?)\s*$")
WATCHED = (DRI, "/etc/ld.so.cache")  # a GPU or a driver that comes or goes changes these


@dataclass(frozen=True)
class Gpu:
    devices: tuple[str, ...]  # host device nodes, bound at their own paths
    libraries: tuple[tuple[str, str], ...] = ()  # (soname, host path)
    binaries: tuple[str, ...] = ()  # host paths
    vendor_files: tuple[str, ...] = ()  # host paths, bound at their own paths

    def binds(self) -> list[Bind]:
        out = [Bind(d, d, "dev-try") for d in self.devices]
        out += [Bind(path, f"{LIB_DIR}/{soname}", "ro-try") for soname, path in self.libraries]
        out += [Bind(p, f"{BIN_DIR}/{os.path.basename(p)}", "ro-try") for p in self.binaries]
        return out + [Bind(path, path, "ro-try") for path in self.vendor_files]

    def env(self, box_env: dict[str, str]) -> dict[str, str]:
        """What the box's environment gains: the libraries' dir on its library path (after the
        one [env] sets), the tools' dir last on its PATH."""
        if not self.libraries and not self.binaries:
            return {}
        ld = box_env.get("LD_LIBRARY_PATH")
        out = {"LD_LIBRARY_PATH": f"{ld}:{LIB_DIR}" if ld else LIB_DIR}
        if self.binaries:
            out["PATH"] = f"{box_env.get('PATH', '')}:{BIN_DIR}".lstrip(":")
        return out


def find(
    dri: Iterable[str],
    dev: Iterable[str],
    ldconfig: str,
    machine: str,
    which: Callable[[str], str | None],
    exists: Callable[[str], bool],
) -> Gpu:
    """The GPU of a host whose /dev/dri holds `dri`, whose /dev holds `dev`, whose `ldconfig -p`
    printed `ldconfig`: its nodes, and for NVIDIA (a /dev/nvidiactl) the driver's libraries,
    tools (`which`) and vendor files (`exists`)."""
    devices = [f"{DRI}/{n}" for n in sorted(dri) if _DRI_NODE.fullmatch(n)]
    nvidia = sorted(n for n in dev if _NVIDIA_NODE.fullmatch(n))
    devices += [f"/dev/{n}" for n in nvidia]
    if "nvidiactl" not in nvidia:
        return Gpu(tuple(devices))
    found = (which(name) for name in BINARIES)
    return Gpu(
        tuple(devices),
        libraries(ldconfig, machine),
        tuple(path for path in found if path),
        tuple(path for path in VENDOR_FILES if exists(path)),
    )


def libraries(ldconfig: str, machine: str) -> tuple[tuple[str, str], ...]:
    """(soname, path) of each driver library `ldconfig -p` lists for this machine, the first
    of each soname (ldconfig's order is the loader's)."""
    tag = MACHINE_TAGS.get(machine)
    out: dict[str, str] = {}
    for line in ldconfig.splitlines():
        m = _LDCONFIG_LINE.match(line)
        if m is None:
            continue
        soname, tags, path = m.groups()
        if tag is not None and tag not in tags.split(","):
            continue
        if soname not in out and soname.startswith(LIBRARIES) and "/" not in soname:
            out[soname] = path
    return tuple(sorted(out.items()))


def probe() -> Gpu:
    """This host's GPU (or a DevboxError saying there is none)."""
    dri = _listdir(DRI)
    dev = _listdir("/dev")
    output = ""
    if "nvidiactl" in dev:
        ldconfig = shutil.which("ldconfig", path="/sbin:/usr/sbin:/usr/bin:/bin")
        if ldconfig is not None:
            proc = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=False)
            output = proc.stdout
    gpu = find(dri, dev, output, platform.machine(),
               lambda name: shutil.which(name, path=BINARY_PATH), os.path.isfile)  # fmt: skip
    if not gpu.devices:
        raise no_gpu()
    return gpu


def no_gpu() -> DevboxError:
    return DevboxError(
        "[share] gpu = true, but this host has no GPU: no card or render node in /dev/dri "
        "and no /dev/nvidia* device",
        hint="set gpu = false in devbox.toml's [share] (or load the GPU's driver, which makes "
        "these nodes: `ls -l /dev/dri` shows what there is)",
    )


def describe(gpu: Gpu) -> str:
    """One line for `devbox status`."""
    nodes = ", ".join(gpu.devices)
    if not gpu.libraries:
        return nodes
    return f"{nodes}; {len(gpu.libraries)} NVIDIA driver libraries"


def _listdir(path: str) -> Sequence[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
