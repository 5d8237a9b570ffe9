"""Inbound webhooks: verify, store, enqueue; nothing else."""
