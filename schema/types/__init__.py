"""GraphQL object types, one module per domain; they hold resolver records and read through the loaders."""
