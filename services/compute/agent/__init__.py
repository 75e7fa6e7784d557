"""The compute node agent: this node's compute driver, served over HTTPS to the site's control plane (mTLS)."""
from __future__ import annotations

from appliance.cluster import nodeagent
from services.compute.agent.calls import TABLE
from services.compute.drivers import load_driver

# its unit, service and settings section ([service.compute-agent]); its state directory (the TLS files)
AGENT = nodeagent.Agent(unit="compute-agent", state="compute-agent", table=TABLE, load_driver=load_driver)
UNIT, STATE = AGENT.unit, AGENT.state
control_plane, prepare, create_app = AGENT.control_plane, AGENT.prepare, AGENT.create_app
