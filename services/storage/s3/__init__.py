"""S3 object store: SigV4 auth against identity's EC2 credentials, XML API, aws-chunked uploads."""
