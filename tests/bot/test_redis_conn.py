"""The embedded Redis: started once, shared by every process with the same data_dir."""

import subprocess
import sys

from bot import redis_conn


def test_embedded_redis_is_started_once_and_shared(tmp_path):
    data_dir = tmp_path / ("deep-" * 20) / "data"  # longer than a unix socket path may be
    try:
        first = redis_conn.connect("", data_dir)
        first.set("shared", "yes")
        other_process = subprocess.run(
            [sys.executable, "-c",
             "import sys; from pathlib import Path; from bot import redis_conn; "
             "print(redis_conn.connect('', Path(sys.argv[1])).get('shared').decode())",
             str(data_dir)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert other_process.stdout.strip() == "yes"
        assert (data_dir / "redis.pid").exists()
    finally:
        assert redis_conn.stop_embedded(data_dir)
    assert not redis_conn.stop_embedded(data_dir)
