"""lib/rbtree.c in Python: the tree stays a valid red-black tree whatever is inserted and erased."""
import pytest
from hypothesis import given, settings, strategies as st

from netlab.kernel.rbtree import (RB_BLACK, RB_RED, RbNode, RbRootCached, rb_erase, rb_erase_cached, rb_first,
                                  rb_insert_color_cached, rb_link_node, rb_next, rb_validate)
from netlab.trace import Tracer


def cmp(a, b):
    return (a > b) - (a < b)


def insert(root, key):
    """Search like ep_rbtree_insert, link, colour."""
    parent, left, leftmost, p = None, False, True, root.rb_node
    while p is not None:
        parent = p
        if cmp(key, p.owner) > 0:
            p, left, leftmost = p.rb_right, False, False
        else:
            p, left = p.rb_left, True
    node = RbNode(key)
    rb_link_node(node, parent, root, left)
    rb_insert_color_cached(node, root, leftmost)
    return node


def test_ascending_inserts_rotate_and_stay_balanced():
    root = RbRootCached()
    for k in range(1, 8):
        insert(root, k)
    # worked by hand through __rb_insert: 3 → Case 3 at 1; 4 → Case 1; 5 → Case 3; 6 → Case 1; 7 → Case 3
    assert rb_validate(root, cmp) == 3  # black nodes on every root-to-leaf path, the nil leaf included
    r = root.rb_node
    assert (r.owner, r.color, r.rb_right.owner, r.rb_right.color) == (2, RB_BLACK, 4, RB_RED)
    assert [r.rb_right.rb_right.owner, r.rb_right.rb_right.color] == [6, RB_BLACK]
    assert [n.owner for n in root] == list(range(1, 8)) and root.rb_leftmost.owner == 1


def test_insert_names_the_rebalancing_cases_in_the_trace():
    root = RbRootCached()
    with Tracer() as t:
        for k in (1, 2, 3):
            insert(root, k)
    printed = [e.text for e in t.trace.filter(kind="printk")]
    assert any("Case 3" in p for p in printed) and root.rb_node.owner == 2


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=120))
def test_random_add_del_keeps_every_red_black_property(ops):
    root, nodes = RbRootCached(), {}
    for add, key in ops:
        if add and key not in nodes:
            nodes[key] = insert(root, key)
        elif not add and key in nodes:
            rb_erase_cached(nodes.pop(key), root)
        rb_validate(root, cmp)
        assert [n.owner for n in root] == sorted(nodes)
    height = rb_validate(root)
    assert len(nodes) >= 2 ** (height - 1) - 1  # black height bounds the size: the tree is balanced


def test_walk_and_bad_input():
    root = RbRootCached()
    a = insert(root, 5)
    assert rb_first(root) is a and rb_next(a) is None and len(root) == 1
    with pytest.raises(ValueError, match="already in a tree"):
        rb_link_node(a, None, root, True)
    rb_erase_cached(a, root)
    with pytest.raises(ValueError, match="not in a tree"):
        rb_erase(a, root)
    with pytest.raises(TypeError, match="RbNode"):
        rb_erase("x", root)
    assert root.rb_node is None and root.rb_leftmost is None


def _consistent(root):
    """Parent pointers agree with child pointers (what a snapshot between trace steps may rely on)."""
    def walk(n, parent):
        if n is None:
            return 0
        assert n.parent is parent
        return 1 + walk(n.rb_left, n) + walk(n.rb_right, n)
    return walk(root.rb_node, None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=60))
def test_every_trace_step_sees_a_consistent_tree(ops):
    root, nodes = RbRootCached(), {}
    with Tracer(snapshot=lambda: {"nodes": _consistent(root)}) as t:
        for add, key in ops:
            if add and key not in nodes:
                nodes[key] = insert(root, key)
            elif not add and key in nodes:
                rb_erase_cached(nodes.pop(key), root)
    assert _consistent(root) == len(root) == len(nodes)   # (and _consistent checked every step's snapshot)
    assert [n.owner for n in root] == sorted(nodes)
