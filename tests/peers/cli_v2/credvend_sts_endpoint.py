"""An AWS CLI v2 plugin that points every STS client at $CREDVEND_TEST_STS_URL (moto).

The CLI v2 2.9 has no configuration for a service endpoint: it reads neither
AWS_ENDPOINT_URL_STS nor a `[services]` section, and `--endpoint-url` reaches only the client of
the command itself, not the STS client that a profile's `credential_source` creates for its
AssumeRole. A test profile loads this module through the CLI's legacy plugin mechanism:

    [plugins]
    cli_legacy_plugin_path = <this folder>
    credvend_sts_endpoint = credvend_sts_endpoint

Once the session exists it wraps `Session.create_client`, so every STS client the CLI creates
(the command's and the credential provider's) gets the endpoint unless one was passed.
"""

import os

_VARIABLE = "CREDVEND_TEST_STS_URL"


def awscli_initialize(cli):
    cli.register("session-initialized", _point_sts_at_the_test_endpoint)


def _point_sts_at_the_test_endpoint(session, **_):
    url = os.environ[_VARIABLE]  # a KeyError names the variable the test forgot to set
    create_client = session.create_client

    def create_client_with_endpoint(service_name, *args, **kwargs):
        if service_name == "sts" and not kwargs.get("endpoint_url"):
            kwargs["endpoint_url"] = url
        return create_client(service_name, *args, **kwargs)

    session.create_client = create_client_with_endpoint
