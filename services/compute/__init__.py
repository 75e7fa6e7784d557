"""Compute service: Nova v2.1 API over libvirt, plus the metadata service."""
