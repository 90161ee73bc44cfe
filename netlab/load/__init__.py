"""Load models: the step models' rules, computed fast enough for millions of packets."""
