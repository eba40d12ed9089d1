"""Dev-account approval trigger: an EventBridge rule and a Lambda that dispatches deploy.yml.

Only ``lambda_function.py`` is packaged into the function; this file makes the folder an
importable package for the tests and for mypy.
"""
