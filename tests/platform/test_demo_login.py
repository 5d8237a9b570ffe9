"""The published demo login works: its address is on the special-use .test domain."""

from app.demo.seed import DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD
from tests.conftest import login
from tests.factories import make_user


def test_the_demo_operator_can_sign_in_with_its_dot_test_address(client, db):
    make_user(role="admin", email=DEMO_OPERATOR_EMAIL, password=DEMO_OPERATOR_PASSWORD)
    response = login(client, DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
