from sqlalchemy import func, select

from app.auth.models import Role, User


def test_create_admin_makes_an_operator_who_can_sign_in(app, db, client):
    result = app.test_cli_runner().invoke(args=["create-admin", "boss@example.com"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].removeprefix("password: ")
    user = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    assert user.role == Role.ADMIN
    from tests.conftest import login

    assert login(client, "boss@example.com", password).headers["Location"] == "/"


def test_create_admin_refuses_a_duplicate_and_a_bad_email(app, db):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-admin", "boss@example.com", "--password", "long enough pw"]).exit_code == 0
    again = runner.invoke(args=["create-admin", "boss@example.com", "--password", "long enough pw"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["create-admin", "not-an-email", "--password", "long enough pw"])
    assert bad.exit_code != 0 and "not an email" in bad.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_seed_demo_creates_the_operator_once(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--customers", "5", "--months", "2", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "operator@advancia.test" in first.output
    second = runner.invoke(args=["seed-demo", "--customers", "5", "--months", "2", "--if-empty"])
    assert "nothing to do" in second.output
    assert db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)) == 1


def test_the_published_demo_login_signs_in_through_the_form(app, db, client):
    from app.demo.seed import DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD
    from tests.conftest import login

    app.test_cli_runner().invoke(args=["seed-demo", "--customers", "5", "--months", "2", "--if-empty"])
    assert login(client, DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD).headers["Location"] == "/"
