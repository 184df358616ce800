"""Images in: pulling OCI images with skopeo into a blob cache and unpacking their layers."""
