"""The web side's helpers: request arguments, pagination, htmx, forms, downloads, errors, the
role gate and the desks' view helpers. The blueprints (portal.merchant, portal.supplier,
portal.auth, portal.api) sit on top of these and of portal.domain; nothing in portal.domain
imports from here.
"""
