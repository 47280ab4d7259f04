"""Asset checks, one module per layer. Check names are constants so alerts and tests can refer to them."""
