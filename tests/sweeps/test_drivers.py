"""The SigOpt driver follows the flags and the environment: SigOpt-Lite unless SIGOPT_API_TOKEN is set,
the API (at SIGOPT_API_URL when set) otherwise. Checked up to the connection built: nothing is contacted."""

from __future__ import annotations

import socket

import pytest
from sigopt.request_driver import DEFAULT_API_URL, RequestDriver
from sigoptlite import LocalDriver
from sweep_files import TOKEN

from sweeps.sigopt_driver import make_connection
from training.config import ConfigError


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_without_a_token_the_driver_is_sigopt_lite():
    connection, name = make_connection(None, {})
    assert name == "lite" and isinstance(connection.impl.driver, LocalDriver)


def test_a_token_in_the_environment_selects_the_api_at_its_default_address():
    connection, name = make_connection(None, {"SIGOPT_API_TOKEN": TOKEN})
    driver = connection.impl.driver
    assert name == "api" and isinstance(driver, RequestDriver)
    assert driver.api_url == DEFAULT_API_URL
    assert driver.auth.username == TOKEN  # the token authenticates the requests


def test_sigopt_api_url_points_the_api_driver_at_a_self_hosted_server():
    connection, name = make_connection("api", {"SIGOPT_API_TOKEN": TOKEN, "SIGOPT_API_URL": "http://sigopt.lab:4000"})
    assert name == "api" and connection.impl.driver.api_url == "http://sigopt.lab:4000"


def test_token_and_url_are_read_from_the_environment_given_and_nowhere_else(monkeypatch):
    monkeypatch.setenv("SIGOPT_API_URL", "http://not-this-one:1")
    monkeypatch.setenv("SIGOPT_API_TOKEN", "not-this-one-either")
    connection, _ = make_connection("api", {"SIGOPT_API_TOKEN": TOKEN})
    assert connection.impl.driver.api_url == DEFAULT_API_URL and connection.impl.driver.auth.username == TOKEN
    _, name = make_connection(None, {})
    assert name == "lite"


def test_driver_lite_is_used_even_with_a_token():
    connection, name = make_connection("lite", {"SIGOPT_API_TOKEN": TOKEN, "SIGOPT_API_URL": "http://sigopt.lab"})
    assert name == "lite" and isinstance(connection.impl.driver, LocalDriver)


def test_driver_api_without_a_token_is_a_one_line_error():
    with pytest.raises(ConfigError, match="^--driver api needs the SIGOPT_API_TOKEN environment variable"):
        make_connection("api", {"SIGOPT_API_URL": "http://sigopt.lab"})
