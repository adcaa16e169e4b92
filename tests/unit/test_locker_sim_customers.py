"""The line of simulated customers at a locker: one at the camera at a time, patience from reaching the front."""
import pytest

from skypost_locker.sim_customers import CustomerLine

pytestmark = pytest.mark.unit


def test_one_customer_shows_the_code_until_their_cell_opens_then_leaves():
    line = CustomerLine(patience=30.0)
    assert line.arrive("A", "frame-A", now=0.0)
    showing, gave_up = line.showing(now=1.0)
    assert showing.code == "A" and gave_up is None
    assert line.cell_unlocked(3).code == "A"
    assert line.showing(now=2.0) == (None, None)      # the code is no longer held up
    assert line.owns(3) and not line.owns(4)
    assert line.took_parcel(4, now=3.0) is None       # not their cell
    assert line.took_parcel(3, now=3.0).code == "A" and len(line) == 0


def test_customers_queue_and_patience_starts_at_the_front():
    line = CustomerLine(patience=10.0)
    line.arrive("A", "fA", now=0.0)
    line.arrive("B", "fB", now=1.0)
    assert not line.arrive("B", "fB", now=2.0)        # the same code again is not a second customer
    assert line.showing(now=5.0)[0].code == "A"
    line.cell_unlocked(2)
    assert line.cell_unlocked(5) is None               # one pickup at a time: nobody else is served meanwhile
    line.took_parcel(2, now=25.0)                       # B waited 24 s in line: their patience starts only now
    showing, gave_up = line.showing(now=34.0)
    assert showing.code == "B" and gave_up is None
    showing, gave_up = line.showing(now=35.5)
    assert showing is None and gave_up.code == "B" and len(line) == 0


def test_a_customer_who_gives_up_lets_the_next_step_up():
    line = CustomerLine(patience=5.0)
    line.arrive("A", "fA", now=0.0)
    line.arrive("B", "fB", now=0.0)
    showing, gave_up = line.showing(now=6.0)
    assert gave_up.code == "A" and showing.code == "B"
    assert line.cell_unlocked(1).code == "B"


def test_a_refused_customer_leaves_at_once_and_the_next_steps_up():
    line = CustomerLine(patience=30.0)
    line.arrive("used", "f1", now=0.0)
    line.arrive("B", "f2", now=0.0)
    assert line.refused(now=2.0).code == "used"
    assert line.showing(now=31.0)[0].code == "B"      # B's patience started when they stepped up at 2 s
    line.cell_unlocked(4)
    assert line.refused(now=33.0) is None               # a refusal meanwhile is someone else's: B has a cell


def test_patience_must_be_positive():
    with pytest.raises(ValueError):
        CustomerLine(patience=0.0)
