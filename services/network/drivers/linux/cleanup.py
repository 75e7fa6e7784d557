"""Remove every namespace, link, nftables table and daemon a network service with this state dir created.

    python -m services.network.drivers.linux.cleanup [STATE_DIR]     (default: the configured state dir)
"""
from __future__ import annotations

import sys
from pathlib import Path

from appliance import config
from services.network.drivers.linux import LinuxDriver


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    overrides = {"state_dir": Path(argv[0]).absolute()} if argv else {}
    settings = config.load(**overrides)
    driver = LinuxDriver(settings)
    driver.teardown()
    print(f"removed the data plane of prefix {driver.prefix} ({settings.state_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
