"""The whole product on one machine: an embedded moto server stands in for three AWS accounts."""

from errors import require_environment

require_environment()
