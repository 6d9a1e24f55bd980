"""Test doubles shipped with the product: loopback emulators and the conformance suite."""
