"""`egret compute purge`: destroy this box's servers' guests and their files (a forced join drops the cloud)."""
from __future__ import annotations

from pathlib import Path

import peewee

from appliance.db import open_database
from services.compute.drivers import base, load_driver
from services.compute.models import Instance


def servers(settings) -> list[tuple[str, str, str]]:
    """(id, domain_name, image_ref) of every server row of this box's database, deleted ones too (a guest may outlive its
    row's deletion); none when the service never made its database. Read only: the purge never writes rows."""
    url = settings.database_for("compute")
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return []   # opening it would create an empty database on a box that has none
    database = open_database(url)
    try:
        database.connect()
    except peewee.OperationalError:
        return []   # no database for the service (PostgreSQL): it holds nothing
    try:
        if "instance" not in database.get_tables():
            return []
        with database.bind_ctx([Instance]):
            return [(row.id, row.domain_name or "", row.image_ref or "")
                    for row in Instance.select(Instance.id, Instance.domain_name, Instance.image_ref)
                    .order_by(Instance.id)]
    finally:
        database.close()


def purge(settings, driver=None) -> list[str]:
    """Destroy and undefine every domain of this box's servers, delete their instance files and drop the images
    they booted from out of the node's image cache (`_base`); returns what was done, one line each. Idempotent. A domain with this node's prefix that no server names is left alone (as the
    site's stale-guest sweep does): it is not this cloud's. The guests' taps are libvirt's, gone with the domain;
    bridges, namespaces and the rest of the data plane are the network service's (`egret network purge`)."""
    rows = servers(settings)
    if not rows:
        return ["compute: no server, nothing to purge"]
    driver = driver or load_driver(settings)
    prefix = driver.domain_prefix()
    present = set(driver.list_domains())
    known, done = set(), []
    for server_id, domain_name, _ in rows:
        names = {prefix + server_id} | ({domain_name} if domain_name else set())
        known |= names
        for name in sorted(names):
            # a domain outside this node's prefix is not in list_domains: ask for it by name
            exists = name in present if name.startswith(prefix) else driver.power_state(name) != base.NOSTATE
            if exists:
                driver.destroy(name)
                done.append(f"compute: destroyed and undefined domain {name} (server {server_id})")
        if (Path(driver.files.root) / server_id).exists():
            driver.delete_instance_files(server_id)
            done.append(f"compute: deleted the instance files of server {server_id}")
    # after the guests: no overlay of this box's servers is left on these bases. An image no server of this box
    # booted is not this cloud's cache entry (another cloud's guest on the node may stand on it): left alone
    for image_id in sorted({image for _, _, image in rows if image}):
        if driver.files.drop_cached_image(image_id):
            done.append(f"compute: dropped image {image_id} from the node's image cache")
    for name in sorted(present - known):
        done.append(f"compute: left domain {name} alone (no server of this box names it)")
    return done or [f"compute: {len(rows)} server row(s), no guest or instance files left to purge"]


def cmd_purge(args, settings) -> int:
    for line in purge(settings):
        print(line, flush=True)
    return 0
