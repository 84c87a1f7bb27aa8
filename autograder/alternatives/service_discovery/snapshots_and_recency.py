"""service_discovery, another design: copy-on-write snapshots. Each service's instances are an
immutable tuple of (id, address, last_seen) rows that every write replaces whole under a lock, so a
reader takes the current tuple and filters it without locking. Round robin is "least recently
picked": each address remembers the pick number it was last handed out at, and a pick takes the
healthy address picked longest ago (never-picked ones first, in registration order), which visits
every healthy instance once per n picks without keeping a position in any list. Least connections
sorts the healthy list by (outstanding, registration position) and takes the first."""
import threading
import time


class ServiceRegistry:
    def __init__(self, ttl=10.0, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._snapshots = {}  # service -> tuple of (instance_id, address, last_seen)
        self._write = threading.Lock()

    def _replace(self, service, change):
        with self._write:
            self._snapshots[service] = tuple(change(self._snapshots.get(service, ())))

    def register(self, service, instance_id, address):
        now = self.clock()

        def change(rows):
            ids = [row[0] for row in rows]
            if instance_id in ids:
                return [(i, address, now) if i == instance_id else (i, a, s) for i, a, s in rows]
            return [*rows, (instance_id, address, now)]

        self._replace(service, change)

    def heartbeat(self, service, instance_id):
        if instance_id not in [row[0] for row in self._snapshots.get(service, ())]:
            raise KeyError(f"{service}/{instance_id} is not registered")
        now = self.clock()
        self._replace(service, lambda rows: [(i, a, now if i == instance_id else s)
                                             for i, a, s in rows])

    def deregister(self, service, instance_id):
        self._replace(service, lambda rows: [row for row in rows if row[0] != instance_id])

    def instances(self, service):
        rows = self._snapshots.get(service, ())
        now = self.clock()
        return [address for _, address, last_seen in rows if now - last_seen < self.ttl]


class RoundRobinBalancer:
    def __init__(self, registry, service):
        self.registry = registry
        self.service = service
        self._picks = 0
        self._last_picked = {}  # address -> the pick number it was last handed out at
        self._lock = threading.Lock()

    def pick(self):
        with self._lock:
            healthy = self.registry.instances(self.service)
            if not healthy:
                raise LookupError(f"{self.service}: no healthy instance")
            address = min(healthy, key=lambda a: self._last_picked.get(a, -1))
            self._picks += 1
            self._last_picked[address] = self._picks
            return address


class LeastConnectionsBalancer:
    def __init__(self, registry, service):
        self.registry = registry
        self.service = service
        self._outstanding = {}
        self._lock = threading.Lock()

    def pick(self):
        with self._lock:
            healthy = self.registry.instances(self.service)
            if not healthy:
                raise LookupError(f"{self.service}: no healthy instance")
            ranked = sorted(enumerate(healthy), key=lambda p: (self._outstanding.get(p[1], 0), p[0]))
            address = ranked[0][1]
            self._outstanding[address] = self._outstanding.get(address, 0) + 1
            return address

    def release(self, address):
        with self._lock:
            left = self._outstanding.get(address, 0) - 1
            if left >= 0:
                self._outstanding[address] = left
