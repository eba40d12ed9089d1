"""One stage's pipeline definition (Preprocess -> Transform -> Postprocess), rendered with the
SageMaker SDK: no write to AWS but the step scripts' create-only upload (step_code.py).
"""
