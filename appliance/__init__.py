"""Egret: code shared by two or more services, and the egret CLI."""
