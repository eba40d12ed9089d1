"""Dev-account approval trigger: an EventBridge rule and a Lambda that dispatches deploy.yml.

The function ships this package (every ``*.py`` here) under ``approval_trigger/`` in its zip; the
handler is ``approval_trigger.lambda_function.lambda_handler``.
"""
