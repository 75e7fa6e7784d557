"""PTP gauges, read from linuxptp's last pmc answer at scrape time."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

NS = 1e-9


class PtpCollector:
    def __init__(self, ptp):
        self.ptp = ptp

    def collect(self):
        state = self.ptp.state()
        clock = state["clock"]
        running = GaugeMetricFamily("egret_ptp_process_up", "linuxptp daemons running (1) or not (0)",
                                    labels=["process"])
        for name, proc in state["processes"].items():
            running.add_metric([name], 1 if proc["pid"] else 0)
        yield running
        ports = GaugeMetricFamily("egret_ptp_port_state", "Each PTP port's state (1 for the state it is in)",
                                  labels=["port", "state"])
        for port, name in clock.get("port_states", {}).items():
            ports.add_metric([port, name], 1)
        yield ports
        for key, name, doc, scale in (
                ("offset_ns", "egret_ptp_offset_seconds", "Offset from the master clock", NS),
                ("mean_path_delay_ns", "egret_ptp_mean_path_delay_seconds", "Mean path delay to the master", NS),
                ("steps_removed", "egret_ptp_steps_removed", "Communication paths to the grandmaster", 1),
                ("gm_present", "egret_ptp_grandmaster_present", "A grandmaster is selected (1) or not (0)", 1)):
            if key in clock:
                yield GaugeMetricFamily(name, doc, value=float(clock[key]) * scale)
