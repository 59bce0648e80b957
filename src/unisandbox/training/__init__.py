"""Training that closes the gap: STARS (rejection-sampled self-training) and knowledge injection."""
