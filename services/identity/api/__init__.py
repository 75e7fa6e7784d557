"""Identity API blueprints."""
