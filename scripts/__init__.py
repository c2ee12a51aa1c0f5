"""Developer tools run from the repository (see the Makefile)."""
