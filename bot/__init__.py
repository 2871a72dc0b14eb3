"""githeal: a GitOps remediation bot that heals by committing to Git."""

__version__ = "0.1.0"
