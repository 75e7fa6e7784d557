"""Nova v2.1 API blueprints."""
