"""Course handling on the trusted side: assignment manifests, their graders, release and samples."""
