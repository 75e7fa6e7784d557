"""Egret services: identity, compute, network, storage, federation."""
