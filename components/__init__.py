"""KFP component declarations: thin wrappers over the typed functions in mlops_suite."""
