"""The node's PTP profile: kept in the state dir, applied to linuxptp at start and on every change."""
from __future__ import annotations

import json
import os

from appliance.errors import BadRequest
from appliance.unitstatus import PTP_STATE
from services.timing import nic
from services.timing import profile as ptp_profile
from services.timing.linuxptp import LinuxPtp


class Manager:
    def __init__(self, settings):
        conf = settings.section("timing")
        self.dir = settings.state_dir / "timing"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "ptp.json"
        # `netns`: run the daemons in a network namespace (tests put two clocks on one machine this way)
        self.ptp = LinuxPtp(self.dir / "run", netns=conf.get("netns"), poll=float(conf.get("poll_interval", 2.0)),
                            state_file=settings.state_dir / PTP_STATE)
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.ptp.configure(ptp_profile.normalize({}, saved))

    def show(self) -> dict:
        return {**self.ptp.profile, "state": self.ptp.state()}

    def update(self, body: dict) -> dict:
        try:
            new = ptp_profile.normalize(body, self.ptp.profile)
            if new["enabled"]:
                self._check_nics(new)
        except ptp_profile.ProfileError as exc:
            raise BadRequest(f"Invalid input for field '{exc}'") from None
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(new, sort_keys=True))
        os.replace(tmp, self.path)          # a crash leaves the old profile or the new one, never half of it
        self.ptp.configure(new)
        return self.show()

    def _check_nics(self, profile: dict) -> None:
        """Every interface exists on this node and can time-stamp as the profile asks."""
        for ifname in profile["interfaces"]:
            caps = nic.timestamping(ifname, self.ptp.netns)
            if caps is None:
                raise ptp_profile.ProfileError(f"interfaces: this node has no interface {ifname!r}")
            if not caps[profile["timestamping"]]:
                raise ptp_profile.ProfileError(f"timestamping: {ifname} has no {profile['timestamping']} time "
                                               f"stamping (hardware: {caps['hardware']}, software: "
                                               f"{caps['software']})")

    def close(self) -> None:
        self.ptp.close()
