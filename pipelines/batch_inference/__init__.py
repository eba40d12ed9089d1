"""One stage's batch-inference pipeline: Preprocess -> Transform -> Postprocess.

`pipeline` builds and renders the definition; `preprocess` and `postprocess` are the step scripts
(standalone: they run in the scikit-learn processing image and import nothing from here).
"""
