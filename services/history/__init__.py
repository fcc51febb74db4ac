"""History: import historical files and reprocess stored readings with the current configuration."""
