"""Communication patterns: real servers and seeded models behind the course's communication notebook.

Timeouts, replies out of order and lost replies only convince when a real network stack is in the way,
so the modules here start small servers on 127.0.0.1 (``rpc_server.RpcServer``: newline-delimited JSON
requests that can be answered late, out of order, wrongly or not at all, on purpose) or use a private
Redis (``redis_streams``, ``pubsub_patterns``, ``redis_lab``). ``rpc_sequence`` runs calls against the
server and records what happened for a sequence diagram; ``queue_levelling`` models queues in virtual
time and ``queue_replay`` replays its redelivery model on a student's queue class. They are what the
exercises' classes talk to, or are compared with, not those classes themselves: writing them is the
exercise. Import from the modules directly (``dspatterns.communication.rpc_server``): this package file
imports nothing, so importing one server never starts or pulls in another.
"""
