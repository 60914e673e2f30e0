"""The package as users get it: the wheel installed outside the repository, and compose.yaml."""
