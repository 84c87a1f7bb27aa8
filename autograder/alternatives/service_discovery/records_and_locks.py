"""service_discovery, another design: one flat list of mutable records (service, id, address,
last seen) scanned linearly, each registry and balancer guarded by its own lock so it can be shared
between threads; an instance's life is read as a deadline (``now < last_seen + ttl``). Round robin
remembers the last address it handed out and goes to the one after it in the current healthy list
(the start of the list when that address is no longer there), as a "cursor" balancer does; least
connections scans for the lowest count and keeps the first one found."""
import threading
import time
from dataclasses import dataclass


@dataclass
class _Record:
    service: str
    instance_id: object
    address: str
    last_seen: float


class ServiceRegistry:
    def __init__(self, ttl=10.0, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._records = []  # in registration order
        self._lock = threading.Lock()

    def _find(self, service, instance_id):
        for record in self._records:
            if record.service == service and record.instance_id == instance_id:
                return record
        return None

    def register(self, service, instance_id, address):
        with self._lock:
            now = self.clock()
            record = self._find(service, instance_id)
            if record is None:
                self._records.append(_Record(service, instance_id, address, now))
            else:
                record.address, record.last_seen = address, now

    def heartbeat(self, service, instance_id):
        with self._lock:
            record = self._find(service, instance_id)
            if record is None:
                raise KeyError((service, instance_id))
            record.last_seen = self.clock()

    def deregister(self, service, instance_id):
        with self._lock:
            self._records = [r for r in self._records
                             if not (r.service == service and r.instance_id == instance_id)]

    def instances(self, service):
        with self._lock:
            now = self.clock()
            return [r.address for r in self._records
                    if r.service == service and now < r.last_seen + self.ttl]


class RoundRobinBalancer:
    def __init__(self, registry, service):
        self.registry = registry
        self.service = service
        self._last = None
        self._lock = threading.Lock()

    def pick(self):
        with self._lock:
            healthy = self.registry.instances(self.service)
            if not healthy:
                raise LookupError(self.service)
            if self._last in healthy:
                index = (healthy.index(self._last) + 1) % len(healthy)
            else:
                index = 0
            self._last = healthy[index]
            return self._last


class LeastConnectionsBalancer:
    def __init__(self, registry, service):
        self.registry = registry
        self.service = service
        self._counts = {}
        self._lock = threading.Lock()

    def pick(self):
        with self._lock:
            healthy = self.registry.instances(self.service)
            if not healthy:
                raise LookupError(self.service)
            best = None
            for address in healthy:
                if best is None or self._counts.get(address, 0) < self._counts.get(best, 0):
                    best = address
            self._counts[best] = self._counts.get(best, 0) + 1
            return best

    def release(self, address):
        with self._lock:
            if self._counts.get(address, 0) > 0:
                self._counts[address] -= 1
