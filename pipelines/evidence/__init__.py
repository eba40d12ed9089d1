"""What the evidence CLIs share: two models' predictions scored and compared, and a model's input
columns (which smoke and build.py check too)."""
