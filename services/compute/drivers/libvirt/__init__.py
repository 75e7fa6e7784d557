"""The libvirt driver: host capabilities, guest lifecycle, and the domain XML model."""
