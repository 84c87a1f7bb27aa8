"""Communication patterns: real servers the course uses to show request-response over a network.

Timeouts, replies out of order and lost replies only convince when a real network stack is in the way,
so the modules here start small servers on 127.0.0.1 (``rpc_server.RpcServer``: newline-delimited JSON
requests that can be answered late, out of order, wrongly or not at all, on purpose). They are what
the exercises' clients talk to, not the clients themselves: writing those is the exercise. Import from
the modules directly (``dspatterns.communication.rpc_server``): this package file imports nothing, so
importing one server never starts or pulls in another.
"""
