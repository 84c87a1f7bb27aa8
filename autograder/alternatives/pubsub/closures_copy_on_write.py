"""pubsub, another design: functional, with no classes of its own besides the broker. The
subscriptions are an immutable tuple of (token, pattern, callback) that subscribe and unsubscribe
replace with a new tuple (copy on write), so a publish iterates the tuple it read when it began and
needs no copy; a subscription is a namespace holding one closure; the matcher is a memoised
recursion over tuples of segments."""
import functools
import itertools
from types import SimpleNamespace


@functools.lru_cache(maxsize=4096)
def _match(pattern, topic):
    if not pattern:
        return not topic
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return _match(rest, topic) or (bool(topic) and _match(pattern, topic[1:]))
    return bool(topic) and head in ("*", topic[0]) and _match(rest, topic[1:])


class Broker:
    def __init__(self):
        self.errors = []
        self._subscriptions = ()
        self._tokens = itertools.count()

    def subscribe(self, pattern, callback):
        token = next(self._tokens)
        self._subscriptions += ((token, tuple(pattern.split(".")), callback),)

        def unsubscribe():
            self._subscriptions = tuple(s for s in self._subscriptions if s[0] != token)
        return SimpleNamespace(unsubscribe=unsubscribe)

    def publish(self, topic, message):
        segments = tuple(topic.split("."))
        matching = [callback for _, pattern, callback in self._subscriptions
                    if _match(pattern, segments)]
        for callback in matching:
            try:
                callback(topic, message)
            except Exception as error:
                self.errors.append(error)
        return len(matching)
