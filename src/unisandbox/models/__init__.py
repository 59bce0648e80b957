"""Models: the UnifiedModel protocol, adapters, and the embedded sandbox model."""
