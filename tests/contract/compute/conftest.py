from appliance.testing.libvirtd import libvirt_instances_dir, libvirtd, run_prefix, tiny_guest  # noqa: F401
