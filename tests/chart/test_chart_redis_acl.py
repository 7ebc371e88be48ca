"""Redis as deployed (docs/architecture.md, "Redis"): the chart's own start command writes the ACL users, and the
pinned redis-server (the image's major.minor, toolchain/versions.json) loads them with the chart's flags on
127.0.0.1. The Dapr user may do what Dapr's state store does and nothing @dangerous; the default user (the readiness
probe and the backup job) may ping and take an RDB snapshot and nothing else; protected mode is on; maxmemory with
noeviction refuses a write instead of dropping state; during a rotation both passwords work, after it only the new.
Each check also runs against a seeded bad configuration and catches it."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import toolchain
from preflight.quantities import mebibytes
from tests.chart.chart_support import Rendered, app_container, fullname, load_values
from todo_infra.contracts import BASE_VALUES

PASSWORD = "correct-horse-battery-staple-0123"
NEW_PASSWORD = "a-brand-new-password-4567-89ab"
#: A user that only the test adds, to read the server's settings (the chart's users may not run CONFIG).
ADMIN = ("test-admin", "test-admin-password-000")


class Refused(Exception):
    """Redis answered with an error reply."""


class Connection:
    """A minimal RESP2 client on 127.0.0.1: one connection, so MULTI/EXEC and AUTH state are real."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = self.socket.makefile("rb")

    def __call__(self, *args: str | bytes) -> Any:
        parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
        frame = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
        self.socket.sendall(frame)
        return self._reply()

    def _reply(self) -> Any:
        line = self.reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Refused(rest.decode())
        if kind in (b":", b"("):
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)[:-2]
            return data.decode(errors="replace")
        if kind in (b"*", b"%", b"~"):
            count = int(rest)
            items = [self._reply() for _ in range(count * (2 if kind == b"%" else 1))]
            return None if count < 0 else items
        if kind == b"_":
            return None
        raise AssertionError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.reader.close()
        self.socket.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_container(env: Rendered) -> dict[str, Any]:
    return app_container(env.get("Deployment", fullname("redis")))


def start_command(
    env: Rendered, workdir: Path, secrets: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the rendered container command with /bin/sh, the config folder moved under `workdir` and a stand-in
    redis-server that records its arguments; returns the run and the folder (argv, config)."""
    container = _redis_container(env)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")["mountPath"]
    config_dir, bin_dir = workdir / "config", workdir / "bin"
    config_dir.mkdir(parents=True)
    bin_dir.mkdir()
    recorder = bin_dir / "redis-server"
    recorder.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {workdir}/argv\n')
    recorder.chmod(0o755)
    command = [*container["command"], *(arg.replace(mount, str(config_dir)) for arg in container["args"])]
    environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **secrets}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30, check=False), workdir


def _secrets(password: str, rotation: str = "") -> dict[str, str]:
    """The container's environment from app-secrets, as its secretKeyRefs name it."""
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in _REDIS_ENV}
    values = {"REDIS_PASSWORD": password, "REDIS_PASSWORD_ROTATION": rotation}
    return {name: values[key] for name, key in refs.items()}


_REDIS_ENV: list[dict[str, Any]] = []


class Server:
    """The pinned redis-server started with the config file and flags the chart's start command produced (port, data
    folder and bind address moved to this test's), plus a test-only admin user."""

    def __init__(self, workdir: Path, extra_config: Sequence[str] = ()) -> None:
        argv = (workdir / "argv").read_text().splitlines()
        self.config = Path(argv[0])
        self.flags = argv[1:]
        self.port = _free_port()
        self.data = workdir / "data"
        self.data.mkdir(exist_ok=True)
        self.extra = list(extra_config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        flags = list(self.flags)
        for name, value in (("--port", str(self.port)), ("--dir", str(self.data))):
            flags[flags.index(name) + 1] = value
        admin = ["--user", ADMIN[0], "on", f">{ADMIN[1]}", "~*", "&*", "+@all"]
        self.process = subprocess.Popen(
            [str(toolchain.find("redis-server")), str(self.config), *flags, "--bind", "127.0.0.1", *admin, *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(200):
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise AssertionError(f"redis-server exited: {output[-2000:]}")
            try:
                admin_connection = self.login(*ADMIN)
                admin_connection.close()
                return self
            except (OSError, Refused):
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def login(self, user: str, password: str) -> Connection:
        connection = Connection(self.port)
        try:
            connection("AUTH", user, password)
        except Refused:
            connection.close()
            raise
        return connection

    def setting(self, name: str) -> str:
        admin = self.login(*ADMIN)
        try:
            _, value = admin("CONFIG", "GET", name)
            return str(value)
        finally:
            admin.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self.process and self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def deployed(production: Rendered, tmp_path: Path) -> Iterator[Server]:
    _REDIS_ENV[:] = _redis_container(production)["env"]
    run, workdir = start_command(production, tmp_path / "start", _secrets(PASSWORD))
    assert run.returncode == 0, run.stderr
    server = Server(workdir).start()
    yield server
    server.stop()


def _dapr_user(env: Rendered) -> str:
    return str(env.values["dapr"]["statestore"]["username"])


#: What Dapr's state.redis does (dapr/components-contrib, state/redis): the connection handshake go-redis sends, PING
#: and INFO replication at start, HGETALL (GET as fallback) to read, EVAL of a script that reads and writes one hash
#: (HGET, HSET, HINCRBY, DEL) to write and delete, EXPIRE/PERSIST for TTLs, MULTI/EXEC for transactions.
_UPSERT = (
    "local v = redis.call('HGET', KEYS[1], 'version'); redis.call('HSET', KEYS[1], 'data', ARGV[1]);"
    " local n = redis.call('HINCRBY', KEYS[1], 'version', 1); if ARGV[2] == 'drop' then redis.call('DEL', KEYS[1]) end;"
    " return n"
)


def dapr_session(connection: Connection) -> None:
    """The state store's commands, each of which must succeed (raises Refused otherwise)."""
    connection("HELLO", "2")
    connection("CLIENT", "SETINFO", "LIB-NAME", "go-redis")
    assert connection("PING") == "PONG"
    assert "role:master" in connection("INFO", "replication")
    assert connection("EVAL", _UPSERT, "1", "todo||task-1", '{"title":"x"}', "keep") == 1
    assert connection("HGETALL", "todo||task-1")
    assert connection("GET", "todo||plain") is None
    assert connection("EXPIRE", "todo||task-1", "60") == 1
    assert connection("PERSIST", "todo||task-1") == 1
    assert connection("MULTI") == "OK"
    assert connection("EVAL", _UPSERT, "1", "todo||task-2", "{}", "drop") == "QUEUED"
    assert connection("EXPIRE", "todo||task-2", "60") == "QUEUED"
    assert connection("EXEC") == [1, 0]
    try:
        connection("EVALSHA", "0" * 40, "0")
    except Refused as error:
        assert "NOSCRIPT" in str(error), error  # allowed, just not cached: the script is EVAL'd


#: Commands no client of the state store needs: each must be refused to the Dapr user.
DAPR_FORBIDDEN: tuple[tuple[str, ...], ...] = (
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "maxmemory"),
    ("CONFIG", "SET", "maxmemory", "0"),
    ("KEYS", "*"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN", "NOSAVE"),
    ("SCRIPT", "FLUSH"),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "LOAD", "#!lua name=todo\nredis.register_function('f', function() return 1 end)"),
    ("FCALL", "f", "0"),
    ("ACL", "LIST"),
    ("SAVE",),
    ("BGREWRITEAOF",),
    ("MONITOR",),
    ("SYNC",),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("MODULE", "LIST"),
    ("CLIENT", "KILL", "ID", "999999"),
    ("MIGRATE", "127.0.0.1", "1", "k", "0", "1"),
    ("RESTORE", "k", "0", "x"),
    ("SORT", "k"),
    ("SUBSCRIBE", "todo"),
    ("PUBLISH", "todo", "x"),
)
#: What the default user (readiness probe, `redis-cli --rdb`) may not do.
DEFAULT_FORBIDDEN: tuple[tuple[str, ...], ...] = (
    ("GET", "k"),
    ("SET", "k", "v"),
    ("HGETALL", "k"),
    ("EVAL", "return 1", "0"),
    ("KEYS", "*"),
    ("FLUSHALL",),
    ("CONFIG", "GET", "maxmemory"),
    ("INFO",),
    ("ACL", "LIST"),
)


def allowed(server: Server, user: str, password: str, commands: Sequence[tuple[str, ...]]) -> list[str]:
    """The commands of `commands` that `user` may run (an ACL refusal is NOPERM; any other answer means the command
    ran or at least passed the ACL). Each runs on a fresh connection."""
    ran = []
    for command in commands:
        connection = server.login(user, password)
        try:
            connection(*command)
            ran.append(" ".join(command))
        except Refused as error:
            # NOPERM: the ACL refused it; "not allowed": a protected command (DEBUG, MODULE) that is off anyway
            if "NOPERM" not in str(error) and "command not allowed" not in str(error):
                ran.append(" ".join(command))
        except OSError:
            ran.append(" ".join(command))  # the connection went away: SHUTDOWN, MONITOR...
        finally:
            connection.close()
    return ran


def test_the_dapr_user_can_do_what_the_state_store_does(production: Rendered, deployed: Server) -> None:
    connection = deployed.login(_dapr_user(production), PASSWORD)
    try:
        dapr_session(connection)
    finally:
        connection.close()


def test_the_dapr_user_is_refused_everything_dangerous(production: Rendered, deployed: Server) -> None:
    assert allowed(deployed, _dapr_user(production), PASSWORD, DAPR_FORBIDDEN) == []


def test_the_default_user_pings_and_snapshots_and_nothing_else(deployed: Server, tmp_path: Path) -> None:
    connection = deployed.login("default", PASSWORD)
    try:
        assert connection("PING") == "PONG"
    finally:
        connection.close()
    assert allowed(deployed, "default", PASSWORD, DEFAULT_FORBIDDEN) == []
    snapshot = tmp_path / "dump.rdb"
    cli = [str(toolchain.find("redis-cli")), "-h", "127.0.0.1", "-p", str(deployed.port), "--rdb", str(snapshot)]
    result = subprocess.run(
        cli, env={**os.environ, "REDISCLI_AUTH": PASSWORD}, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert snapshot.read_bytes().startswith(b"REDIS")


def test_no_one_gets_in_without_the_password(production: Rendered, deployed: Server) -> None:
    for user in ("default", _dapr_user(production)):
        with pytest.raises(Refused, match="WRONGPASS"):
            deployed.login(user, "not-the-password")
    anonymous = Connection(deployed.port)
    try:
        with pytest.raises(Refused, match="NOAUTH"):
            anonymous("PING")
    finally:
        anonymous.close()


def test_protected_mode_is_on_and_memory_is_bounded_without_eviction(production: Rendered, deployed: Server) -> None:
    assert deployed.setting("protected-mode") == "yes"
    assert deployed.setting("maxmemory-policy") == "noeviction"
    assert int(deployed.setting("maxmemory")) == redis_mib(production.values["redis"]["maxmemory"]) * 2**20


def test_a_full_state_store_refuses_writes_and_keeps_every_key(production: Rendered, deployed: Server) -> None:
    """noeviction: past maxmemory a write fails (Dapr returns the error) and nothing already stored is dropped."""
    admin = deployed.login(*ADMIN)
    dapr = deployed.login(_dapr_user(production), PASSWORD)
    try:
        admin("CONFIG", "SET", "maxmemory", "4mb")  # the policy is the chart's; only the ceiling is lowered, for speed
        written, refused = 0, None
        value = "x" * 4096
        for index in range(4096):
            try:
                dapr("EVAL", _UPSERT, "1", f"todo||{index}", value, "keep")
                written += 1
            except Refused as error:
                refused = str(error)
                break
        assert refused is not None and "OOM" in refused, refused
        assert admin("DBSIZE") == written and admin("INFO", "stats").count("evicted_keys:0") == 1
    finally:
        admin.close()
        dapr.close()


def test_maxmemory_leaves_room_for_the_fork_of_a_snapshot(production: Rendered) -> None:
    """A fork (redis-cli --rdb, AOF rewrite) can copy every page of the dataset: 2 x maxmemory x 1.2 fragmentation
    + 16 MiB for the server must fit the container's memory limit (values.yaml, redis.maxmemory)."""
    redis = production.values["redis"]
    assert worst_case_mib(redis) <= mebibytes(redis["resources"]["limits"]["memory"])
    seeded = {**redis, "maxmemory": "128mb"}  # half the limit: the fork no longer fits
    assert worst_case_mib(seeded) > mebibytes(seeded["resources"]["limits"]["memory"])


def redis_mib(value: str) -> int:
    """A redis.conf memory size in Redis' `mb` (MiB), the only unit the chart's schema allows."""
    match = re.fullmatch(r"([1-9][0-9]*)mb", value)
    assert match, value
    return int(match.group(1))


def worst_case_mib(redis: dict[str, Any]) -> float:
    return 2 * redis_mib(str(redis["maxmemory"])) * 1.2 + 16


def test_a_start_without_a_password_is_refused_in_one_line(production: Rendered, tmp_path: Path) -> None:
    _REDIS_ENV[:] = _redis_container(production)["env"]
    for secrets in (_secrets(""), {}):
        run, workdir = start_command(production, tmp_path / str(len(secrets)), secrets)
        assert run.returncode != 0
        assert not (workdir / "argv").exists()  # redis-server never started
        (line,) = run.stderr.strip().splitlines()
        assert "REDIS_PASSWORD" in line and "empty" in line


def test_no_password_reaches_an_argument_or_the_config_file_in_clear(production: Rendered, tmp_path: Path) -> None:
    _REDIS_ENV[:] = _redis_container(production)["env"]
    run, workdir = start_command(production, tmp_path, _secrets(PASSWORD, NEW_PASSWORD))
    assert run.returncode == 0, run.stderr
    argv = (workdir / "argv").read_text()
    config = Path(argv.splitlines()[0]).read_text()
    for secret in (PASSWORD, NEW_PASSWORD):
        assert secret not in argv and secret not in config
    assert oct(Path(argv.splitlines()[0]).stat().st_mode & 0o777) == "0o600"
    assert re.findall(r"#[0-9a-f]{64}", config)  # SHA-256 of each password, two per user


def test_the_rendered_flags_state_what_redis_must_run_with(production: Rendered) -> None:
    script = "\n".join(_redis_container(production)["args"])
    (line,) = [line for line in script.splitlines() if "exec redis-server" in line]
    words = shlex.split(line)
    flags = dict(zip(words[3::2], words[4::2], strict=False))
    assert flags["--protected-mode"] == "yes"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert flags["--maxmemory"] == production.values["redis"]["maxmemory"]
    statestore = production.get("Component", production.values["dapr"]["statestore"]["name"])
    metadata = {m["name"]: m for m in statestore["spec"]["metadata"]}
    assert metadata["redisUsername"]["value"] == _dapr_user(production) != "default"


# --- rotation: both passwords during the overlap, only the new one after -------------------------------------------


def test_during_a_rotation_both_passwords_work_and_after_it_only_the_new(production: Rendered, tmp_path: Path) -> None:
    """docs/runbooks/deploy.md, "Rotate an app secret": step 1 (REDIS_PASSWORD_ROTATION = new) and step 2
    (REDIS_PASSWORD = new, REDIS_PASSWORD_ROTATION = old) accept both; step 3 (rotation empty) only the new."""
    _REDIS_ENV[:] = _redis_container(production)["env"]
    dapr = _dapr_user(production)
    steps = [
        ("step 1", _secrets(PASSWORD, NEW_PASSWORD), {PASSWORD, NEW_PASSWORD}),
        ("step 2", _secrets(NEW_PASSWORD, PASSWORD), {PASSWORD, NEW_PASSWORD}),
        ("step 3", _secrets(NEW_PASSWORD), {NEW_PASSWORD}),
    ]
    for name, secrets, accepted in steps:
        run, workdir = start_command(production, tmp_path / name.replace(" ", "-"), secrets)
        assert run.returncode == 0, run.stderr
        server = Server(workdir).start()
        try:
            for user in ("default", dapr):
                for password in (PASSWORD, NEW_PASSWORD):
                    if password in accepted:
                        server.login(user, password).close()
                    else:
                        with pytest.raises(Refused, match="WRONGPASS"):
                            server.login(user, password)
        finally:
            server.stop()


# --- seeded failures: the same checks catch the configuration the chart had before ---------------------------------


def test_seeded_the_old_configuration_fails_the_checks(production: Rendered, tmp_path: Path) -> None:
    """7.4.2's chart: requirepass on the default user, every command allowed, protected mode off, no maxmemory.
    The checks above report each of those."""
    workdir = tmp_path / "old"
    workdir.mkdir()
    (workdir / "redis.conf").write_text(f'requirepass "{PASSWORD}"\nuser dapr on >{PASSWORD} ~* &* +@all\n')
    (workdir / "argv").write_text(
        "\n".join(
            [
                str(workdir / "redis.conf"),
                "--port",
                "0",
                "--dir",
                "/data",
                "--appendonly",
                "yes",
                "--protected-mode",
                "no",
            ]
        )
        + "\n"
    )
    server = Server(workdir).start()
    try:
        harmless = [c for c in DAPR_FORBIDDEN if c[0] not in ("SHUTDOWN", "SYNC", "REPLICAOF", "MONITOR")]
        wrongly_allowed = allowed(server, "dapr", PASSWORD, harmless)
        assert {"FLUSHALL", "CONFIG GET maxmemory", "KEYS *"} <= set(wrongly_allowed)
        assert {"GET k", "SET k v", "FLUSHALL"} <= set(allowed(server, "default", PASSWORD, DEFAULT_FORBIDDEN))
        assert server.setting("protected-mode") == "no" and server.setting("maxmemory") == "0"
    finally:
        server.stop()


def test_seeded_a_dapr_user_without_scripting_fails_the_state_store_session(
    production: Rendered, tmp_path: Path
) -> None:
    workdir = tmp_path / "noeval"
    workdir.mkdir()
    (workdir / "redis.conf").write_text(f"user dapr on >{PASSWORD} ~* -@all +@read +@write +@connection -@dangerous\n")
    (workdir / "argv").write_text("\n".join([str(workdir / "redis.conf"), "--port", "0", "--dir", "/data"]) + "\n")
    server = Server(workdir).start()
    try:
        connection = server.login("dapr", PASSWORD)
        with pytest.raises(Refused, match="NOPERM"):
            dapr_session(connection)
        connection.close()
    finally:
        server.stop()


def test_the_image_and_the_suites_redis_share_major_minor() -> None:
    """The engine the tests run is the engine deployed: same major.minor as the chart's pinned image tag."""
    image = load_values(BASE_VALUES)["redis"]["image"]
    tag = re.search(r":(\d+)\.(\d+)\.\d+-", image)
    assert tag, image
    for tool in ("redis-server", "redis-cli"):
        (version,) = toolchain.tool(tool).versions
        assert version.split(".")[:2] == [tag.group(1), tag.group(2)], (tool, version, image)
        assert toolchain.reported_version(toolchain.find(tool), toolchain.tool(tool)) == version


#: The first release of each line with the fixes of CVE-2025-21605, CVE-2025-49844 and CVE-2026-23479 (redis/redis
#: release notes; 8.0 has none with the last). A line not listed has no such release.
FIXED_FROM = {"7.2": (7, 2, 14), "7.4": (7, 4, 9), "8.2": (8, 2, 6), "8.4": (8, 4, 3), "8.6": (8, 6, 3)}


def cves_fixed(image: str) -> bool:
    match = re.search(r":(\d+)\.(\d+)\.(\d+)-", image)
    assert match, image
    version = tuple(int(part) for part in match.groups())
    floor = FIXED_FROM.get(f"{version[0]}.{version[1]}")
    return floor is not None and version >= floor


def test_the_image_is_a_release_with_the_known_cves_fixed() -> None:
    assert cves_fixed(load_values(BASE_VALUES)["redis"]["image"])
    # seeded: the image the chart had, and the 8.0 line Debian ships
    assert not cves_fixed("docker.io/library/redis:7.4.2-alpine@sha256:" + "0" * 64)
    assert not cves_fixed("docker.io/library/redis:8.0.6-alpine@sha256:" + "0" * 64)


def test_the_readiness_probe_passes_with_the_password_and_fails_without(production: Rendered, deployed: Server) -> None:
    """The rendered probe, run as kubelet runs it (with the container's REDISCLI_AUTH) against the real server."""
    container = _redis_container(production)
    command = [
        part.replace(f"-p {production.values['redis']['port']}", f"-h 127.0.0.1 -p {deployed.port}")
        for part in container["readinessProbe"]["exec"]["command"]
    ]
    path = f"{toolchain.find('redis-cli').parent}:{os.environ['PATH']}"
    for password, ready in ((PASSWORD, True), ("not-the-password", False)):
        result = subprocess.run(
            command, env={"PATH": path, "REDISCLI_AUTH": password}, capture_output=True, timeout=30, check=False
        )
        assert (result.returncode == 0) is ready, (password, result.stderr)
