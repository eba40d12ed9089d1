"""The going-live rehearsal: docs/going-live.md and deploy.yml played on the embedded AWS."""
