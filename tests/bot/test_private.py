"""Data at rest is private: the data folder 0700, the database, its -wal/-shm and locks, and
the embedded Redis's files 0600, after a real run (in a process of its own: umask is
process-wide)."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import private, redis_conn

RUN = """
import os
import sys
from pathlib import Path

from bot import private, runtime
from tests.support import make_settings

if sys.argv[2] == "restrict":
    private.restrict()
else:
    os.umask(0o022)  # the usual default: mombot's own files must be private anyway
settings = make_settings(Path(sys.argv[1]))
rt = runtime.build(settings)  # SQLite (migrated) and the embedded Redis, under data_dir
rt.redis.set("mother", "x")
with rt.engine.begin() as connection:
    connection.exec_driver_sql("CREATE TABLE probe (x)")
    connection.exec_driver_sql("INSERT INTO probe VALUES (1)")
print("ok", flush=True)
sys.stdin.read()  # the database stays open (its -wal and -shm there) while the test looks
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("umask", ["restrict", "0o022"])
def test_a_run_leaves_only_private_files(umask):
    base = Path(f"/tmp/mb-priv-{os.getpid()}-{time.monotonic_ns()}")  # short socket path
    data = base / "data"
    run = None
    try:
        run = subprocess.Popen(
            [sys.executable, "-c", RUN, str(base), umask],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = run.stdout.readline()
        assert line.strip() == "ok", run.communicate(timeout=30)[1]
        assert mode(data) == 0o700
        names = {p.name for p in data.rglob("*")}
        assert {"mombot.db", "mombot.db-wal", "mombot.db-shm", "mombot.db.migrate.lock"} <= names
        assert {"redis.pid", "redis.log", "redis.lock"} <= names
        assert any(name.startswith("appendonly") for name in names)
        for path in data.rglob("*"):
            if path.is_socket():
                continue  # 0700 by --unixsocketperm, in a 0700 folder
            expected = 0o700 if path.is_dir() else 0o600
            assert mode(path) == expected, f"{path.name} is {oct(mode(path))}"
        run.communicate("", timeout=30)
    finally:
        if run and run.poll() is None:
            run.kill()
        redis_conn.stop_embedded(data)
        subprocess.run(["rm", "-rf", str(base)])


def test_secure_fixes_a_folder_an_older_version_left_open(tmp_path):
    data = tmp_path / "data"
    (data / "appendonlydir").mkdir(parents=True)
    for name in ("mombot.db", "redis.rdb", "appendonlydir/appendonly.aof.1.base.rdb"):
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    os.chmod(data / "appendonlydir", 0o755)
    os.chmod(data, 0o755)
    (data / "link").symlink_to("/etc/hostname")
    before = mode(Path("/etc/hostname"))

    private.secure(data)

    assert mode(data) == 0o700 and mode(data / "appendonlydir") == 0o700
    assert mode(data / "mombot.db") == 0o600
    assert mode(data / "appendonlydir/appendonly.aof.1.base.rdb") == 0o600
    assert mode(Path("/etc/hostname")) == before  # a symlink's target is not ours


def test_secure_leaves_a_missing_folder_missing(tmp_path):
    private.secure(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_restrict_sets_a_private_umask():
    probe = "from bot import private; import os; private.restrict(); print(oct(os.umask(0)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "0o77"
