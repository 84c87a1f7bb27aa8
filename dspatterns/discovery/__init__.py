"""Service-discovery patterns: models the course uses to show what a registry sees and how balancers spread load.

Everything here is a seeded or purely arithmetic model over virtual time that returns plain numbers
(sample times, names seen healthy, outstanding requests per instance), so a figure or a test can ask
"when did the registry notice?", "how busy did the busiest instance get?" or "how many requests failed
before every client's copy of the view caught up?" directly. None of it is a
registry or a balancer you could submit: ``ServiceRegistry``, ``RoundRobinBalancer`` and
``LeastConnectionsBalancer`` are the exercise, written against the contract in the exercise notebook.

``etcd`` and ``zookeeper`` are the exception to "a model": they start the real servers (Debian's
``etcd-server`` and ``zookeeperd``) for the notebook's production section and *record* what a client's
watch-fed cache saw (``production_timeline``). The expiry there is the server's, not code of ours.
"""
