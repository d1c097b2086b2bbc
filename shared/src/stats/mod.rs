// stats
