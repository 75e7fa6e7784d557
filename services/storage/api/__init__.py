"""HTTP APIs of the storage service: Glance v2, Cinder v3 and S3."""
