"""What users read: evaluation tables, confusion matrices, prediction maps."""
