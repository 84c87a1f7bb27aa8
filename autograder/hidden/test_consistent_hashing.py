"""Hidden suite for the `consistent_hashing` exercise (contract: ../shared/exercise-contracts.md).

Each test's docstring is what the student reads as "what this checks"; each assertion message says
what was expected and what happened, with the inputs and a one-line call that replays it in the
student's notebook (whose helper cell defines `table_hash`).

The suite predicts owners itself. `Ring` below is the contract in a dozen lines (sorted points,
`bisect_left`, wrap to index 0): given the same `hash_fn` it says which node every key belongs to.
Two kinds of `hash_fn` are handed to the student's ring:
- small crafted tables (`TableHash`, the suite's own function, a round trip per call): rings of a
  few points whose owners can be worked out by hand, exact hits on points included;
- `sandbox.stable_hash("md5")`, made in the student's process (no round trip per call) and equal to
  `support.stable_hash("md5")` here: rings of thousands of points, predicted in the judge.
No test makes two virtual points collide (the contract says nothing about ties). Lookups of many
keys go in one batch (`sandbox.batch`). The default hash is only compared with itself: across two
processes with different PYTHONHASHSEED, before and after a node joins, and for balance.

The one timing check (lookups cost O(log points)) compares batches of lookups on a ring of 100
points and on one of 50,000, measured in the same run, taking the fastest of several batches of
each; a bisect lookup makes the ratio about 1, a scan over the points makes it hundreds, and the
bound sits far from both, so a loaded machine cannot move the verdict.
"""
# DSP-CANARY-CONSISTENT_HASHING-9c41: hidden-suite text; must never reach a student (see tests).
from __future__ import annotations

import bisect
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import expect, expect_equal, only_callable, returned, stable_hash

md5_64 = stable_hash("md5")
MD5_TEXT = 'lambda s: int.from_bytes(hashlib.md5(s.encode()).digest()[:8], "big")'
KEYS = [f"user:{i}" for i in range(3000)]


# ------------------------------------------------------------------------------------- helpers
class Ring:
    """The contract's ring, computed here: what the student's ring must answer."""

    def __init__(self, nodes, vnodes, hash_fn):
        placed = sorted(((hash_fn(f"{node}#{i}"), node) for node in nodes for i in range(vnodes)),
                        key=lambda entry: entry[0])
        self.points = [point for point, _ in placed]
        self.owners = [node for _, node in placed]
        self.hash_fn = hash_fn
        assert len(set(self.points)) == len(self.points), "the suite's rings never collide"

    def owner(self, key):
        index = bisect.bisect_left(self.points, self.hash_fn(key))
        return self.owners[index % len(self.points)]

    def replicas(self, key, n):
        start, found = bisect.bisect_left(self.points, self.hash_fn(key)), []
        wanted = min(n, len(set(self.owners)))
        for step in range(len(self.points)):
            owner = self.owners[(start + step) % len(self.points)]
            if owner not in found:
                found.append(owner)
            if len(found) == wanted:
                break
        return found[:wanted]


class TableHash:
    """A crafted hash_fn: ``table[text]``, or N for a key written ``"kN"``; any other text gets an
    MD5 place (so a ring that names its points differently puts them somewhere else) and is noted,
    so a failure can say which names the ring asked for."""

    def __init__(self, table):
        self.table = dict(table)
        self.unknown = []

    def __call__(self, text):
        if text in self.table:
            return self.table[text]
        if isinstance(text, str) and text.startswith("k") and text[1:].isdigit():
            return int(text[1:])
        self.unknown.append(text)
        return md5_64(text) if isinstance(text, str) else 0

    def hint(self) -> str:
        if not self.unknown:
            return ""
        asked = ", ".join(repr(t) for t in dict.fromkeys(self.unknown[:6]))
        return (f" (your ring asked hash_fn for {asked}, which are neither keys nor the contract's "
                "point names: node n's i-th virtual point is hash_fn(f'{n}#{i}'))")

    def replay(self, nodes, vnodes) -> str:
        return f"ConsistentHashRing({nodes!r}, vnodes={vnodes}, hash_fn=table_hash({self.table!r}))"


def crafted(impl, layout, vnodes):
    """A student ring on a crafted table; ``layout`` maps node -> its points, in index order."""
    table = {f"{node}#{i}": point for node, points in layout.items() for i, point in enumerate(points)}
    hash_fn = TableHash(table)
    nodes = list(layout)
    ring = impl.ConsistentHashRing(nodes, vnodes=vnodes, hash_fn=only_callable(hash_fn, "hash_fn"))
    return ring, hash_fn, Ring(nodes, vnodes, hash_fn), hash_fn.replay(nodes, vnodes)


# Three nodes, two points each: 100 A, 300 B, 450 C, 600 A, 800 B, 950 C (the notebook's ring).
ABC = {"A": [100, 600], "B": [300, 800], "C": [450, 950]}


def owners_of(sandbox, ring, keys):
    return returned(sandbox.batch(ring.get_node, [(key,) for key in keys]))


def replicas_of(sandbox, ring, keys, n):
    return returned(sandbox.batch(ring.get_nodes, [(key, n) for key in keys]))


def nodes_text(nodes) -> str:
    """``nodes`` as Python a student can paste: a comprehension for node-0, node-1, ..."""
    first = nodes[0] if nodes else None
    if len(nodes) > 6 and isinstance(first, str) and first.endswith("0"):
        prefix = first[:-1]
        if list(nodes) == [f"{prefix}{i}" for i in range(len(nodes))]:
            return f"[f'{prefix}{{i}}' for i in range({len(nodes)})]"
    return repr(list(nodes))


def md5_replay(nodes, vnodes, *calls) -> str:
    """A line that builds the same ring with MD5 in the notebook and makes ``calls`` on it."""
    size = "" if vnodes is None else f", vnodes={vnodes}"
    return "; ".join([f"ring = ConsistentHashRing({nodes_text(nodes)}{size}, hash_fn={MD5_TEXT})",
                      *(f"ring.{call}" for call in calls)])


def expect_owners(got, expected, keys, setup, replay_of):
    wrong = [(key, want, have) for key, want, have in zip(keys, expected, got) if want != have]
    if wrong:
        key, want, have = wrong[0]
        raise AssertionError(f"{setup}: {len(wrong)} of {len(keys)} keys got the wrong node; e.g. "
                             f"get_node({key!r}) should be {want!r} (the first point at or after "
                             f"hash_fn({key!r})), got {have!r}. Replay: {replay_of(key)}")


def nodes_of(ring):
    """ring.nodes, which must be a set."""
    nodes = ring.nodes
    expect(isinstance(nodes, (set, frozenset)), f"ring.nodes should be a set, got {nodes!r}")
    return set(nodes)


def relative_spread(counts):
    mean = sum(counts) / len(counts)
    return (sum((c - mean) ** 2 for c in counts) / len(counts)) ** 0.5 / mean


# ----------------------------------------------------------------------------------- placement
@pytest.mark.part("placement")
class TestPlacement:
    def test_key_belongs_to_the_first_point_clockwise(self, impl, sandbox):
        """a key belongs to the node of the first virtual point after its hash (a crafted 6-point ring)"""
        ring, hash_fn, model, replay = crafted(impl, ABC, 2)
        keys = ["k0", "k50", "k101", "k299", "k301", "k449", "k451", "k599", "k601", "k700", "k801", "k949"]
        got = owners_of(sandbox, ring, keys)
        expect_owners(got, [model.owner(k) for k in keys], keys,
                      "points 100 A, 300 B, 450 C, 600 A, 800 B, 950 C; key kN hashes to N"
                      + hash_fn.hint(), lambda key: f"{replay}.get_node({key!r})")

    def test_key_exactly_on_a_point_belongs_to_that_point(self, impl, sandbox):
        """"at or after": a key hashing exactly onto a point belongs to that point's node, not the next one"""
        ring, hash_fn, _model, replay = crafted(impl, ABC, 2)
        keys = ["k100", "k300", "k450", "k600", "k800", "k950"]
        got = owners_of(sandbox, ring, keys)
        expect_owners(got, ["A", "B", "C", "A", "B", "C"], keys,
                      "points 100 A, 300 B, 450 C, 600 A, 800 B, 950 C; each key kN hashes exactly "
                      "onto point N" + hash_fn.hint(), lambda key: f"{replay}.get_node({key!r})")

    def test_key_past_the_last_point_wraps_to_the_first(self, impl, sandbox):
        """wrap-around: a key hashing past the last point belongs to the node of the first (lowest) point"""
        layout = {"A": [5000, 2**63], "B": [9000, 2**64 - 2], "C": [700, 123456]}  # lowest: C at 700
        ring, hash_fn, _model, replay = crafted(impl, layout, 2)
        keys = [f"k{2**64 - 1}", f"k{2**64 - 2}", f"k{2**63 + 1}", "k0", "k700"]
        try:
            got = owners_of(sandbox, ring, keys)
        except IndexError as exc:
            raise AssertionError(f"points 700 C, 5000 A, 9000 B, 123456 C, 2**63 A, 2**64-2 B: a key "
                                 f"hashing to 2**64-1 (past the last point) raised IndexError({exc}) "
                                 "instead of wrapping around to the first point (C). Replay: "
                                 f"{replay}.get_node('k{2**64 - 1}')") from None
        expect_owners(got, ["C", "B", "B", "C", "C"], keys,
                      "points 700 C, 5000 A, 9000 B, 123456 C, 2**63 A, 2**64-2 B; keys past the "
                      "last point wrap to C" + hash_fn.hint(), lambda key: f"{replay}.get_node({key!r})")

    def test_points_sit_at_hash_of_node_hash_sign_index(self, impl, sandbox):
        """node n's i-th virtual point sits at hash_fn(f"{n}#{i}") for i in range(vnodes), numbers as node names included"""
        layout = {7: [10, 40, 70], 8: [20, 50, 80], 9: [30, 60, 90]}
        ring, hash_fn, model, replay = crafted(impl, layout, 3)
        keys = [f"k{n}" for n in range(0, 100, 5)]
        got = owners_of(sandbox, ring, keys)
        expect_owners(got, [model.owner(k) for k in keys], keys,
                      "nodes 7, 8, 9 with vnodes=3: hash_fn('7#0')=10, '7#1'=40, '7#2'=70, '8#0'=20, "
                      "... '9#2'=90" + hash_fn.hint(), lambda key: f"{replay}.get_node({key!r})")
        expect(not hash_fn.unknown, f"nodes 7, 8, 9 with vnodes=3: every point name should be "
                                    f"f'{{n}}#{{i}}' for i in 0, 1, 2{hash_fn.hint()}")

    @pytest.mark.parametrize("nodes, vnodes", [
        ([f"cache-{i}" for i in range(5)], 100),
        ([3, 14, 15, 92, 65, 35], 7),
        ([("rack", 1), ("rack", 2), "solo"], 1),
    ], ids=["5 nodes x 100", "int nodes x 7", "tuple nodes x 1"])
    def test_owners_match_the_contract_on_larger_rings(self, impl, sandbox, nodes, vnodes):
        """with hash_fn=MD5, every key's node is the one the contract's formula predicts (hundreds of points)"""
        ring = impl.ConsistentHashRing(nodes, vnodes=vnodes, hash_fn=sandbox.stable_hash("md5"))
        model = Ring(nodes, vnodes, md5_64)
        keys = KEYS[:1500]
        expect_owners(owners_of(sandbox, ring, keys), [model.owner(k) for k in keys], keys,
                      f"ConsistentHashRing({nodes!r}, vnodes={vnodes}, hash_fn=MD5's first 8 bytes)",
                      lambda key: md5_replay(nodes, vnodes, f"get_node({key!r})"))

    def test_vnodes_defaults_to_100(self, impl, sandbox):
        """vnodes defaults to 100: without it, each node has the 100 points hash_fn(f"{n}#0") .. hash_fn(f"{n}#99")"""
        nodes = ["east", "west", "north"]
        ring = impl.ConsistentHashRing(nodes, hash_fn=sandbox.stable_hash("md5"))
        model = Ring(nodes, 100, md5_64)
        expect_owners(owners_of(sandbox, ring, KEYS), [model.owner(k) for k in KEYS], KEYS,
                      f"ConsistentHashRing({nodes!r}, hash_fn=MD5), vnodes left at its default (100)",
                      lambda key: md5_replay(nodes, None, f"get_node({key!r})"))

    @settings(max_examples=40)
    @given(data=st.data())
    def test_any_small_ring(self, impl, sandbox, data):
        """for any small crafted ring and any keys, get_node returns the first point at or after the key, wrapping (property-based)"""
        count = data.draw(st.integers(1, 4), label="nodes")
        vnodes = data.draw(st.integers(1, 3), label="vnodes")
        points = data.draw(st.lists(st.integers(0, 1000), min_size=count * vnodes,
                                    max_size=count * vnodes, unique=True), label="points")
        layout = {f"n{j}": points[j * vnodes:(j + 1) * vnodes] for j in range(count)}
        numbers = data.draw(st.lists(st.one_of(st.integers(0, 1010), st.sampled_from(points)),
                                     min_size=1, max_size=12), label="keys")
        keys = [f"k{n}" for n in numbers]
        ring, hash_fn, model, replay = crafted(impl, layout, vnodes)
        expect_owners(owners_of(sandbox, ring, keys), [model.owner(k) for k in keys], keys,
                      f"points {sorted(zip(model.points, model.owners))}; key kN hashes to N"
                      + hash_fn.hint(), lambda key: f"{replay}.get_node({key!r})")

    def test_same_owners_in_another_process(self, impl, sandbox):
        """with the default hash_fn, a ring built in another process (another PYTHONHASHSEED) places every key the same way"""
        nodes = ["cache-a", "cache-b", "cache-c", "cache-d", 17, ("rack", 2)]
        keys = KEYS[:600]
        here = owners_of(sandbox, impl.ConsistentHashRing(nodes), keys)
        here_replicas = replicas_of(sandbox, impl.ConsistentHashRing(nodes), keys[:200], 3)
        seed = 2024
        with sandbox.another_process(hash_seed=seed) as other:
            ring = other.ConsistentHashRing(nodes)
            there = owners_of(sandbox, ring, keys)
            there_replicas = replicas_of(sandbox, ring, keys[:200], 3)
        differ = [(k, a, b) for k, a, b in zip(keys, here, there) if a != b]
        if differ:
            key, a, b = differ[0]
            raise AssertionError(
                f"ConsistentHashRing({nodes!r}) with the default hash_fn: {len(differ)} of "
                f"{len(keys)} keys got another node in a process with PYTHONHASHSEED={seed} than "
                f"with PYTHONHASHSEED=0; e.g. get_node({key!r}) gave {a!r}, then {b!r}. Built-in "
                "hash() of a str changes from process to process; use a hash from hashlib")
        expect(here_replicas == there_replicas,
               f"ConsistentHashRing({nodes!r}): get_nodes(key, 3) for {len(keys[:200])} keys differ "
               f"between PYTHONHASHSEED=0 and {seed} (first key: {keys[0]!r})")

    def test_empty_ring_get_node_raises_lookup_error(self, impl):
        """get_node on an empty ring raises LookupError (a new empty ring, and one whose last node was removed)"""
        for setup, make in [("ConsistentHashRing()", lambda: impl.ConsistentHashRing()),
                            ("ConsistentHashRing(['a', 'b']) after removing 'a' and 'b'",
                             lambda: emptied(impl.ConsistentHashRing(["a", "b"]), ["a", "b"]))]:
            ring = make()
            try:
                result = ring.get_node("some-key")
            except LookupError:
                continue
            raise AssertionError(f"{setup}: get_node('some-key') should raise LookupError, "
                                 f"returned {result!r}")

    def test_vnodes_below_one_raises_value_error(self, impl):
        """vnodes < 1 raises ValueError (a node without points could own no key)"""
        for vnodes in (0, -3):
            with pytest.raises(ValueError):
                impl.ConsistentHashRing(["a"], vnodes=vnodes)
                raise AssertionError(f"ConsistentHashRing(['a'], vnodes={vnodes}) should raise "
                                     "ValueError, but it was created")


def emptied(ring, nodes):
    for node in nodes:
        ring.remove_node(node)
    return ring


# ---------------------------------------------------------------------------------- membership
@pytest.mark.part("membership")
class TestMembership:
    def test_adding_a_present_node_raises_value_error(self, impl, sandbox):
        """add_node of a node already on the ring raises ValueError and leaves the ring as it was"""
        nodes = ["a", "b", "c"]
        ring = impl.ConsistentHashRing(nodes, vnodes=20, hash_fn=sandbox.stable_hash("md5"))
        keys = KEYS[:500]
        before = owners_of(sandbox, ring, keys)
        for node in ("b", "a"):
            try:
                ring.add_node(node)
            except ValueError:
                pass
            else:
                raise AssertionError(f"ConsistentHashRing({nodes!r}).add_node({node!r}) should raise "
                                     "ValueError: the node is already on the ring")
        expect_equal(nodes_of(ring), {"a", "b", "c"}, "ring.nodes after refusing add_node('b'), add_node('a')")
        expect_equal(len(ring), 3, "len(ring) after two refused add_node calls")
        replay = md5_replay(nodes, 20, "add_node('b')", "get_node('user:0')")
        expect(owners_of(sandbox, ring, keys) == before,
               "the owners of 500 keys changed after two refused add_node calls (a refused node must "
               f"add no points). Replay: {replay}")

    def test_node_listed_twice_in_the_constructor_raises_value_error(self, impl):
        """ConsistentHashRing(["a", "b", "a"]) raises ValueError, as adding "a" twice would"""
        for nodes in (["a", "b", "a"], [1, 1]):
            with pytest.raises(ValueError):
                impl.ConsistentHashRing(nodes)
                raise AssertionError(f"ConsistentHashRing({nodes!r}) should raise ValueError (a node "
                                     "listed twice), but it was created")

    def test_removing_an_absent_node_raises_key_error(self, impl):
        """remove_node of a node not on the ring raises KeyError (never added, or already removed)"""
        ring = impl.ConsistentHashRing(["a", "b"])
        with pytest.raises(KeyError):
            ring.remove_node("z")
            raise AssertionError("ConsistentHashRing(['a', 'b']).remove_node('z') should raise KeyError")
        ring.remove_node("a")
        with pytest.raises(KeyError):
            ring.remove_node("a")
            raise AssertionError("removing 'a' a second time should raise KeyError")
        expect_equal(nodes_of(ring), {"b"}, "ring.nodes after remove_node('a') and two refused removals")
        with pytest.raises(KeyError):
            impl.ConsistentHashRing().remove_node("a")
            raise AssertionError("ConsistentHashRing().remove_node('a') should raise KeyError")

    @pytest.mark.parametrize("count", [1, 4, 9])
    def test_adding_a_node_moves_only_keys_that_now_belong_to_it(self, impl, sandbox, count):
        """with the default hash_fn, add_node moves only keys that now belong to the new node, about 1/(n+1) of them"""
        nodes = [f"node-{i}" for i in range(count)]
        ring = impl.ConsistentHashRing(nodes)
        before = owners_of(sandbox, ring, KEYS)
        ring.add_node("newcomer")
        after = owners_of(sandbox, ring, KEYS)
        setup = f"ConsistentHashRing({nodes!r}) with the default hash_fn, then add_node('newcomer')"
        wrong = [(k, b, a) for k, b, a in zip(KEYS, before, after) if a != b and a != "newcomer"]
        if wrong:
            key, b, a = wrong[0]
            raise AssertionError(f"{setup}: {len(wrong)} of {len(KEYS)} keys moved between old nodes; "
                                 f"e.g. {key!r} went from {b!r} to {a!r} (only keys that now belong to "
                                 "'newcomer' may move)")
        share, fair = sum(a == "newcomer" for a in after) / len(KEYS), 1 / (count + 1)
        expect(0.5 * fair <= share <= 1.6 * fair,
               f"{setup}: 'newcomer' took {share:.1%} of {len(KEYS)} keys; with {count + 1} nodes of "
               f"100 virtual points each it should take about 1/{count + 1} = {fair:.1%} "
               f"(between {0.5 * fair:.1%} and {1.6 * fair:.1%})")

    def test_add_and_remove_on_a_crafted_ring(self, impl, sandbox):
        """add_node places the new node's points with the ring's hash_fn: on a crafted ring, exactly the keys on its new arcs move to it"""
        table = {f"{node}#{i}": point for node, points in {**ABC, "D": [200, 700]}.items()
                 for i, point in enumerate(points)}
        hash_fn = TableHash(table)
        ring = impl.ConsistentHashRing(list(ABC), vnodes=2, hash_fn=only_callable(hash_fn, "hash_fn"))
        keys = [f"k{n}" for n in range(0, 1000, 7)]
        before = owners_of(sandbox, ring, keys)
        ring.add_node("D")
        after = owners_of(sandbox, ring, keys)
        table_text = {**{f"{n}#{i}": p for n, ps in ABC.items() for i, p in enumerate(ps)},
                      "D#0": 200, "D#1": 700}
        replay = (f"ring = ConsistentHashRing({list(ABC)!r}, vnodes=2, hash_fn=table_hash("
                  f"{table_text!r})); ring.add_node('D')")
        for key, old, new in zip(keys, before, after):
            number = int(key[1:])
            want = "D" if 100 < number <= 200 or 600 < number <= 700 else old
            expect(new == want, f"points 100 A, 300 B, 450 C, 600 A, 800 B, 950 C, then add_node('D') "
                                f"with D#0 = 200 and D#1 = 700: {key} was on {old!r} and should now be "
                                f"on {want!r}, got {new!r}{hash_fn.hint()}. Replay: {replay}; "
                                f"ring.get_node({key!r})")
        ring.remove_node("D")
        expect(owners_of(sandbox, ring, keys) == before,
               f"after add_node('D') and remove_node('D') on the crafted ring, every key should be back "
               f"on its old node. Replay: {replay}; ring.remove_node('D')")

    def test_removal_restores_the_old_mapping(self, impl, sandbox):
        """with the default hash_fn, removing a node that was added puts every key back on its old node"""
        nodes = [f"node-{i}" for i in range(5)]
        ring = impl.ConsistentHashRing(nodes)
        before = owners_of(sandbox, ring, KEYS)
        for extra in ("extra-1", "extra-2"):
            ring.add_node(extra)
        ring.remove_node("extra-1")
        ring.remove_node("extra-2")
        after = owners_of(sandbox, ring, KEYS)
        differ = [(k, b, a) for k, b, a in zip(KEYS, before, after) if a != b]
        if differ:
            key, b, a = differ[0]
            raise AssertionError(f"ConsistentHashRing({nodes!r}), add_node('extra-1'), "
                                 "add_node('extra-2'), then remove both: "
                                 f"{len(differ)} of {len(KEYS)} keys are not back on their old node; "
                                 f"e.g. {key!r} was on {b!r}, now {a!r}")
        expect_equal(nodes_of(ring), set(nodes), "ring.nodes after adding and removing two nodes")

    def test_removing_a_node_moves_only_its_keys(self, impl, sandbox):
        """remove_node hands the removed node's keys to other nodes and moves no other key; adding it back restores all"""
        nodes = [f"node-{i}" for i in range(6)]
        ring = impl.ConsistentHashRing(nodes, vnodes=50, hash_fn=sandbox.stable_hash("md5"))
        before = owners_of(sandbox, ring, KEYS)
        ring.remove_node("node-2")
        after = owners_of(sandbox, ring, KEYS)
        expected = Ring([n for n in nodes if n != "node-2"], 50, md5_64)
        setup = f"ConsistentHashRing({nodes!r}, vnodes=50, hash_fn=MD5), then remove_node('node-2')"
        expect_owners(after, [expected.owner(k) for k in KEYS], KEYS, setup,
                      lambda key: md5_replay(nodes, 50, "remove_node('node-2')", f"get_node({key!r})"))
        moved_elsewhere = [k for k, b, a in zip(KEYS, before, after) if b != "node-2" and a != b]
        expect(not moved_elsewhere, f"{setup}: keys not on node-2 moved, e.g. {moved_elsewhere[:3]}")
        ring.add_node("node-2")
        expect(owners_of(sandbox, ring, KEYS) == before,
               f"{setup} and add_node('node-2') again: every key should be back on its old node")

    def test_nodes_and_len_follow_membership(self, impl):
        """.nodes is the set of nodes and len(ring) the number of nodes (not of points), after every add and remove"""
        ring = impl.ConsistentHashRing(vnodes=30)
        steps = [("start", None), ("add_node", "a"), ("add_node", "b"), ("add_node", "c"), ("add_node", 4), ("remove_node", "a"),
                 ("remove_node", "b"), ("add_node", "a"), ("remove_node", 4), ("remove_node", "c"),
                 ("remove_node", "a")]
        expected = set()
        done = ["ConsistentHashRing(vnodes=30)"]
        for method, node in steps:
            if method != "start":
                getattr(ring, method)(node)
                (expected.add if method == "add_node" else expected.discard)(node)
                done.append(f"{method}({node!r})")
            expect_equal(nodes_of(ring), expected, f"ring.nodes after {', '.join(done)}")
            expect_equal(len(ring), len(expected), f"len(ring) after {', '.join(done)} (it counts "
                                                   "nodes, not virtual points)")

    @settings(max_examples=30)
    @given(vnodes=st.sampled_from([1, 3, 25]),
           start=st.sets(st.sampled_from("abcdef"), max_size=4),
           script=st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from("abcdef")),
                           min_size=1, max_size=8))
    def test_any_sequence_of_adds_and_removes(self, impl, sandbox, vnodes, start, script):
        """any sequence of add_node and remove_node (errors included) leaves every key where the contract puts it (property-based)"""
        nodes = sorted(start)
        ring = impl.ConsistentHashRing(nodes, vnodes=vnodes, hash_fn=sandbox.stable_hash("md5"))
        current, done = list(nodes), [f"ConsistentHashRing({nodes!r}, vnodes={vnodes}, hash_fn=MD5)"]
        applied = []  # the calls that succeeded, for a replay line
        keys = KEYS[:150]
        for action, node in script:
            done.append(f"{action}_node({node!r})")
            present = node in current
            try:
                getattr(ring, f"{action}_node")(node)
                outcome = "ok"
            except ValueError:
                outcome = "ValueError"
            except KeyError:
                outcome = "KeyError"
            want = ("ValueError" if present else "ok") if action == "add" else ("ok" if present else "KeyError")
            expect(outcome == want, f"after {'; '.join(done[:-1])}: {done[-1]} should give {want}, "
                                    f"got {outcome}")
            if want == "ok":
                (current.append if action == "add" else current.remove)(node)
                applied.append(f"{action}_node({node!r})")
            expect_equal(nodes_of(ring), set(current), f"ring.nodes after {'; '.join(done)}")
            if current:
                model = Ring(current, vnodes, md5_64)
                expect_owners(owners_of(sandbox, ring, keys), [model.owner(k) for k in keys], keys,
                              f"after {'; '.join(done)}",
                              lambda key: md5_replay(nodes, vnodes, *applied, f"get_node({key!r})"))


# ------------------------------------------------------------------------------------ replicas
@pytest.mark.part("replicas")
class TestReplicas:
    @pytest.mark.parametrize("n", [2, 5])
    def test_replica_sets_match_the_contract(self, impl, sandbox, n):
        """with hash_fn=MD5, get_nodes(key, n) is the first n distinct nodes clockwise, starting with get_node(key)"""
        nodes = [f"replica-{i}" for i in range(7)]
        ring = impl.ConsistentHashRing(nodes, vnodes=40, hash_fn=sandbox.stable_hash("md5"))
        model = Ring(nodes, 40, md5_64)
        keys = KEYS[:400]
        got = replicas_of(sandbox, ring, keys, n)
        firsts = owners_of(sandbox, ring, keys)
        for key, have, first in zip(keys, got, firsts):
            want = model.replicas(key, n)
            replay = md5_replay(nodes, 40, f"get_nodes({key!r}, {n})")
            expect(isinstance(have, list), f"get_nodes should return a list, got {have!r}. Replay: {replay}")
            expect(len(set(have)) == len(have), f"get_nodes({key!r}, {n}) repeats a node: {have!r}. "
                                                f"Replay: {replay}")
            expect(have[:1] == [first], f"get_nodes({key!r}, {n}) should start with get_node({key!r}) "
                                        f"= {first!r}, got {have!r}. Replay: {replay}")
            expect(have == want, f"get_nodes({key!r}, {n}) should be {want!r} (distinct nodes in "
                                 f"clockwise order from the key), got {have!r}. Replay: {replay}")

    def test_replicas_come_in_ring_order_and_wrap(self, impl, sandbox):
        """get_nodes lists nodes in clockwise ring order (not by name), wrapping past the top"""
        layout = {"zeta": [100, 700], "alpha": [200, 900], "mid": [400, 500]}
        ring, hash_fn, _model, replay = crafted(impl, layout, 2)
        cases = [("k50", 3, ["zeta", "alpha", "mid"]), ("k150", 3, ["alpha", "mid", "zeta"]),
                 ("k600", 2, ["zeta", "alpha"]), ("k800", 3, ["alpha", "zeta", "mid"]),
                 ("k950", 2, ["zeta", "alpha"]), ("k900", 1, ["alpha"])]
        got = returned(sandbox.batch(ring.get_nodes, [(key, n) for key, n, _ in cases]))
        for (key, n, want), have in zip(cases, got):
            expect(have == want, f"points 100 zeta, 200 alpha, 400 mid, 500 mid, 700 zeta, 900 alpha; "
                                 f"get_nodes({key!r}, {n}) should be {want!r}, got {have!r}"
                                 f"{hash_fn.hint()}. Replay: {replay}.get_nodes({key!r}, {n})")

    def test_key_exactly_on_a_point_starts_with_that_node(self, impl, sandbox):
        """"at or after" holds for get_nodes too: a key exactly on a point starts its replica set with that point's node"""
        ring, hash_fn, _model, replay = crafted(impl, ABC, 2)
        cases = [("k100", ["A", "B"]), ("k300", ["B", "C"]), ("k450", ["C", "A"]),
                 ("k600", ["A", "B"]), ("k800", ["B", "C"]), ("k950", ["C", "A"])]
        got = returned(sandbox.batch(ring.get_nodes, [(key, 2) for key, _ in cases]))
        for (key, want), have in zip(cases, got):
            expect(have == want, f"points 100 A, 300 B, 450 C, 600 A, 800 B, 950 C; {key} hashes exactly "
                                 f"onto point {key[1:]}, so get_nodes({key!r}, 2) should be {want!r}, "
                                 f"got {have!r}{hash_fn.hint()}. Replay: {replay}.get_nodes({key!r}, 2)")

    def test_a_node_met_twice_counts_once(self, impl, sandbox):
        """get_nodes skips points of a node it already has: consecutive points of one node give one replica"""
        layout = {"A": [10, 20, 30], "B": [40, 50, 60], "C": [70, 80, 90]}
        ring, hash_fn, _model, replay = crafted(impl, layout, 3)
        cases = [("k5", 2, ["A", "B"]), ("k15", 3, ["A", "B", "C"]), ("k65", 2, ["C", "A"]),
                 ("k85", 3, ["C", "A", "B"])]
        got = returned(sandbox.batch(ring.get_nodes, [(key, n) for key, n, _ in cases]))
        for (key, n, want), have in zip(cases, got):
            expect(have == want, f"points 10 A, 20 A, 30 A, 40 B, 50 B, 60 B, 70 C, 80 C, 90 C; "
                                 f"get_nodes({key!r}, {n}) should be {want!r}, got {have!r}"
                                 f"{hash_fn.hint()}. Replay: {replay}.get_nodes({key!r}, {n})")

    def test_fewer_nodes_than_n_gives_all_of_them(self, impl, sandbox):
        """get_nodes(key, n) with n above the node count returns every node once, in ring order"""
        ring, hash_fn, model, replay = crafted(impl, ABC, 2)
        cases = [("k50", 3), ("k50", 4), ("k460", 10), ("k999", 100)]
        got = returned(sandbox.batch(ring.get_nodes, list(cases)))
        for (key, n), have in zip(cases, got):
            want = model.replicas(key, n)
            expect(have == want, f"points 100 A, 300 B, 450 C, 600 A, 800 B, 950 C: get_nodes({key!r}, "
                                 f"{n}) on 3 nodes should be {want!r}, got {have!r}{hash_fn.hint()}. "
                                 f"Replay: {replay}.get_nodes({key!r}, {n})")
        single = impl.ConsistentHashRing(["only"], vnodes=5)
        expect_equal(single.get_nodes("any-key", 3), ["only"], "ConsistentHashRing(['only'], vnodes=5)"
                                                              ".get_nodes('any-key', 3)")

    def test_empty_ring_and_zero_give_an_empty_list(self, impl):
        """get_nodes on an empty ring returns [] (no LookupError); get_nodes(key, 0) returns []"""
        expect_equal(impl.ConsistentHashRing().get_nodes("k1", 3), [], "ConsistentHashRing().get_nodes('k1', 3)")
        emptied_ring = emptied(impl.ConsistentHashRing(["a"]), ["a"])
        expect_equal(emptied_ring.get_nodes("k1", 2), [], "get_nodes('k1', 2) after removing the only node")
        expect_equal(impl.ConsistentHashRing(["a", "b"]).get_nodes("k1", 0), [],
                     "ConsistentHashRing(['a', 'b']).get_nodes('k1', 0)")

    def test_negative_n_raises_value_error(self, impl):
        """get_nodes(key, n) with a negative n raises ValueError"""
        for nodes in (["a", "b"], []):
            with pytest.raises(ValueError):
                result = impl.ConsistentHashRing(nodes).get_nodes("k1", -1)
                raise AssertionError(f"ConsistentHashRing({nodes!r}).get_nodes('k1', -1) should raise "
                                     f"ValueError, returned {result!r}")


# --------------------------------------------------------------------------------------- scale
SMALL_RING = ([f"s{i}" for i in range(4)], 25)  # 100 points
BIG_RING = ([f"b{i}" for i in range(500)], 100)  # 50,000 points
LOOKUP_KEYS = [(f"lookup-{i}",) for i in range(200)]
REPEATS = 5
MAX_RATIO = 8.0  # bisect: about 1 to 2; a scan over the points: hundreds


def fastest_batches(sandbox, small_fn, big_fn, arglists):
    """The fastest of REPEATS batches on each ring (alternating, so both see the same load)."""
    small, big = [], []
    for _ in range(REPEATS):
        for fn, times in ((small_fn, small), (big_fn, big)):
            began = time.perf_counter()
            returned(sandbox.batch(fn, arglists))
            times.append(time.perf_counter() - began)
    return min(small), min(big)


def judge_side_ratios():
    """The ratio a bisect lookup and a linear scan show on the same ring sizes, measured here now."""
    h = md5_64
    small = sorted(h(f"{n}#{i}") for n in SMALL_RING[0] for i in range(SMALL_RING[1]))
    big = sorted(h(f"{n}#{i}") for n in BIG_RING[0] for i in range(BIG_RING[1]))
    targets = [h(key) for (key,) in LOOKUP_KEYS[:40]]

    def bisecting(points):
        return [bisect.bisect_left(points, t) % len(points) for t in targets]

    def scanning(points):
        return [next((i for i, p in enumerate(points) if p >= t), 0) for t in targets]

    ratios = []
    for lookup in (bisecting, scanning):
        times = []
        for points in (small, big):
            best = float("inf")
            for _ in range(3):
                began = time.perf_counter()
                lookup(points)
                best = min(best, time.perf_counter() - began)
            times.append(best)
        ratios.append(times[1] / times[0])
    return ratios


def expect_logarithmic(sandbox, what, small_fn, big_fn, arglists):
    fast_small, fast_big = fastest_batches(sandbox, small_fn, big_fn, arglists)
    ratio = fast_big / fast_small
    if ratio >= MAX_RATIO:
        bisect_ratio, scan_ratio = judge_side_ratios()
        raise AssertionError(
            f"{what}: {len(arglists)} lookups took {fast_big * 1e3:.1f} ms on a ring of 50,000 points "
            f"(500 nodes x 100 vnodes) and {fast_small * 1e3:.1f} ms on one of 100 points (4 x 25), "
            f"{ratio:.1f} times as long (fastest of {REPEATS} batches each, hash_fn=MD5). An O(log "
            f"points) lookup stays below {MAX_RATIO:g}x: in this run, bisect on sorted lists took "
            f"{bisect_ratio:.1f}x as long on the big ring, a linear scan {scan_ratio:.0f}x. Keep the "
            "point hashes in a sorted list and use bisect; do not sort, copy or scan it per lookup")


@pytest.mark.part("scale")
class TestScale:
    def test_balance_improves_with_virtual_nodes(self, impl, sandbox):
        """with hash_fn=MD5, keys spread far more evenly over 10 nodes with vnodes=100 than with vnodes=1"""
        nodes = [f"node-{i}" for i in range(10)]
        spreads = {}
        for vnodes in (1, 100):
            ring = impl.ConsistentHashRing(nodes, vnodes=vnodes, hash_fn=sandbox.stable_hash("md5"))
            got = owners_of(sandbox, ring, KEYS)
            spreads[vnodes] = relative_spread([got.count(node) for node in nodes])
            want = Ring(nodes, vnodes, md5_64)
            expect_owners(got, [want.owner(k) for k in KEYS], KEYS,
                          f"ConsistentHashRing({nodes!r}, vnodes={vnodes}, hash_fn=MD5)",
                          lambda key, vnodes=vnodes: md5_replay(nodes, vnodes, f"get_node({key!r})"))
        expect(spreads[100] < 0.2 and spreads[100] < spreads[1] / 2,
               f"{len(KEYS)} keys on 10 nodes (hash_fn=MD5): keys per node vary by {spreads[1]:.0%} "
               f"(relative standard deviation) with vnodes=1 and {spreads[100]:.0%} with vnodes=100; "
               "100 virtual points per node should even them out")

    def test_default_hash_spreads_keys_evenly(self, impl, sandbox):
        """with the default hash_fn and 100 virtual points, each of 8 nodes gets about 1/8 of the keys"""
        nodes = [f"shard-{i}" for i in range(8)]
        ring = impl.ConsistentHashRing(nodes)
        got = owners_of(sandbox, ring, KEYS)
        shares = {node: got.count(node) / len(KEYS) for node in nodes}
        uneven = {node: f"{share:.1%}" for node, share in shares.items() if not 0.5 / 8 <= share <= 1.5 / 8}
        expect(not uneven, f"ConsistentHashRing({nodes!r}) with the default hash_fn: of {len(KEYS)} keys "
                           f"'user:0'..'user:{len(KEYS) - 1}', these nodes got far from 1/8 = 12.5%: "
                           f"{uneven} (a hash that spreads similar strings evenly, such as MD5, gives "
                           "each node 10-15%)")

    def test_get_node_cost_grows_logarithmically(self, impl, sandbox):
        """get_node costs O(log points): a ring of 50,000 points answers about as fast as one of 100 (a ratio of timings)"""
        small = impl.ConsistentHashRing(SMALL_RING[0], vnodes=SMALL_RING[1], hash_fn=sandbox.stable_hash("md5"))
        big = impl.ConsistentHashRing(BIG_RING[0], vnodes=BIG_RING[1], hash_fn=sandbox.stable_hash("md5"))
        expect_logarithmic(sandbox, "get_node(key)", small.get_node, big.get_node, LOOKUP_KEYS)

    def test_get_nodes_cost_grows_logarithmically(self, impl, sandbox):
        """get_nodes(key, 3) costs O(log points) too: it walks a few points from the key, it does not copy the ring"""
        small = impl.ConsistentHashRing(SMALL_RING[0], vnodes=SMALL_RING[1], hash_fn=sandbox.stable_hash("md5"))
        big = impl.ConsistentHashRing(BIG_RING[0], vnodes=BIG_RING[1], hash_fn=sandbox.stable_hash("md5"))
        expect_logarithmic(sandbox, "get_nodes(key, 3)", small.get_nodes, big.get_nodes,
                           [(key, 3) for (key,) in LOOKUP_KEYS])
