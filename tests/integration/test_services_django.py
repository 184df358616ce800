"""The django-postgres template, end to end as root (tier 1): `devbox init` writes it, `devbox up`
builds both boxes and brings PostgreSQL (its own box), Redis and Django's server to ready in
dependency order, the app counts in both servers, `devbox down` leaves none of them running, and
the next `up` finds the data."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from devbox.services.supervise import Files
from devbox.store.paths import ProjectPaths, Store
from tests.helpers import Devbox, need_root_tools
from tests.integration import django_app
from tests.integration.django_app import Ports

pytestmark = pytest.mark.integration

# supervisord logs in local time, postgres in its log_timezone (the box's TZ at initdb): UTC both
ENV = {"TZ": "UTC", "DEVBOX_LINGER": "2"}


@dataclass(frozen=True)
class App:
    project: Path
    ports: Ports
    devbox: Devbox
    up: subprocess.CompletedProcess[str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.devbox(*args, cwd=self.project, env=ENV, timeout=600)


@pytest.fixture(scope="module")
def app(shared_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    need_root_tools()
    devbox = Devbox(shared_store)
    project = tmp_path_factory.mktemp("django") / "shop"
    project.mkdir()
    devbox("init", "--template", "django-postgres", cwd=project, env=ENV, check=True)
    ports = django_app.free_ports()
    django_app.use_ports(project, ports)
    up = devbox("up", cwd=project, env=ENV, timeout=900)
    a = App(project, ports, devbox, up)
    yield a
    a("down")


def test_up_builds_both_boxes_and_brings_db_cache_and_web_to_ready(app: App) -> None:
    assert app.up.returncode == 0, app.up.stdout + app.up.stderr
    django_app.ready_lines(app.up.stdout, app.ports)
    assert "building shop-db first" in app.up.stderr, "the db's own box (services/db)"
    assert (app.project / "services/db/.devbox/data/db/pgdata/PG_VERSION").is_file()
    assert (app.project / ".devbox/.gitignore").read_text() == "*\n"


def _stamp(text: str) -> datetime:
    """A log's time stamp (UTC: see ENV), `,` or `.` before the milliseconds."""
    stamp = datetime.strptime(text.replace(",", "."), "%Y-%m-%d %H:%M:%S.%f")
    return stamp.replace(tzinfo=timezone.utc)


def test_web_starts_only_once_postgres_accepts_connections(app: App) -> None:
    """supervisord spawns web's runner (its log, ms stamps) after postgres said it accepts
    connections (postgres's log, ms stamps); web never had to restart."""
    assert app.up.returncode == 0, app.up.stderr
    db_log = app("logs", "-n", "1000", "db").stdout
    ready = re.search(
        r"^(\S+ \S+) (\S+) \[\d+\] LOG:  database system is ready to accept connections$",
        db_log, re.M,
    )  # fmt: skip
    assert ready is not None, db_log
    assert ready.group(2) == "UTC", "TZ reached the box (so both logs tell UTC)"
    paths = ProjectPaths(Store(app.devbox.store).project_dir(app.project))
    sv_log = Files.of(paths).log.read_text()
    spawned = re.search(r"^(\S+ \S+) INFO spawned: 'web' with pid \d+$", sv_log, re.M)
    spawned_db = re.search(r"^(\S+ \S+) INFO spawned: 'db' with pid \d+$", sv_log, re.M)
    assert spawned is not None and spawned_db is not None, sv_log
    db_ready = _stamp(ready.group(1))
    assert _stamp(spawned_db.group(1)) < db_ready <= _stamp(spawned.group(1)), (ready, spawned)
    web = {s["name"]: s for s in json.loads(app("services", "--json").stdout)["services"]}["web"]
    assert (web["state"], web["restarts"], web["ready"]) == ("running", 0, True)
    assert "Starting development server at" in app("logs", "web").stdout


def test_the_app_counts_in_postgres_and_redis_and_the_data_outlives_down(app: App) -> None:
    assert app.up.returncode == 0, app.up.stderr
    r = app("run", "--", "python3", "manage.py", "migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Applying hits.0001_initial... OK" in r.stdout
    first = django_app.hits(app.ports)
    second = django_app.hits(app.ports)
    assert second == {"postgres": first["postgres"] + 1, "redis": first["redis"] + 1}

    django_app.gone_after_down(app, app.project, app.ports)

    again = app("up")
    assert again.returncode == 0, again.stdout + again.stderr
    django_app.ready_lines(again.stdout, app.ports)
    assert app("logs", "-n", "1000", "db").stdout.count("initialising") == 1, "made once"
    third = django_app.hits(app.ports)
    assert third == {"postgres": second["postgres"] + 1, "redis": second["redis"] + 1}
