"""The test bed: an embedded moto server holding three AWS accounts (dev, pre-prod, prod), moto
corrected where it departs from AWS's documented answers, IAM enforcement, what AWS services do on
their own, the Terraform runner, a GitHub stand-in, and the seeded model. The tests, bench, the
scripts and the demo import it; nothing the product runs does (tests/test_layers.py).
"""

from errors import require_environment

require_environment()
