"""Root conftest: registers the fixture modules once (DESIGN.md section 2)."""

pytest_plugins = [
    "fixtures.options",
    "fixtures.deployment",
    "fixtures.allure_support",
    "fixtures.conformance",
    "fixtures.results",
]
