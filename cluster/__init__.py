"""The cluster: configuration, process supervision, Raft group, membership and masters."""
