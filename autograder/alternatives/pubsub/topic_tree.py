"""pubsub, another design: a topic tree, as RabbitMQ's topic exchange and MQTT brokers keep their
bindings. Each pattern is a path of segments in a trie whose nodes hold the subscriptions ending
there; a publish walks the trie along the topic (a literal child and a `*` child consume one
segment, a `#` child consumes zero or more) and collects the matching subscriptions before calling
any, so changes made by callbacks take effect from the next publish. Subscribers of different
patterns are called in tree order, not subscribe order."""


class _Node:
    __slots__ = ("children", "subscriptions")

    def __init__(self):
        self.children = {}        # segment -> _Node
        self.subscriptions = []   # the subscriptions whose pattern ends here


class _Subscription:
    def __init__(self, broker, path, callback):
        self._broker, self._path, self.callback = broker, path, callback
        self.active = True

    def unsubscribe(self):
        if self.active:
            self.active = False
            self._broker._detach(self)


class Broker:
    def __init__(self):
        self.errors = []
        self._root = _Node()

    def subscribe(self, pattern, callback):
        path = pattern.split(".")
        node = self._root
        for segment in path:
            node = node.children.setdefault(segment, _Node())
        subscription = _Subscription(self, path, callback)
        node.subscriptions.append(subscription)
        return subscription

    def _detach(self, subscription):
        node = self._root
        for segment in subscription._path:
            node = node.children[segment]
        node.subscriptions.remove(subscription)

    def publish(self, topic, message):
        found = []
        self._collect(self._root, topic.split("."), 0, found, set())
        for subscription in found:
            try:
                subscription.callback(topic, message)
            except Exception as error:
                self.errors.append(error)
        return len(found)

    def _collect(self, node, segments, at, found, visited):
        """Every subscription under ``node`` whose remaining pattern matches ``segments[at:]``;
        ``visited`` keeps a (node, position) pair from being walked twice (``#.#`` has two ways)."""
        if (id(node), at) in visited:
            return
        visited.add((id(node), at))
        if at == len(segments):
            found.extend(node.subscriptions)
        hash_child = node.children.get("#")
        if hash_child is not None:
            for rest in range(at, len(segments) + 1):  # `#` takes zero or more segments
                self._collect(hash_child, segments, rest, found, visited)
        if at < len(segments):
            for key in {segments[at], "*"}:  # a literal child and a `*` child take one segment
                child = node.children.get(key)
                if child is not None:
                    self._collect(child, segments, at + 1, found, visited)
