"""Networks that metrics look through: trained by the suite with a fixed recipe, pinned by sha256."""
