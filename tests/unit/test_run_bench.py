"""scripts/run_bench.py: every benchmark runs, a failing one is reported and fails the run, one JSON document."""
import importlib.util
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_bench_under_test", ROOT / "scripts" / "run_bench.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bench(directory: Path, name: str, body: str) -> None:
    (directory / f"bench_{name}.py").write_text(textwrap.dedent(body))


def run(module, tmp_path: Path, capsys, *args: str) -> tuple[int, str, dict]:
    code = module.main([*args, "--bench-dir", str(tmp_path), "--output", str(tmp_path / "results.json")])
    out = capsys.readouterr().out
    table, _, document = out.partition("\n\n")
    parsed = json.loads(document)
    assert parsed == json.loads((tmp_path / "results.json").read_text())
    return code, table, parsed


def test_all_pass_prints_a_table_and_one_json_document(run_bench, tmp_path, capsys):
    bench(tmp_path, "alpha", """
        import json, sys
        print("progress", file=sys.stderr)
        print("working")
        print(json.dumps({"rate": 1234.5, "ok": True, "nested": {"p99_ms": 2.5}}))
    """)
    bench(tmp_path, "beta", """
        import json, sys
        print(json.dumps({"quick": sys.argv[1:] != []}))
    """)
    code, table, document = run(run_bench, tmp_path, capsys, "--quick")
    assert code == 0
    assert set(document) == {"alpha", "beta", "_run"}
    assert document["alpha"]["nested"] == {"p99_ms": 2.5} and document["alpha"]["_seconds"] >= 0
    assert document["beta"]["quick"] is False  # it does not declare "--quick": it is not passed
    assert document["_run"]["failed"] == [] and document["_run"]["machine"]["cpus"] == os.cpu_count()
    assert "rate" in table and "1,234.5" in table


def test_quick_is_passed_to_benchmarks_that_take_it(run_bench, tmp_path, capsys):
    bench(tmp_path, "q", """
        import argparse, json
        parser = argparse.ArgumentParser()
        parser.add_argument("--quick", action="store_true")
        print(json.dumps({"quick": parser.parse_args().quick}))
    """)
    assert run(run_bench, tmp_path, capsys, "--quick")[2]["q"]["quick"] is True
    assert run(run_bench, tmp_path, capsys)[2]["q"]["quick"] is False


@pytest.mark.parametrize("body, error", [
    ("import sys; print('half done'); sys.exit(3)", "exit 3"),
    ("print('no figures here')", "last line is not JSON"),
    ("pass", "printed nothing"),
    ("print('[1, 2]')", "last line is not a JSON object"),
])
def test_a_failing_benchmark_is_reported_and_fails_the_run(run_bench, tmp_path, capsys, body, error):
    bench(tmp_path, "good", "import json; print(json.dumps({'x': 1}))")
    bench(tmp_path, "broken", body)
    code, table, document = run(run_bench, tmp_path, capsys)
    assert code == 1
    assert document["broken"]["error"] == error and document["good"]["x"] == 1  # the others still ran
    assert any(line.startswith("broken") and "FAILED" in line for line in table.splitlines())
    assert document["_run"]["failed"] == [f"broken: {error}"]


def test_a_benchmark_past_its_timeout_is_stopped_with_its_children(run_bench, tmp_path, capsys):
    pid_file = tmp_path / "child.pid"
    bench(tmp_path, "hang", f"""
        import subprocess, sys, threading
        child = subprocess.Popen([sys.executable, "-c", "import threading; threading.Event().wait(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        try:
            threading.Event().wait(120)
        finally:
            child.kill()  # its cleanup runs: the runner interrupts it with SIGINT first
            child.wait()
    """)
    code, _table, document = run(run_bench, tmp_path, capsys, "--timeout", "3")
    assert code == 1 and document["hang"]["error"] == "timed out after 3s"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_failed_correctness_check_fails_the_run(run_bench, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(run_bench.HEADLINES, "checked", [
        run_bench.Headline("data intact", "verify.ok", check=True),
        run_bench.Headline("speed", "rps", "req/s", target=lambda v: v > 100, target_text="> 100",
                           compare="baseline {base.rps}"),
    ])
    bench(tmp_path, "checked", "import json; print(json.dumps({'verify': {'ok': False}, 'rps': 50, "
                               "'base': {'rps': 500}}))")
    code, table, document = run(run_bench, tmp_path, capsys)
    assert code == 1 and document["_run"]["failed"] == ["checked: data intact is no"]
    assert "check: FAILED" in table
    assert "target > 100: MISSED; baseline 500" in table  # a missed target is shown, not a failure by itself


def test_a_missed_target_alone_does_not_fail(run_bench, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(run_bench.HEADLINES, "slow", [
        run_bench.Headline("speed", "rps", target=lambda v: v > 100, target_text="> 100"),
        run_bench.Headline("absent figure", "no.such.key")])
    bench(tmp_path, "slow", "import json; print(json.dumps({'rps': 5}))")
    code, table, _document = run(run_bench, tmp_path, capsys)
    assert code == 0 and "MISSED" in table and "n/a" in table


def test_unknown_benchmark_names_are_refused(run_bench, tmp_path, capsys):
    bench(tmp_path, "real", "print('{}')")
    with pytest.raises(SystemExit) as raised:
        run_bench.main(["nosuch", "--bench-dir", str(tmp_path), "--output", str(tmp_path / "r.json")])
    assert raised.value.code == 2
    assert "no such benchmark: nosuch" in capsys.readouterr().err


def test_every_benchmark_in_bench_has_headlines(run_bench):
    names = {p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")}
    assert names <= set(run_bench.HEADLINES), f"no headline figures for {names - set(run_bench.HEADLINES)}"
