"""Operations: health checks, the watchdog, incidents, alerts, the public status page and backups."""
