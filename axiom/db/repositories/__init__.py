"""Query and write functions over the models. Each takes a Session; callers commit unless stated."""
