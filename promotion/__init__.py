"""Promotion of one approved SageMaker model package from the dev registry into a stage account."""
