"""The worker's boto3 Session: its data loader loads a service's model without scanning every service's directory,
and still refuses an unknown service as botocore does."""

from __future__ import annotations

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from worker_function.clients import KnownServicesLoader, aws_session


def test_a_client_is_made_without_listing_every_service(monkeypatch):
    scans: list[str] = []
    scan = Loader.list_available_services

    def counted(self, type_name):
        scans.append(type_name)
        return scan(self, type_name)

    monkeypatch.setattr(Loader, "list_available_services", counted)
    session = aws_session()
    client = session.client("dynamodb", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")

    assert isinstance(session._session.get_component("data_loader"), KnownServicesLoader)
    assert client.meta.service_model.service_name == "dynamodb"
    assert scans == []  # the old loader scanned every service twice: for the model and the endpoint rules


def test_an_unknown_service_is_refused_naming_the_known_ones():
    session = aws_session()

    with pytest.raises(UnknownServiceError, match=r"Valid service names are: .*dynamodb"):
        session.client("no-such-service", region_name="eu-west-1")
    services = session.get_available_services()
    assert "dynamodb" in services and "no-such-service" not in services and "../dynamodb" not in services
    assert len(services) > 300 and "sqs" in list(services)
