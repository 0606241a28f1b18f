"""The data path, one module per stage: the listener's handler, ingest (C-STORE, STOW-RS, sources),
route (decide, deliver, record), delivery, completion groups, retries, the spool sweep, source polls."""
