"""Images out: a box packed as OCI image layers (reproducible tars), exported, pushed and
pulled; a box as a devcontainer or a Kubernetes Pod."""
