"""One module per grant type; ``token_endpoint`` dispatches by ``grant_type``."""
