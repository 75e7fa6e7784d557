"""Storage unit-test fixtures live in storage_testlib so integration tests can share them."""
from tests.unit.storage.storage_testlib import (  # noqa: F401
    apps, creds, driver, image_client, iscsi_target, s3, s3_client, settings, storage, tokens, volume_client)
