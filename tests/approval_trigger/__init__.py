"""Tests of the approval trigger Lambda and its Terraform module."""
