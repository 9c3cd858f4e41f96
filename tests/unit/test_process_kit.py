"""The one process kit (tests, benchmarks, drills): private logs kept per name, a clean
environment, nothing left running."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import psutil

from ops.processes import ProcessKit, clean_environment


def test_logs_are_private_and_a_restart_under_the_same_name_appends(tmp_path: Path) -> None:
    kit = ProcessKit(tmp_path / "logs", clean_environment({"CS_TEST_MARK": "1"}))
    missing = str(tmp_path / "absent.toml")
    first = kit.run_py("--config", missing, name="node-1")
    code, text = kit.finish(first)
    assert code != 0
    assert text
    again = kit.run_py("--config", missing, name="node-1")
    kit.finish(again)
    log = tmp_path / "logs" / "node-1.log"
    assert kit.output(again) == log.read_text(errors="replace")
    assert len(log.read_text(errors="replace")) > len(text)  # both runs, in order
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700
    kit.stop_all()


def test_the_callers_settings_do_not_leak_into_the_processes() -> None:
    os.environ["CS_LEAK_PROBE"] = "x"
    try:
        assert "CS_LEAK_PROBE" not in clean_environment()
        assert clean_environment({"CS_GIVEN": "y"})["CS_GIVEN"] == "y"
    finally:
        del os.environ["CS_LEAK_PROBE"]


def test_stop_all_continues_a_paused_process_and_ends_it(tmp_path: Path) -> None:
    kit = ProcessKit(tmp_path)
    # (a prefix that runs instead of run.py: `sh -c CMD` takes what follows as $0, $1...)
    process = kit.run_py("--config", str(tmp_path / "absent.toml"), prefix=["sh", "-c", "sleep 600"])
    os.kill(process.pid, signal.SIGSTOP)
    kit.stop_all()
    assert process.poll() is not None
    assert not psutil.pid_exists(process.pid) or psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE


def test_a_process_starts_with_the_environment_as_it_is_then(tmp_path: Path) -> None:
    env = clean_environment({"CS_TEST_MARK": "before"})
    kit = ProcessKit(tmp_path / "logs", env)
    env["CS_TEST_MARK"] = "after"  # as LocalCluster does: a test's other secret, the private Redis's URL
    shown = kit.run_py(name="shown", prefix=["sh", "-c", 'echo "mark=$CS_TEST_MARK"'])  # (sh ignores the rest)
    code, text = kit.finish(shown)
    assert (code, text.strip()) == (0, "mark=after")
    kit.stop_all()
