"""The domain: use cases (services, queries, rules) by domain, below the web and the API.

No Flask request and no web helper here (tests/test_layout.py): a view parses the request,
loads the tenant's objects (authz.get_or_404) and calls in; data flows web/api → domain →
models.
"""
