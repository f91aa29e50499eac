"""Tests of synthetic.tasks."""
