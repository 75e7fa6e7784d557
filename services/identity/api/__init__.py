"""Identity's route tables: every Keystone v3 route this service serves, declared as data."""
from services.identity.api import auth, catalog, credentials, discovery, projects, roles, users

TABLES = tuple(module.TABLE for module in (discovery, auth, projects, users, roles, catalog, credentials))
