"""The embedded sandbox unified model: tokenizers, network, pretraining, sampling."""
