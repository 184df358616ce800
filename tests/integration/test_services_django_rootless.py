"""The django-postgres template as a created user with a subuid range (tier 2): the start script
runs PostgreSQL as the user (no root to drop from), `devbox up` brings the three services to
ready, the app counts in both servers, `down` leaves none of them, the next `up` finds the data,
and `down --volumes` deletes it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration import django_app
from tests.integration.rootless import TEST_USER_PREFIX, User, make_user, runtime, users_scratch

pytestmark = pytest.mark.integration

NAME = f"{TEST_USER_PREFIX}djsub-{os.getpid()}"
ENV = {"DEVBOX_LINGER": "2"}


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    for base in users_scratch([NAME], "creating a user needs root"):
        yield make_user(NAME, base, runtime(base), subids=True)


def test_a_user_s_django_postgres_services_keep_their_data(user: User) -> None:
    project = user.home / "shop"
    project.mkdir()
    user.own(project)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return user.devbox(*args, cwd=project, env=ENV, timeout=900)

    r = run("init", "--template", "django-postgres")
    assert r.returncode == 0, r.stderr
    ports = django_app.free_ports()
    django_app.use_ports(project, ports)
    pgdata = project / "services/db/.devbox/data/db/pgdata"
    try:
        r = run("up")
        assert r.returncode == 0, r.stdout + r.stderr
        django_app.ready_lines(r.stdout, ports)
        assert pgdata.stat().st_uid == user.uid, "postgres ran as the user"
        r = run("run", "--", "python3", "manage.py", "migrate")
        assert r.returncode == 0, r.stdout + r.stderr
        first = django_app.hits(ports)
        assert django_app.hits(ports) == {k: v + 1 for k, v in first.items()}

        django_app.gone_after_down(run, project, ports)

        r = run("up")
        assert r.returncode == 0, r.stdout + r.stderr
        assert django_app.hits(ports) == {k: v + 2 for k, v in first.items()}
    finally:
        r = run("down", "--volumes")
    assert r.returncode == 0, r.stderr
    assert "db: data deleted" in r.stdout + r.stderr
    assert not pgdata.exists() and not (project / ".devbox/data/cache").exists()
