"""The batch pipeline: its definition (SageMaker SDK v3), the scripts its steps run, and CLIs."""
