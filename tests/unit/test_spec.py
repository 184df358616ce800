from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devbox.errors import DevboxError, SpecError
from devbox.spec.load import find_spec, load_spec, parse_spec
from devbox.spec.model import DEFAULT_MIRROR, SPEC_NAME, Base, Interpreter, Setup, Shell, Spec
from devbox.spec.tables import default_name, relative_path_problem

PROJECT = Path("/home/u/src/webapp")
SPEC_PATH = PROJECT / SPEC_NAME
BOX = '[box]\nbase = "debian:bookworm"\n'


def parse(text: str, path: Path = SPEC_PATH) -> Spec:
    return parse_spec(textwrap.dedent(text), path)


def line_with(text: str, needle: str) -> int:
    """The 1-based line of ``text`` (dedented) where ``needle`` first appears."""
    for number, line in enumerate(textwrap.dedent(text).splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


# -- good specs ----------------------------------------------------------------------------------


def test_the_full_example_from_the_contract() -> None:
    spec = parse(
        """\
        [box]
        name = "webapp"
        base = "debian:bookworm"
        mirror = "http://deb.debian.org/debian"

        [packages]
        apt = ["libxml2-dev", "libpq-dev=15.*", "git"]

        [interpreters]
        python = "3.11"
        node = "20"

        [env]
        DJANGO_SETTINGS_MODULE = "web.settings"
        PATH = "${DEVBOX_PROJECT}/bin:${PATH}"

        [setup]
        run = ["pip install -r requirements.txt"]
        inputs = ["requirements.txt"]

        [shell]
        program = "bash"
        workdir = "/workspace"
        expose = ["psql"]
        home = "isolated"
        """
    )
    assert spec == Spec(
        path=SPEC_PATH,
        name="webapp",
        base=Base("debian", "bookworm", "http://deb.debian.org/debian"),
        apt=("libxml2-dev", "libpq-dev=15.*", "git"),
        interpreters=(Interpreter("python", "3.11"), Interpreter("node", "20")),
        env=(
            ("DJANGO_SETTINGS_MODULE", "web.settings"),
            ("PATH", "${DEVBOX_PROJECT}/bin:${PATH}"),
        ),
        setup=Setup(("pip install -r requirements.txt",), ("requirements.txt",)),
        shell=Shell("bash", "/workspace", ("psql",), "isolated"),
    )
    assert spec.project == PROJECT


def test_minimal_spec_gets_defaults() -> None:
    spec = parse(BOX)
    assert spec == Spec(
        path=SPEC_PATH, name="webapp", base=Base("debian", "bookworm", DEFAULT_MIRROR)
    )
    assert spec.shell == Shell(None, None, (), "isolated")
    assert spec.setup == Setup((), ())


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie", "sid"])
def test_every_debian_suite(suite: str) -> None:
    assert parse(f'[box]\nbase = "debian:{suite}"\n').base == Base("debian", suite, DEFAULT_MIRROR)


@pytest.mark.parametrize(
    "mirror", ["https://mirror.example/debian", "file:///srv/mirror", "file:/srv/mirror"]
)
def test_custom_mirror(mirror: str) -> None:
    spec = parse(f'[box]\nbase = "debian:sid"\nmirror = "{mirror}"\n')
    assert spec.base == Base("debian", "sid", mirror)


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("oci:docker.io/library/debian:bookworm", Base("oci", "docker.io/library/debian:bookworm")),
        ("oci:localhost:5000/team/base:1", Base("oci", "localhost:5000/team/base:1")),
        (f"oci:debian@{DIGEST}", Base("oci", f"debian@{DIGEST}")),
        ("rootfs:images/root.tar", Base("rootfs", "images/root.tar")),
        ("rootfs:root.tar.gz", Base("rootfs", "root.tar.gz")),
        ("rootfs:root.tgz", Base("rootfs", "root.tgz")),
        ("rootfs:images/root.tar.zst", Base("rootfs", "images/root.tar.zst")),
    ],
)
def test_other_bases_have_no_mirror(base: str, expected: Base) -> None:
    assert parse(f'[box]\nbase = "{base}"\n').base == expected


def test_interpreter_tables_in_every_form() -> None:
    spec = parse(
        f"""\
        {BOX}
        [interpreters]
        node = {{version = "20.11.1", provider = "npm"}}

        [interpreters.python]
        version = "3.12"
        provider = "uv"
        """
    )
    assert spec.interpreters == (
        Interpreter("node", "20.11.1", "npm"),
        Interpreter("python", "3.12", "uv"),
    )


def test_interpreter_dotted_keys_and_apt_provider() -> None:
    spec = parse(BOX + '[interpreters]\npython.version = "3.11.9"\npython.provider = "apt"\n')
    assert spec.interpreters == (Interpreter("python", "3.11.9", "apt"),)


def test_setup_run_as_one_string_and_inputs_alone() -> None:
    assert parse(BOX + '[setup]\nrun = "make"\n').setup == Setup(("make",), ())
    spec = parse(BOX + '[setup]\ninputs = ["a/b.txt", "./c", "d/../e"]\n')
    assert spec.setup == Setup((), ("a/b.txt", "./c", "d/../e"))


def test_env_keeps_file_order_and_quoted_names() -> None:
    spec = parse(BOX + '[env]\nZ = "1"\nA = ""\n"_x9" = "y"\n')
    assert spec.env == (("Z", "1"), ("A", ""), ("_x9", "y"))


def test_shell_home_host_and_absolute_program() -> None:
    spec = parse(BOX + '[shell]\nprogram = "/bin/zsh"\nhome = "host"\n')
    assert spec.shell == Shell("/bin/zsh", None, (), "host")


def test_apt_pins_and_globs() -> None:
    apt = ["g++", "libc6=2.36-9+deb12u4", "python3.11", "libpq-dev=15.*", "xz=1:2.3~rc?"]
    text = BOX + "[packages]\napt = [" + ", ".join(f'"{a}"' for a in apt) + "]\n"
    assert parse(text).apt == tuple(apt)


def test_relative_spec_path_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = parse_spec(BOX, Path(SPEC_NAME))
    assert spec.path == tmp_path / SPEC_NAME
    assert spec.name == default_name(tmp_path.name)


@pytest.mark.parametrize(
    ("directory", "name"),
    [
        ("webapp", "webapp"),
        ("my project (old)", "my-project--old-"),
        ("__init", "init"),
        ("..", "box"),
        ("", "box"),
        ("é", "box"),
        ("x" * 80, "x" * 63),
    ],
)
def test_default_name_is_sanitised(directory: str, name: str) -> None:
    assert default_name(directory) == name


def test_default_name_comes_from_the_project_directory() -> None:
    assert parse(BOX, Path("/src/My App!/devbox.toml")).name == "My-App-"


# -- errors ----------------------------------------------------------------------------------------

ERRORS = [
    # (id, spec text, dotted key, text on the reported line, words in the message)
    ("unknown-top", BOX + "[packges]\napt = []\n", "packges", "[packges]", "did you mean"),
    ("top-level-key", 'name = "x"\n' + BOX, "name", 'name = "x"', "belongs in [box]"),
    ("unknown-in-table", BOX + '[shell]\nprogam = "bash"\n', "shell.progam", "progam", "program"),
    (
        "unknown-interpreter",
        BOX + '[interpreters]\nruby = "3.2"\n',
        "interpreters.ruby",
        "ruby",
        "python, node",
    ),
    (
        "unknown-in-interpreter-table",
        BOX + '[interpreters]\nnode = {version = "20", provider = "npm", arch = "x64"}\n',
        "interpreters.node.arch",
        "node =",
        "version, provider",
    ),
    (
        "unknown-in-interpreter-header",
        BOX + '[interpreters.python]\nversion = "3.11"\nprovidr = "uv"\n',
        "interpreters.python.providr",
        "providr",
        "provider",
    ),
    ("table-not-table", 'shell = "bash"\n' + BOX, "shell", "shell =", "expected a table"),
    ("wrong-type-str", BOX + "[shell]\nprogram = 3\n", "shell.program", "program", "an integer"),
    (
        "wrong-type-list",
        BOX + '[packages]\napt = "git"\n',
        "packages.apt",
        "apt =",
        "expected an array of strings, found a string",
    ),
    (
        "wrong-type-item",
        BOX + '[packages]\napt = [\n  "git",\n  3,\n]\n',
        "packages.apt",
        "apt =",
        "item 2 is an integer",
    ),
    ("name-bad", '[box]\nname = "-x"\nbase = "debian:sid"\n', "box.name", "name =", "box name"),
    ("base-missing", '\n[box]\nname = "x"\n', "box.base", "[box]", "missing"),
    ("base-scheme", '[box]\nbase = "docker:debian"\n', "box.base", "base =", "rootfs:<tarball"),
    (
        "base-typo",
        '[box]\nbase = "debain:bookworm"\n',
        "box.base",
        "base =",
        'did you mean "debian:bookworm"',
    ),
    ("base-no-scheme", '[box]\nbase = "bookworm"\n', "box.base", "base =", "debian:<suite>"),
    ("suite", '[box]\nbase = "debian:bookwrom"\n', "box.base", "base =", '"bookworm"'),
    ("oci-space", '[box]\nbase = "oci:a b"\n', "box.base", "base =", "image reference"),
    ("oci-empty", '[box]\nbase = "oci:"\n', "box.base", "base =", "image reference"),
    ("rootfs-ext", '[box]\nbase = "rootfs:root.zip"\n', "box.base", "base =", ".tar.zst"),
    (
        "mirror-oci",
        '[box]\nbase = "oci:debian:12"\nmirror = "http://m"\n',
        "box.mirror",
        "mirror =",
        "only debian bases",
    ),
    (
        "mirror-url",
        '[box]\nbase = "debian:sid"\nmirror = "ftp://m"\n',
        "box.mirror",
        "mirror =",
        "https://",
    ),
    ("env-name", BOX + '[env]\nOK = "1"\n"1BAD" = "x"\n', "env.1BAD", "1BAD", "variable name"),
    ("env-space", BOX + '[env]\n"MY VAR" = "x"\n', 'env."MY VAR"', "MY VAR", "variable name"),
    ("env-int", BOX + "[env]\nPORT = 8000\n", "env.PORT", "PORT", 'quote it: "8000"'),
    ("env-bool", BOX + "[env]\nDEBUG = true\n", "env.DEBUG", "DEBUG", 'quote it: "true"'),
    ("env-table", BOX + "[env.X]\nY = '1'\n", "env.X", "[env.X]", "found a table"),
    ("apt-name", BOX + '[packages]\napt = ["Git"]\n', "packages.apt", "apt =", '"Git"'),
    ("apt-version", BOX + '[packages]\napt = ["git=1 2"]\n', "packages.apt", "apt =", "name=GLOB"),
    (
        "apt-dup",
        BOX + '[packages]\napt = [\n  "git",\n  "curl",\n  "git=1:2.39*",\n]\n',
        "packages.apt",
        "apt =",
        '"git" and "git=1:2.39*"',
    ),
    ("py-version", BOX + '[interpreters]\npython = "3"\n', "interpreters.python", "python", "X.Y"),
    (
        "node-version",
        BOX + '[interpreters.node]\nversion = "lts"\n',
        "interpreters.node.version",
        "version",
        '"X"',
    ),
    (
        "provider",
        BOX + '[interpreters]\nnode = {version = "20", provider = "uv"}\n',
        "interpreters.node.provider",
        "node =",
        '"apt" | "npm"',
    ),
    (
        "interp-type",
        BOX + "[interpreters]\npython = 3.11\n",
        "interpreters.python",
        "python =",
        "found a float",
    ),
    (
        "interp-no-version",
        BOX + '[interpreters]\npython = {provider = "uv"}\n',
        "interpreters.python",
        "python =",
        "missing version",
    ),
    ("workdir", BOX + '[shell]\nworkdir = "workspace"\n', "shell.workdir", "workdir", "absolute"),
    ("workdir-root", BOX + '[shell]\nworkdir = "/"\n', "shell.workdir", "workdir", "absolute"),
    ("home-type", BOX + "[shell]\nhome = 1\n", "shell.home", "home", "found an integer"),
    ("home", BOX + '[shell]\nhome = "shared"\n', "shell.home", "home =", '"isolated" | "host"'),
    ("program", BOX + '[shell]\nprogram = "bash -l"\n', "shell.program", "program", "command"),
    ("expose", BOX + '[shell]\nexpose = ["bin/psql"]\n', "shell.expose", "expose", "command"),
    (
        "input-abs",
        BOX + '[setup]\ninputs = ["/etc/passwd"]\n',
        "setup.inputs",
        "inputs",
        "absolute",
    ),
    ("input-up", BOX + '[setup]\ninputs = ["a/../../x"]\n', "setup.inputs", "inputs", "outside"),
    ("run-type", BOX + "[setup]\nrun = 1\n", "setup.run", "run", "a string or an array"),
    ("run-empty", BOX + '[setup]\nrun = [" "]\n', "setup.run", "run", "empty"),
]


@pytest.mark.parametrize(
    ("text", "key", "on_line", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_file_key_and_line(text: str, key: str, on_line: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, SPEC_PATH)
    error = info.value
    line = line_with(text, on_line)
    assert (error.key, error.line) == (key, line)
    rendered = error.render()
    assert f"{SPEC_PATH}:{line}: {key}: " in rendered
    assert words in rendered


def test_unknown_key_lists_the_allowed_keys() -> None:
    with pytest.raises(SpecError) as info:
        parse(BOX + '[shell]\nprogam = "bash"\n')
    assert info.value.allowed == "program, workdir, expose, home"
    assert 'did you mean "program"?' in info.value.message


def test_unknown_suite_lists_the_suites() -> None:
    with pytest.raises(SpecError) as info:
        parse('[box]\nbase = "debian:buster"\n')
    assert info.value.allowed == "bullseye, bookworm, trixie, sid"


def test_missing_box_table() -> None:
    with pytest.raises(SpecError) as info:
        parse("[packages]\napt = []\n")
    assert (info.value.key, info.value.line) == ("box", None)
    assert "debian:bookworm" in info.value.render()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[box]\nbase = "debian:sid\n', 2),
        ("[box]\nbase = debian\n", 2),
        ("[box]\n\n[box]\n", 3),
        ('[box]\nbase = "a"\nbase = "b"\n', 3),
    ],
)
def test_broken_toml(text: str, line: int) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, SPEC_PATH)
    assert info.value.line == line
    rendered = info.value.render()
    assert f"{SPEC_PATH}:{line}: not valid TOML: " in rendered
    assert f"(at line {line}, column " in rendered


def test_broken_toml_at_the_end() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("[box]\nx = [1,\n\n", SPEC_PATH)
    assert info.value.line == 3
    assert "not valid TOML: " in info.value.render()


# -- files ---------------------------------------------------------------------------------------


def test_load_spec_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / SPEC_NAME
    path.write_text(BOX + '[env]\nA = "1"\n')
    spec = load_spec(path)
    assert spec.path == path
    assert spec.env == (("A", "1"),)


def test_load_spec_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DevboxError) as info:
        load_spec(tmp_path / SPEC_NAME)
    assert not isinstance(info.value, SpecError)
    assert "cannot read" in info.value.message
    assert str(tmp_path / SPEC_NAME) in info.value.message
    with pytest.raises(DevboxError, match="cannot read"):
        load_spec(tmp_path)  # a directory


def test_load_spec_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / SPEC_NAME
    path.write_bytes(b'[box]\nbase = "\xff"\n')
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


def test_find_spec_walks_up(tmp_path: Path) -> None:
    (tmp_path / SPEC_NAME).write_text(BOX)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "file.txt").write_text("")
    assert find_spec(deep) == tmp_path / SPEC_NAME
    assert find_spec(deep / "file.txt") == tmp_path / SPEC_NAME
    (deep / SPEC_NAME).mkdir()  # a directory named devbox.toml is not a spec
    assert find_spec(deep) == tmp_path / SPEC_NAME


def test_find_spec_none(tmp_path: Path) -> None:
    assert find_spec(tmp_path) == find_spec(tmp_path.parent)  # None, unless a parent has one


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("a", None),
        ("a/../b", None),
        ("", "is empty"),
        ("/a", "is an absolute path"),
        ("..", "is outside the project"),
        ("a/../../b", "is outside the project"),
    ],
)
def test_relative_path_problem(path: str, problem: str | None) -> None:
    assert relative_path_problem(path) == problem
