"""[services.NAME] in devbox.toml (devbox/spec/services.py): every key and its default, the
dependency order, and every error naming the file, the key path and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devbox.errors import SpecError
from devbox.spec.load import parse_spec
from devbox.spec.model import Ready, Service, Spec

SPEC_PATH = Path("/home/u/src/webapp/devbox.toml")
BOX = '[box]\nbase = "debian:bookworm"\n'


def parse(text: str) -> Spec:
    return parse_spec(BOX + textwrap.dedent(text), SPEC_PATH)


def services(text: str) -> tuple[Service, ...]:
    return parse(text).services


def one(body: str, name: str = "db") -> Service:
    """The service of a [services.NAME] table whose command is given here."""
    (found,) = services(f'[services.{name}]\ncommand = "run it"\n' + textwrap.dedent(body))
    return found


def failure(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(text)
    return info.value


# -- good specs ----------------------------------------------------------------------------------


def test_every_key() -> None:
    spec = parse(
        """\
        [env]
        DB_PORT = "5432"

        [services.db]
        box = "services/db"
        command = "postgres -D ${DEVBOX_DATA} -p ${PGPORT}"
        ready = "tcp:${DB_PORT}"
        env = { PGPORT = "${DB_PORT}", PGDATA = "${DEVBOX_DATA}", WORKERS = 4 }
        depends_on = []
        restart = "no"
        stop_signal = "SIGINT"
        stop_timeout = 30
        ready_timeout = 2.5
        """
    )
    assert spec.services == (
        Service(
            name="db",
            command="postgres -D ${DEVBOX_DATA} -p ${PGPORT}",
            ready=Ready("tcp", "${DB_PORT}"),
            env=(("PGPORT", "${DB_PORT}"), ("PGDATA", "${DEVBOX_DATA}"), ("WORKERS", "4")),
            depends_on=(),
            restart="no",
            stop_signal="INT",
            stop_timeout=30.0,
            ready_timeout=2.5,
            box="services/db",
        ),
    )
    assert spec.env == (("DB_PORT", "5432"),)  # the ports live in the project's [env]


def test_defaults() -> None:
    assert one("") == Service(
        name="db",
        command="run it",
        ready=None,
        env=(),
        depends_on=(),
        restart="on-failure",
        stop_signal="TERM",
        stop_timeout=10.0,
        ready_timeout=60.0,
        box=None,
    )


def test_no_services() -> None:
    assert parse("").services == ()
    assert parse("[services]\n").services == ()


def test_dotted_keys_and_inline_tables() -> None:
    found = services(
        """\
        [services]
        db.command = "postgres"
        db.ready = "tcp:5432"
        cache = { command = "redis-server", ready = "tcp:6379", env.A = "1" }
        """
    )
    assert [(s.name, s.ready) for s in found] == [
        ("db", Ready("tcp", "5432")),
        ("cache", Ready("tcp", "6379")),
    ]
    assert found[1].env == (("A", "1"),)


@pytest.mark.parametrize("name", ["db", "DB", "db-1", "db_main", "db.main", "9lives", "a" * 63])
def test_service_names(name: str) -> None:
    assert one("", f'"{name}"').name == name


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        ("tcp:5432", Ready("tcp", "5432")),
        ("tcp: 5432 ", Ready("tcp", "5432")),
        ("tcp:05432", Ready("tcp", "5432")),  # what the port means, not how it was written
        ("tcp:1", Ready("tcp", "1")),
        ("tcp:65535", Ready("tcp", "65535")),
        ("tcp:${DB_PORT}", Ready("tcp", "${DB_PORT}")),
        ("unix:/run/postgresql/.s.PGSQL.5432", Ready("unix", "/run/postgresql/.s.PGSQL.5432")),
        ("unix:${DEVBOX_DATA}/redis.sock", Ready("unix", "${DEVBOX_DATA}/redis.sock")),
        (
            "pg_isready -h 127.0.0.1 -p ${DB_PORT}",
            Ready("command", "pg_isready -h 127.0.0.1 -p ${DB_PORT}"),
        ),
        (
            "redis-cli -p 6379 ping | grep -q PONG",
            Ready("command", "redis-cli -p 6379 ping | grep -q PONG"),
        ),
        ("curl -fs http://127.0.0.1:8000/", Ready("command", "curl -fs http://127.0.0.1:8000/")),
    ],
)
def test_ready_forms(ready: str, expected: Ready) -> None:
    assert one(f"ready = '{ready}'\n").ready == expected


def test_env_values_keep_their_text_and_file_order_and_numbers_are_strings() -> None:
    found = one(
        """\
        [services.db.env]
        Z_PORT = 5433
        A = "${DB_PORT}"
        NEG = -1
        BIG = 99999999999999999999
        EMPTY = ""
        """
    )
    assert found.env == (
        ("Z_PORT", "5433"),
        ("A", "${DB_PORT}"),
        ("NEG", "-1"),
        ("BIG", "99999999999999999999"),
        ("EMPTY", ""),
    )


@pytest.mark.parametrize(
    ("written", "signal"),
    [
        ("TERM", "TERM"),
        ("SIGTERM", "TERM"),
        ("term", "TERM"),
        ("sigint", "INT"),
        ("SigQuit", "QUIT"),
        ("HUP", "HUP"),
        ("KILL", "KILL"),
        ("USR1", "USR1"),
        ("SIGUSR2", "USR2"),
        ("WINCH", "WINCH"),
    ],
)
def test_stop_signal_forms(written: str, signal: str) -> None:
    assert one(f'stop_signal = "{written}"\n').stop_signal == signal


@pytest.mark.parametrize(
    ("written", "box"),
    [
        ('"services/db"', "services/db"),
        ('"./services//db/"', "services/db"),
        ('"services/db/devbox.toml"', "services/db"),
        ('"."', None),  # the project's own box
        ('"./devbox.toml"', None),
    ],
)
def test_box_forms(written: str, box: str | None) -> None:
    assert one(f"box = {written}\n").box == box


@pytest.mark.parametrize(("key", "value"), [("stop_timeout", 0.5), ("ready_timeout", 3600)])
def test_seconds_at_the_edges(key: str, value: float) -> None:
    assert getattr(one(f"{key} = {value}\n"), key) == float(value)


# -- dependency order ----------------------------------------------------------------------------


def names(text: str) -> list[str]:
    return [s.name for s in services(text)]


def test_dependencies_come_first_and_the_rest_keep_file_order() -> None:
    text = """\
        [services.web]
        command = "serve"
        depends_on = ["db", "cache"]
        [services.worker]
        command = "work"
        depends_on = ["cache"]
        [services.db]
        command = "postgres"
        [services.cache]
        command = "redis-server"
        [services.mail]
        command = "mailpit"
        """
    assert names(text) == ["db", "cache", "web", "worker", "mail"]


def test_a_chain_and_a_diamond() -> None:
    chain = """\
        [services.c]
        command = "x"
        depends_on = ["b"]
        [services.b]
        command = "x"
        depends_on = ["a"]
        [services.a]
        command = "x"
        """
    assert names(chain) == ["a", "b", "c"]
    diamond = """\
        [services.top]
        command = "x"
        depends_on = ["left", "right"]
        [services.left]
        command = "x"
        depends_on = ["base"]
        [services.right]
        command = "x"
        depends_on = ["base"]
        [services.base]
        command = "x"
        """
    assert names(diamond) == ["base", "left", "right", "top"]


@pytest.mark.parametrize(
    ("deps", "cycle", "where"),
    [
        ({"a": ["b"], "b": ["a"]}, "a -> b -> a", "b"),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, "a -> b -> c -> a", "c"),
        ({"x": [], "a": ["b"], "b": ["c"], "c": ["b"]}, "b -> c -> b", "c"),
    ],
)
def test_a_cycle_is_named(deps: dict[str, list[str]], cycle: str, where: str) -> None:
    text = "".join(
        f'[services.{n}]\ncommand = "x"\ndepends_on = {d!r}\n'.replace("'", '"')
        for n, d in deps.items()
    )
    error = failure(text)
    assert error.key == f"services.{where}.depends_on"
    assert f"a dependency cycle: {cycle}" in error.message
    assert error.line == (BOX + text).splitlines().index(f"[services.{where}]") + 3


# -- errors --------------------------------------------------------------------------------------

S = '[services.db]\ncommand = "x"\n'
W = '[services.web]\ncommand = "x"\n'
ERRORS = [
    # (id, text after [box], dotted key, text on the reported line, words in the message)
    ("not-a-table", "[services]\ndb = 'postgres'\n", "services.db", "db =", "expected a table"),
    (
        "name",
        '[services."a b"]\ncommand = "x"\n',
        'services."a b"',
        "[services.",
        "valid service name",
    ),
    (
        "name-dash",
        '[services."-x"]\ncommand = "x"\n',
        "services.-x",
        "[services.",
        "starting with a letter",
    ),
    (
        "name-long",
        f'[services.{"a" * 64}]\ncommand = "x"\n',
        f"services.{'a' * 64}",
        "[services.",
        "1-63",
    ),
    (
        "name-unicode",
        '[services."é"]\ncommand = "x"\n',
        'services."é"',
        "[services.",
        "valid service name",
    ),
    (
        "unknown-key",
        S + 'restrat = "no"\n',
        "services.db.restrat",
        "restrat",
        'did you mean "restart"',
    ),
    (
        "command-missing",
        '[services.db]\nready = "tcp:1"\n',
        "services.db",
        "[services.db]",
        "needs a command",
    ),
    ("command-empty", '[services.db]\ncommand = " "\n', "services.db.command", "command", "empty"),
    (
        "command-list",
        '[services.db]\ncommand = ["x"]\n',
        "services.db.command",
        "command",
        "found an array",
    ),
    ("ready-int", S + "ready = 5432\n", "services.db.ready", "ready", "found an integer"),
    ("ready-empty", S + 'ready = ""\n', "services.db.ready", "ready", "empty"),
    ("port-0", S + 'ready = "tcp:0"\n', "services.db.ready", "ready", "1-65535"),
    ("port-65536", S + 'ready = "tcp:65536"\n', "services.db.ready", "ready", "1-65535"),
    ("port-big", S + 'ready = "tcp:999999"\n', "services.db.ready", "ready", "1-65535"),
    ("port-none", S + 'ready = "tcp:"\n', "services.db.ready", "ready", "1-65535"),
    ("port-word", S + 'ready = "tcp:postgres"\n', "services.db.ready", "ready", "${NAME}"),
    ("port-bare-dollar", S + 'ready = "tcp:$DB_PORT"\n', "services.db.ready", "ready", "${NAME}"),
    ("port-host", S + 'ready = "tcp:127.0.0.1:5432"\n', "services.db.ready", "ready", "tcp:PORT"),
    ("port-negative", S + 'ready = "tcp:-1"\n', "services.db.ready", "ready", "1-65535"),
    ("unix-relative", S + 'ready = "unix:run/db.sock"\n', "services.db.ready", "ready", "absolute"),
    (
        "unix-bare-dollar",
        S + 'ready = "unix:$DEVBOX_DATA/s"\n',
        "services.db.ready",
        "ready",
        "${NAME}",
    ),
    (
        "ready-url",
        S + 'ready = "http://127.0.0.1:8000/"\n',
        "services.db.ready",
        "ready",
        '"http:" is not a kind',
    ),
    ("ready-udp", S + 'ready = "udp:53"\n', "services.db.ready", "ready", '"udp:" is not a kind'),
    ("env-not-table", S + 'env = "A=1"\n', "services.db.env", "env", "expected a table"),
    ("env-name", S + 'env = { "1A" = "x" }\n', "services.db.env.1A", "env", "variable name"),
    (
        "env-name-header",
        S + '[services.db.env]\n"A B" = "x"\n',
        'services.db.env."A B"',
        "A B",
        "variable name",
    ),
    ("env-bool", S + "env = { A = true }\n", "services.db.env.A", "env", 'quote it: "true"'),
    ("env-float", S + "env = { A = 1.5 }\n", "services.db.env.A", "env", 'quote it: "1.5"'),
    ("env-list", S + "env = { A = [1] }\n", "services.db.env.A", "env", "found an array"),
    (
        "depends-string",
        W + 'depends_on = "db"\n',
        "services.web.depends_on",
        "depends_on",
        "an array of strings",
    ),
    (
        "depends-item",
        W + 'depends_on = [\n  "db",\n  1,\n]\n',
        "services.web.depends_on",
        "depends_on",
        "item 2 is an integer",
    ),
    (
        "depends-self",
        W + 'depends_on = ["web"]\n',
        "services.web.depends_on",
        "depends_on",
        "web depends on itself",
    ),
    (
        "depends-twice",
        S + W + 'depends_on = ["db", "db"]\n',
        "services.web.depends_on",
        "depends_on",
        '"db" is listed twice',
    ),
    (
        "depends-unknown",
        S + W + 'depends_on = ["dbb"]\n',
        "services.web.depends_on",
        "depends_on",
        'did you mean "db"?',
    ),
    (
        "depends-none",
        W + 'depends_on = ["db"]\n',
        "services.web.depends_on",
        "depends_on",
        '"db" is not a service here',
    ),
    (
        "restart",
        S + 'restart = "always"\n',
        "services.db.restart",
        "restart",
        '"on-failure" | "no"',
    ),
    ("restart-type", S + "restart = false\n", "services.db.restart", "restart", "found a boolean"),
    (
        "signal",
        S + 'stop_signal = "STOP"\n',
        "services.db.stop_signal",
        "stop_signal",
        '"TERM" | "INT"',
    ),
    (
        "signal-typo",
        S + 'stop_signal = "SIGTREM"\n',
        "services.db.stop_signal",
        "stop_signal",
        '"SIGTREM" is not a signal',
    ),
    (
        "signal-number",
        S + "stop_signal = 15\n",
        "services.db.stop_signal",
        "stop_signal",
        "found an integer",
    ),
    (
        "timeout-zero",
        S + "stop_timeout = 0\n",
        "services.db.stop_timeout",
        "stop_timeout",
        "0 seconds is out of range",
    ),
    (
        "timeout-negative",
        S + "stop_timeout = -5\n",
        "services.db.stop_timeout",
        "stop_timeout",
        "-5 seconds",
    ),
    (
        "timeout-big",
        S + "ready_timeout = 3601\n",
        "services.db.ready_timeout",
        "ready_timeout",
        "at most 3600",
    ),
    (
        "timeout-exp",
        S + "ready_timeout = 1e9\n",
        "services.db.ready_timeout",
        "ready_timeout",
        "1e9 seconds",
    ),
    (
        "timeout-nan",
        S + "ready_timeout = nan\n",
        "services.db.ready_timeout",
        "ready_timeout",
        "out of range",
    ),
    (
        "timeout-inf",
        S + "ready_timeout = inf\n",
        "services.db.ready_timeout",
        "ready_timeout",
        "out of range",
    ),
    (
        "timeout-text",
        S + 'ready_timeout = "10s"\n',
        "services.db.ready_timeout",
        "ready_timeout",
        "a number of seconds, found a string",
    ),
    (
        "timeout-bool",
        S + "stop_timeout = true\n",
        "services.db.stop_timeout",
        "stop_timeout",
        "found a boolean",
    ),
    ("box-outside", S + 'box = "../db"\n', "services.db.box", "box =", "outside the project"),
    ("box-absolute", S + 'box = "/srv/db"\n', "services.db.box", "box =", "absolute"),
    (
        "box-up-and-out",
        S + 'box = "a/../../db"\n',
        "services.db.box",
        "box =",
        "outside the project",
    ),
    ("box-dotdot", S + 'box = "a/../db"\n', "services.db.box", "box =", "has .. in it"),
    ("box-empty", S + 'box = ""\n', "services.db.box", "box =", "empty"),
    ("box-type", S + "box = 1\n", "services.db.box", "box =", "found an integer"),
]


@pytest.mark.parametrize(
    ("text", "key", "on_line", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_file_key_and_line(text: str, key: str, on_line: str, words: str) -> None:
    error = failure(text)
    full = BOX + text
    line = next(n for n, ln in enumerate(full.splitlines(), 1) if on_line in ln)
    assert (error.key, error.line) == (key, line)
    rendered = error.render()
    assert rendered.startswith(f"devbox: error in {SPEC_PATH}:{line}: {key}: "), rendered
    assert words in rendered, rendered


def test_services_must_be_a_table() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("services = 1\n" + BOX, SPEC_PATH)
    assert (info.value.key, info.value.line) == ("services", 1)
    assert "expected a table" in info.value.render()


def test_allowed_lists_the_other_services() -> None:
    error = failure(S + '[services.cache]\ncommand = "x"\n' + W + 'depends_on = ["queue"]\n')
    assert error.allowed == "db, cache"
    assert failure(W + 'depends_on = ["db"]\n').allowed == "no other service is defined"


def test_a_misspelt_key_lists_every_key() -> None:
    error = failure(S + 'readiness = "tcp:1"\n')
    assert error.allowed == (
        "command, ready, env, depends_on, restart, stop_signal, stop_timeout, ready_timeout, box, "
        "user"
    )


def test_user_is_a_user_name_of_the_box() -> None:
    error = failure(S + 'user = "root; rm -rf /"\n')
    assert error.key == "services.db.user" and "is not a user name" in error.message


def test_control_characters_in_an_error_are_shown_escaped() -> None:
    rendered = failure(S + 'ready = "tcp:\\u001b[31m"\n').render()
    assert "\x1b" not in rendered
    assert "\\x1b[31m" in rendered
