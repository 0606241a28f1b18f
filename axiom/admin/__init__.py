"""Administration: configuration as code (apply, edits, versions, dry-run, replay), accounts and
sign-in, the exception log, monitoring and study views for the API, the CLI and the console."""
