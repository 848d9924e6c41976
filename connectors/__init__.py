"""Readers and writers for each source or target shape (installed as ``sync_agent.connectors``)."""
