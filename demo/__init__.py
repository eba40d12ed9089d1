"""The whole product on one machine: an embedded moto server stands in for three AWS accounts."""
