"""Services beside the app: `[services.NAME]` run as long-lived sessions of their boxes under a
per-project supervisord (docs/services.md)."""
