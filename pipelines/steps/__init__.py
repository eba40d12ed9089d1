"""The scripts SageMaker's jobs run: preprocess.py and postprocess.py, and partitions.py and
quality.py, which they load from beside them.

Standalone: they run on the processing image's Python 3.10 and import nothing of this repository
(tests/test_layers.py); definition/step_code.py uploads them under content-hashed keys.
"""
