"""The scripts SageMaker's jobs run: Preprocess (preprocess.py, with partitions.py and quality.py
loaded beside it) and Postprocess (postprocess.py).

Standalone: they run on the processing image's Python 3.10 and import nothing of this repository
(tests/test_layers.py); definition/step_code.py uploads them under content-hashed keys.
"""
