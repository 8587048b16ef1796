"""otter's runnable examples, one folder each; installed as `otterfile.examples`, copied by
`otter init --example NAME` (listed by `otter init --example`)."""
