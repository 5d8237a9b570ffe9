"""Loopback stand-ins for outside services, speaking their real wire formats."""
