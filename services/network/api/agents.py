"""/v2.0/agents (the `agent` extension): the site's nodes as Neutron agents; only an operator lists them."""
from appliance.routes import Route
from services.network import agents
from services.network.api.access import manager
from services.network.api.listing import list_body, show_body
from services.network.api.resources import named

AGENTS = "network:agent:read"

ROUTES = [
    Route("GET", "/v2.0/agents", AGENTS, named("list_agents", lambda call: agents.list_agents(manager().settings)),
          render=lambda docs: list_body("agents", docs)),
    Route("GET", "/v2.0/agents/<rid>", AGENTS,
          named("show_agent", lambda call: agents.get_agent(manager().settings, call.args["rid"])),
          render=lambda doc: show_body("agent", doc)),
]
