"""A sample service schema for tests/unit/appliance/test_dbmove.py: every column type the mover converts."""
