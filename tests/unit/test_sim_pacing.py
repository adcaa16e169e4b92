"""Sim time paced against the wall clock, sim-time schedules, achieved-speed windows."""
import pytest

from skypost_sim.pacing import Pacer, Schedule, SpeedMeter

pytestmark = pytest.mark.unit


def run(pacer: Pacer, wall_times, sim_now: float = 0.0, budget: int | None = None) -> float:
    """Feeds wall times to the pacer; a machine with a step `budget` per tick runs at most that many."""
    for wall in wall_times:
        steps = pacer.steps(wall, sim_now)
        if budget is not None:
            steps = min(steps, budget)
        sim_now += steps * pacer.dt
    return sim_now


def test_sim_time_follows_speed_times_wall_time():
    pacer = Pacer(speed=10.0, dt=0.02, tick=0.01, wall_start=100.0)
    sim_now = run(pacer, [100.0 + 0.01 * k for k in range(1, 301)])
    assert sim_now == pytest.approx(30.0, abs=0.02)


def test_a_late_tick_catches_up_a_little_then_time_runs_slower():
    pacer = Pacer(speed=10.0, dt=0.02, tick=0.01, wall_start=0.0)
    assert pacer.max_steps == 10
    assert pacer.steps(5.0, 0.0) == 10, "a 5 s stall does not burst 2500 steps"
    assert pacer.steps(5.01, 0.2) == 5, "re-anchored: from here on, speed x wall time again"


def test_a_slow_machine_gets_a_slower_clock_not_a_jumpy_one():
    pacer = Pacer(speed=10.0, dt=0.02, tick=0.01, wall_start=0.0)
    sim_now = run(pacer, [0.01 * k for k in range(1, 101)], budget=2)   # only 2 steps per tick: 4x
    assert sim_now == pytest.approx(4.0, abs=0.05)


def test_sim_ahead_of_the_wall_waits():
    pacer = Pacer(speed=1.0, dt=0.02, tick=0.01, wall_start=0.0)
    assert pacer.steps(0.01, 0.5) == 0


def test_schedule_fires_on_its_period_and_skips_missed_beats():
    schedule = Schedule.at_rate(10.0)
    fired = [t / 100 for t in range(0, 101, 2) if schedule.due(t / 100)]
    assert len(fired) == 11 and fired[1] == pytest.approx(0.1)
    late = Schedule(1.0)
    assert late.due(0.0) and late.due(5.0)
    assert not late.due(5.5) and late.due(6.0), "after a gap the next beat is one period later, not a burst"
    assert not any(Schedule.at_rate(0.0).due(t) for t in (0.0, 1.0, 2.0))


def test_speed_meter_windows():
    meter = SpeedMeter(2.0, wall_start=10.0, sim_start=0.0)
    assert meter.sample(11.0, 10.0, 0.2) is None
    assert meter.sample(12.0, 20.0, 0.5) == pytest.approx((10.0, 0.25))
    assert meter.sample(14.0, 30.0, 0.7) == pytest.approx((5.0, 0.1))
