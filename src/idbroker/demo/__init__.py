"""Demo components: an upstream OpenID Connect provider and a sample application."""
