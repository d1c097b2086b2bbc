// server tests: written by the server work
