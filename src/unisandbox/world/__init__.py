"""The sandbox's visual world: vocabulary, procedural renderer of scenes and portraits."""
