"""A resident dockwire: a live model kept in memory that answers `why` over a local socket.

`dockwire serve` keeps this machine's LiveModel current and listens on a Unix socket in dockwire's runtime
directory (`protocol.socket_path`); `dockwire why` asks it first and, when one answers, prints its answer
without importing the readers or reading the host. Before each answer the live model settles
(`LiveModel.settled`): the answer holds every change made before the question was asked.

`protocol` is what both ends share (paths, messages, trust; light enough for the command line to import);
`server` is the resident's end.
"""
