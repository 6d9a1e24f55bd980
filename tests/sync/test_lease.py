"""The sync lease: one writer per state file, across threads and processes."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.sync import lease as lease_module
from syncd.sync.lease import LeaseKeeper, describe, with_sync_lease
from syncd.sync.state import StateStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path):
    with StateStore.open(path) as s:
        yield s


def test_free_lease_is_acquired(store):
    acquired, lease = store.acquire_lease("sync", "a", TTL, now=T0)
    assert acquired
    assert (lease.holder, lease.acquired_at, lease.expires_at) == ("a", T0, T0 + TTL)
    assert store.get_lease("sync") == lease


def test_held_lease_is_refused_and_names_the_holder(store):
    store.acquire_lease("sync", "a", TTL, now=T0)
    acquired, lease = store.acquire_lease("sync", "b", TTL, now=T0 + timedelta(seconds=29))
    assert not acquired and lease.holder == "a"


def test_reacquiring_renews_and_keeps_acquired_at(store):
    store.acquire_lease("sync", "a", TTL, now=T0)
    acquired, lease = store.acquire_lease("sync", "a", TTL, now=T0 + timedelta(seconds=20))
    assert acquired
    assert lease.acquired_at == T0 and lease.expires_at == T0 + timedelta(seconds=50)


def test_expired_lease_is_taken_over(store):
    store.acquire_lease("sync", "a", TTL, now=T0)
    acquired, lease = store.acquire_lease("sync", "b", TTL, now=T0 + TTL)
    assert acquired and lease.holder == "b" and lease.acquired_at == T0 + TTL
    # the previous holder's renewal now fails: it must stop writing
    assert not store.renew_lease("sync", "a", TTL, now=T0 + TTL)
    assert store.renew_lease("sync", "b", TTL, now=T0 + TTL)


def test_release_only_by_the_holder_and_break_by_anyone(store):
    store.acquire_lease("sync", "a", TTL, now=T0)
    assert not store.release_lease("sync", "b")
    assert store.get_lease("sync").holder == "a"
    assert store.release_lease("sync", "a")
    assert store.get_lease("sync") is None
    store.acquire_lease("sync", "a", TTL, now=T0)
    assert store.release_lease("sync")  # the operator's `syncd lease break`
    assert store.get_lease("sync") is None


def test_leases_are_independent_by_name(store):
    assert store.acquire_lease("sync", "a", TTL)[0]
    assert store.acquire_lease("digest", "b", TTL)[0]


def test_lease_survives_reopening_the_store(path):
    with StateStore.open(path) as s:
        s.acquire_lease("sync", "a", TTL)
    with StateStore.open(path) as s:
        assert s.get_lease("sync").holder == "a"
        assert not s.acquire_lease("sync", "b", TTL)[0]


def test_state_reset_keeps_the_lease(store):
    store.acquire_lease("sync", "a", TTL)
    store.reset()
    assert store.get_lease("sync").holder == "a"


def test_threads_with_their_own_connections_race_and_one_wins(path):
    StateStore.open(path).close()
    barrier = threading.Barrier(8)
    winners: list[str] = []

    def contend(name: str) -> None:
        with StateStore.open(path) as s:
            barrier.wait()
            if s.acquire_lease("sync", name, TTL)[0]:
                winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_processes_race_and_exactly_one_wins(path):
    StateStore.open(path).close()
    go = time.time() + 1.0
    code = textwrap.dedent(
        f"""
        import sys, time
        from datetime import timedelta
        from syncd.sync.state import StateStore
        with StateStore.open({str(path)!r}) as s:
            time.sleep(max(0, {go} - time.time()))
            print(s.acquire_lease("sync", sys.argv[1], timedelta(seconds=30))[0])
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"p{i}"], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=30)[0].strip() for p in procs]
    assert sorted(results) == ["False", "False", "False", "True"]


# ----------------------------------------------------------------------------- LeaseKeeper


def test_keeper_waits_reports_the_holder_then_gives_up(store):
    store.acquire_lease("sync", "someone-else", TTL)
    keeper = LeaseKeeper(store, holder="me")
    busy = []
    started = time.monotonic()
    assert not keeper.acquire(0.3, poll=0.05, on_busy=busy.append)
    assert 0.25 <= time.monotonic() - started < 2
    assert [b.holder for b in busy] == ["someone-else"]  # said once, not per poll
    assert keeper.other.holder == "someone-else" and not keeper.held


def test_keeper_gets_the_lease_when_it_is_released(store):
    store.acquire_lease("sync", "first", TTL)
    keeper = LeaseKeeper(store, holder="second")
    threading.Timer(0.2, lambda: store.release_lease("sync", "first")).start()
    assert keeper.acquire(5, poll=0.05)
    assert keeper.held and store.get_lease("sync").holder == "second"


def test_keeper_stops_waiting_when_asked(store):
    store.acquire_lease("sync", "first", TTL)
    keeper = LeaseKeeper(store, holder="second")
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert not keeper.acquire(None, poll=0.05, should_stop=stop.is_set)
    assert time.monotonic() - started < 2


def test_keeper_renews_in_the_background_and_releases(store):
    keeper = LeaseKeeper(store, holder="me", ttl=timedelta(seconds=2), renew_every=0.05)
    assert keeper.try_acquire()
    first = store.get_lease("sync").expires_at
    with keeper.renewing():
        # a renewal has happened: the expiry moved (waited for, not slept on)
        deadline = time.monotonic() + 5
        while store.get_lease("sync").expires_at <= first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.get_lease("sync").expires_at > first
    assert store.get_lease("sync") is None and not keeper.held


def test_keeper_notices_a_lost_lease(store):
    keeper = LeaseKeeper(store, holder="me", renew_every=0.05)
    assert keeper.try_acquire()
    keeper.start_renewing()
    store.release_lease("sync")  # broken by an operator…
    store.acquire_lease("sync", "usurper", TTL)  # …and taken by another worker
    deadline = time.monotonic() + 2
    while not keeper.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    assert keeper.lost and not keeper.held
    keeper.release()
    assert store.get_lease("sync").holder == "usurper"  # release never frees another's


def test_describe_says_who_and_until_when(store):
    _ok, lease = store.acquire_lease("sync", "host:42:abc", TTL, now=T0)
    text = describe(lease, now=T0 + timedelta(seconds=10))
    assert "host:42:abc" in text and "expires in 20 s" in text
    assert "expired" in describe(lease, now=T0 + timedelta(minutes=5))


def test_holder_ids_are_unique():
    assert lease_module.holder_id() != lease_module.holder_id()


# ----------------------------------------------------------------------------- `syncd sync`


def config_for(tmp_path: Path) -> Path:
    config = tmp_path / "syncd.toml"
    (tmp_path / "docs").mkdir(exist_ok=True)
    config.write_text('[docs]\nroot = "docs"\n[state]\npath = "state.db"\n')
    return config


def test_sync_command_runs_under_the_lease(tmp_path):
    config = config_for(tmp_path)
    seen = []

    @with_sync_lease
    def cmd(args):
        with StateStore.open(tmp_path / "state.db") as s:
            seen.append(s.get_lease("sync"))
        return 7

    assert cmd(argparse.Namespace(config=str(config))) == 7
    assert seen[0] is not None
    with StateStore.open(tmp_path / "state.db") as s:
        assert s.get_lease("sync") is None  # released afterwards


def test_sync_command_skips_cleanly_when_a_worker_holds_the_lease(tmp_path, monkeypatch, capsys):
    config = config_for(tmp_path)
    with StateStore.open(tmp_path / "state.db") as s:
        s.acquire_lease("sync", "daemon-host:1:abc", TTL)
    monkeypatch.setenv("SYNCD_LEASE_WAIT", "0.2")
    called = []
    wrapped = with_sync_lease(lambda args: called.append(1) or 2)
    assert wrapped(argparse.Namespace(config=str(config))) == 0
    assert called == []
    err = capsys.readouterr().err
    assert "another syncd is reconciling" in err and "daemon-host:1:abc" in err
    assert "Nothing was changed" in err


def test_sync_command_waits_for_a_lease_released_in_time(tmp_path, monkeypatch):
    config = config_for(tmp_path)
    with StateStore.open(tmp_path / "state.db") as s:
        s.acquire_lease("sync", "previous-run", TTL)
    monkeypatch.setenv("SYNCD_LEASE_WAIT", "5")

    def release() -> None:
        with StateStore.open(tmp_path / "state.db") as s:
            s.release_lease("sync", "previous-run")

    threading.Timer(0.3, release).start()
    assert with_sync_lease(lambda args: 0)(argparse.Namespace(config=str(config))) == 0


def test_sync_command_with_a_broken_config_reports_it_itself(tmp_path):
    calls = []
    wrapped = with_sync_lease(lambda args: calls.append(args) or 1)
    assert wrapped(argparse.Namespace(config=str(tmp_path / "missing.toml"))) == 1
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 30.0), ("2.5", 2.5), ("-3", 0.0), ("x", 30.0)]
)
def test_sync_wait_from_the_environment(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("SYNCD_LEASE_WAIT", raising=False)
    else:
        monkeypatch.setenv("SYNCD_LEASE_WAIT", raw)
    assert lease_module.sync_wait() == expected


def test_lease_cli_show_and_break(tmp_path, capsys):
    from syncd.cli.main import main

    config = config_for(tmp_path)
    assert main(["lease", "show", "--config", str(config)]) == 0
    assert "free" in capsys.readouterr().out
    with StateStore.open(tmp_path / "state.db") as s:
        s.acquire_lease("sync", "stuck-host:9:abc", TTL)
    assert main(["lease", "show", "--config", str(config)]) == 0
    assert "stuck-host:9:abc" in capsys.readouterr().out
    assert main(["lease", "break", "--config", str(config)]) == 1  # needs --yes
    assert main(["lease", "break", "--yes", "--config", str(config)]) == 0
    assert "broken" in capsys.readouterr().out
    with StateStore.open(tmp_path / "state.db") as s:
        assert s.get_lease("sync") is None


def test_a_lease_left_by_a_killed_process_is_taken_at_once(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{__import__('socket').gethostname()}:{proc.stdout.strip()}:dead00"
    with StateStore.open(tmp_path / "state.db") as s:
        s.acquire_lease("sync", dead, TTL)
        keeper = LeaseKeeper(s)
        assert keeper.try_acquire()  # no TTL wait: the holder's pid no longer exists
        keeper.release()


def test_the_real_sync_command_under_the_decorator(tmp_path, monkeypatch, capsys):
    """`syncd sync --once` runs under `@with_sync_lease`."""
    from syncd.cli.commands import cmd_sync

    config = config_for(tmp_path)
    args = argparse.Namespace(config=str(config), once=True, format="json")
    guarded = cmd_sync
    assert guarded(args) == 0
    assert '"summary"' in capsys.readouterr().out
    with StateStore.open(tmp_path / "state.db") as s:
        assert s.last_runs(1) and s.get_lease("sync") is None
        s.acquire_lease("sync", "daemon:7:abc", TTL)
    monkeypatch.setenv("SYNCD_LEASE_WAIT", "0")
    assert guarded(args) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "daemon:7:abc" in captured.err
    with StateStore.open(tmp_path / "state.db") as s:
        assert len(s.last_runs(10)) == 1  # the second invocation did not run
