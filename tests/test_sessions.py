"""utils.new_session: each session keeps its own credentials and region, and all of them read the
service models through one loader (parsed once per process)."""

from __future__ import annotations

from utils import new_session


def test_sessions_share_one_model_loader_and_keep_their_own_credentials() -> None:
    first = new_session(aws_access_key_id="AKIDFIRST", aws_secret_access_key="s1",
                        region_name="us-east-1")  # fmt: skip
    second = new_session(aws_access_key_id="AKIDSECOND", aws_secret_access_key="s2",
                         region_name="eu-west-1")  # fmt: skip

    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
    first.client("sagemaker")
    # the second session's client is built from the model the first one parsed
    assert second.client("sagemaker").meta.service_model._service_description is (
        loader.load_service_model("sagemaker", "service-2")
    )
    credentials = second.get_credentials()
    assert credentials is not None and credentials.access_key == "AKIDSECOND"
    assert (first.region_name, second.region_name) == ("us-east-1", "eu-west-1")
