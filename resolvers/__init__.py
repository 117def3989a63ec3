"""Business rules of RedGrid: places, tickets and their errors, independent of GraphQL."""
