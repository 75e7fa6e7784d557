"""The Neutron v2.0 API as declared routes (appliance.routes): one module per resource, each with its ROUTES."""
from services.network.api import (agents, extensions, floatingips, networks, ports, qos, quotas, routers,
                                  security_groups, subnets, tags)

ROUTES = [r for module in (extensions, agents, networks, subnets, ports, routers, floatingips, security_groups, qos,
                           quotas, tags) for r in module.ROUTES]
