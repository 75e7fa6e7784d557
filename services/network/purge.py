"""`egret network purge`: remove this box's data plane (bridges, namespaces, dnsmasq, nft tables) for a forced join."""
from __future__ import annotations

from pathlib import Path

import peewee

from appliance.db import open_database
from services.network.drivers import load_driver

# inventory kinds as the lines name them (filtered taps and QoS live on the guests' taps, which go with the domains)
KINDS = (("bridges", "bridge"), ("netns", "namespace"), ("dhcp", "dnsmasq of network"),
         ("nft_tables", "nftables table"), ("floating_ips", "floating IP"))


def ever_ran(settings) -> bool:
    """Whether the network service has a database here: a box where it never ran has no data plane of its own,
    and its prefix's links must not be looked for (another cloud on this machine may share nothing with it)."""
    url = settings.database_for("network")
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).exists()
    database = open_database(url)
    try:
        database.connect()
    except peewee.OperationalError:
        return False
    database.close()
    return True


def purge(settings, driver=None) -> list[str]:
    """Tear down everything this box's network driver (its prefix) made: what the networks of the dropped cloud
    ran on this node. Returns what was removed, one line each. Idempotent; nothing is asked of a box whose
    network service never ran. The database is not touched (the join drops it after)."""
    if driver is None and not ever_ran(settings):
        return ["network: no network database, nothing to purge"]
    driver = driver or load_driver(settings)
    before = driver.inventory()
    driver.teardown()
    done = [f"network: removed {what} {name}" for kind, what in KINDS for name in before.get(kind, [])]
    return done or [f"network: data plane of prefix {driver.prefix} already empty"]


def cmd_purge(args, settings) -> int:
    for line in purge(settings):
        print(line, flush=True)
    return 0
