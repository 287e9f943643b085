"""Small models trained by the project (see README.md here for how each was built)."""
