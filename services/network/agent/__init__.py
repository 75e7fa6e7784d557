"""The network node agent: this node's data-plane driver, served over HTTPS to the site's control plane (mTLS)."""
from __future__ import annotations

from appliance.cluster import nodeagent
from services.network.agent.calls import TABLE
from services.network.drivers import load_driver

# its unit, service and settings section ([service.network-agent]); its state directory (the TLS files)
AGENT = nodeagent.Agent(unit="network-agent", state="network-agent", table=TABLE, load_driver=load_driver)
UNIT, STATE = AGENT.unit, AGENT.state
control_plane, prepare, create_app = AGENT.control_plane, AGENT.prepare, AGENT.create_app
