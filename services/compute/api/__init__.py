"""Nova v2.1 API: each module declares its routes as a table (appliance.routes); TABLES is all of them."""
from services.compute.api import (attachments, flavors, hosts, instance_actions, keypairs, migrations, quotas,
                                  server_groups, servers, versions)

TABLES = [m.TABLE for m in (versions, servers, attachments, flavors, keypairs, quotas, server_groups, hosts,
                            instance_actions, migrations)]
