"""The command line: init-db, seed (idempotent, passwords printed once), the world file's lockers."""
import pytest
from conftest import WORLD, base_config
from skypost_web import create_app
from skypost_web.extensions import db
from skypost_web.models import Good, Locker, User
from skypost_web.security import check_password
from sqlalchemy import func, select

pytestmark = pytest.mark.unit


def test_init_db_and_seed(tmp_path):
    app = create_app(base_config(DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite'}"), environ={})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    passwords = dict(line.split(": password ") for line in first.output.splitlines() if line.startswith("account "))
    assert set(passwords) == {"account admin", "account operator", "account customer", "account locker_1-device"}
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert admin.role == "admin" and check_password(passwords["account admin"], admin.password_hash)
        device = db.session.scalar(select(User).where(User.username == "locker_1-device"))
        assert device.role == "locker" and device.locker_id == "locker_1"
        assert [lk.id for lk in db.session.scalars(select(Locker).order_by(Locker.id))] == ["locker_1", "locker_2"]
        goods = db.session.scalar(select(func.count(Good.id)))
    again = runner.invoke(args=["seed"])
    assert again.exit_code == 0 and "already exist" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Good.id))) == goods
        assert db.session.scalar(select(func.count(User.id))) == 4


def test_seed_reports_a_bad_world_file(tmp_path):
    bad = tmp_path / "world.yaml"
    bad.write_text("lockers:\n  - id: x\n")
    app = create_app(base_config(DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite'}", WORLD_FILE=str(bad)), environ={})
    runner = app.test_cli_runner()
    runner.invoke(args=["init-db"])
    result = runner.invoke(args=["seed"])
    assert result.exit_code != 0 and "lockers[0]" in result.output


def test_default_world_file_is_the_checkout_one():
    app = create_app({"DATABASE_URL": "sqlite://", "ROS_LINK": "none"}, environ={})
    assert app.config["WORLD_FILE"] == str(WORLD)
