"""Red-black trees: how epoll finds the epitem of a (file, fd) among thousands in O(log n).

Models lib/rbtree.c, include/linux/rbtree.h and include/linux/rbtree_augmented.h (Linux 6.12), line by line for
the non-augmented case: ``rb_link_node`` hangs a new red node where the search ended, ``rb_insert_color`` repairs
the colours (Case 1: recolour and climb; Cases 2–3: one or two rotations), ``rb_erase`` unlinks a node
(``__rb_erase_augmented``) and ``____rb_erase_color`` rebalances when a black node went missing.
``struct rb_root_cached`` also remembers the leftmost node.

The tree is generic: the caller walks it with its own compare function (``ep_rbtree_insert`` and ``ep_find`` use
``ep_cmp_ffd``), exactly as kernel code does. :func:`rb_validate` checks the five red-black properties.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from netlab import check
from netlab.trace import kernel_function, trace_printk

RB_RED, RB_BLACK = 0, 1


@dataclass(eq=False)
class RbNode:
    """``struct rb_node``: parent and colour (packed into ``__rb_parent_color`` in C), left and right children.

    ``owner`` is the structure the node is embedded in (``rb_entry``/``container_of`` in C), e.g. an epitem.
    """

    owner: Any = None
    parent: "RbNode | None" = field(default=None, repr=False)
    color: int = RB_RED
    rb_left: "RbNode | None" = field(default=None, repr=False)
    rb_right: "RbNode | None" = field(default=None, repr=False)
    linked: bool = field(default=False, repr=False)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class RbRootCached:
    """``struct rb_root_cached``: the root (``rb_root.rb_node``) and the leftmost node."""

    rb_node: RbNode | None = None
    rb_leftmost: RbNode | None = None

    def __post_init__(self):
        check.fields(self)

    def __iter__(self) -> Iterator[RbNode]:
        """In-order walk by child pointers only (safe on the half-rotated tree a trace snapshot may catch)."""
        stack, node = [], self.rb_node
        while stack or node is not None:
            while node is not None:
                stack.append(node)
                node = node.rb_left
            node = stack.pop()
            yield node
            node = node.rb_right

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @check.arguments
    def snapshot(self, label: Callable[[RbNode], str] = lambda n: str(n.owner)) -> "RbNodeState | None":
        """The tree as nested :class:`RbNodeState` (None when empty), for traces and drawings."""
        def walk(n: RbNode | None) -> RbNodeState | None:
            if n is None:
                return None
            return RbNodeState(label(n), "red" if n.color == RB_RED else "black", walk(n.rb_left), walk(n.rb_right))
        return walk(self.rb_node)


@dataclass(frozen=True)
class RbNodeState:
    """A node of a red-black tree at a step: its label, its colour, its subtrees."""

    key: str
    color: str
    left: "RbNodeState | None"
    right: "RbNodeState | None"


def _check_node(node: Any) -> None:
    if not isinstance(node, RbNode):
        raise TypeError("expected an RbNode")


def _check_root(root: Any) -> None:
    if not isinstance(root, RbRootCached):
        raise TypeError("expected an RbRootCached")


# --- helpers of include/linux/rbtree_augmented.h (inlined in C, so not trace events) -------------------------
def _rb_is_red(node: RbNode | None) -> bool:
    return node is not None and node.color == RB_RED


def _rb_is_black(node: RbNode | None) -> bool:
    return node is None or node.color == RB_BLACK


def _rb_set_parent_color(node: RbNode, parent: RbNode | None, color: int) -> None:
    node.parent, node.color = parent, color


def __rb_change_child(old: RbNode, new: RbNode | None, parent: RbNode | None, root: RbRootCached) -> None:
    if parent is not None:
        if parent.rb_left is old:
            parent.rb_left = new
        else:
            parent.rb_right = new
    else:
        root.rb_node = new


def __rb_rotate_set_parents(old: RbNode, new: RbNode, root: RbRootCached, color: int) -> None:
    """``new`` takes ``old``'s parent and colour; ``old`` becomes ``new``'s child with ``color``."""
    parent = old.parent
    new.parent, new.color = old.parent, old.color
    _rb_set_parent_color(old, new, color)
    __rb_change_child(old, new, parent, root)


# --- insertion ------------------------------------------------------------------------------------------------
@kernel_function("include/linux/rbtree.h", "link the new node as a red leaf where the search ended")
def rb_link_node(node: RbNode, parent: RbNode | None, root: RbRootCached, left: bool) -> None:
    """Hang ``node`` under ``parent`` (as its left child if ``left``), or as the root when ``parent`` is None."""
    _check_node(node)
    _check_root(root)
    if node.linked:
        raise ValueError("this node is already in a tree")
    if parent is None:
        if root.rb_node is not None:
            raise ValueError("only an empty tree takes a node without a parent")
        root.rb_node = node
    else:
        if (parent.rb_left if left else parent.rb_right) is not None:
            raise ValueError("that child slot of the parent is taken: link where the search ended")
        if left:
            parent.rb_left = node
        else:
            parent.rb_right = node
    node.parent, node.color, node.rb_left, node.rb_right, node.linked = parent, RB_RED, None, None, True


@kernel_function("lib/rbtree.c", "repair the colours above the new red node (recolour, rotate)")
def rb_insert_color(node: RbNode, root: RbRootCached) -> None:
    """``__rb_insert``: restore "no red node has a red parent" and "the root is black"."""
    _check_node(node)
    _check_root(root)
    parent = node.parent
    while True:
        if parent is None:
            _rb_set_parent_color(node, None, RB_BLACK)
            trace_printk("the node is the root: colour it black")
            break
        if _rb_is_black(parent):
            break
        gparent = parent.parent
        tmp = gparent.rb_right
        if parent is not tmp:  # parent == gparent.rb_left
            if _rb_is_red(tmp):
                trace_printk("Case 1: the uncle is red, recolour and continue at the grandparent")
                _rb_set_parent_color(tmp, gparent, RB_BLACK)
                _rb_set_parent_color(parent, gparent, RB_BLACK)
                node = gparent
                parent = node.parent
                _rb_set_parent_color(node, parent, RB_RED)
                continue
            tmp = parent.rb_right
            if node is tmp:
                trace_printk("Case 2 then Case 3: left rotate at the parent, right rotate at the grandparent")
                tmp = node.rb_left
                parent.rb_right = tmp
                node.rb_left = parent
                if tmp is not None:
                    _rb_set_parent_color(tmp, parent, RB_BLACK)
                _rb_set_parent_color(parent, node, RB_RED)
                parent = node
                tmp = node.rb_right
            else:
                trace_printk("Case 3: the uncle is black, right rotate at the grandparent")
            gparent.rb_left = tmp
            parent.rb_right = gparent
            if tmp is not None:
                _rb_set_parent_color(tmp, gparent, RB_BLACK)
            __rb_rotate_set_parents(gparent, parent, root, RB_RED)
            break
        else:
            tmp = gparent.rb_left
            if _rb_is_red(tmp):
                trace_printk("Case 1: the uncle is red, recolour and continue at the grandparent")
                _rb_set_parent_color(tmp, gparent, RB_BLACK)
                _rb_set_parent_color(parent, gparent, RB_BLACK)
                node = gparent
                parent = node.parent
                _rb_set_parent_color(node, parent, RB_RED)
                continue
            tmp = parent.rb_left
            if node is tmp:
                trace_printk("Case 2 then Case 3: right rotate at the parent, left rotate at the grandparent")
                tmp = node.rb_right
                parent.rb_left = tmp
                node.rb_right = parent
                if tmp is not None:
                    _rb_set_parent_color(tmp, parent, RB_BLACK)
                _rb_set_parent_color(parent, node, RB_RED)
                parent = node
                tmp = node.rb_left
            else:
                trace_printk("Case 3: the uncle is black, left rotate at the grandparent")
            gparent.rb_right = tmp
            parent.rb_left = gparent
            if tmp is not None:
                _rb_set_parent_color(tmp, gparent, RB_BLACK)
            __rb_rotate_set_parents(gparent, parent, root, RB_RED)
            break


@kernel_function("include/linux/rbtree.h", "rebalance after linking; remember the node if it is the leftmost")
def rb_insert_color_cached(node: RbNode, root: RbRootCached, leftmost: bool) -> None:
    """Insert-colour and keep ``rb_leftmost`` up to date."""
    if leftmost:
        root.rb_leftmost = node
    rb_insert_color(node, root)


# --- erase ----------------------------------------------------------------------------------------------------
def __rb_erase_augmented(node: RbNode, root: RbRootCached) -> RbNode | None:
    """Unlink ``node``; return the parent to rebalance at when a black node went missing (else None)."""
    child, tmp = node.rb_right, node.rb_left
    if tmp is None:
        # Case 1: at most one child (the right one)
        parent, color = node.parent, node.color
        __rb_change_child(node, child, parent, root)
        if child is not None:
            child.parent, child.color = parent, color
            rebalance = None
        else:
            rebalance = parent if color == RB_BLACK else None
    elif child is None:
        # still Case 1, the child is the left one
        tmp.parent, tmp.color = node.parent, node.color
        __rb_change_child(node, tmp, node.parent, root)
        rebalance = None
    else:
        successor = child
        tmp = child.rb_left
        if tmp is None:
            # Case 2: the successor is the right child
            parent = successor
            child2 = successor.rb_right
        else:
            # Case 3: the successor is the leftmost node under the right child
            while tmp is not None:
                parent = successor
                successor = tmp
                tmp = tmp.rb_left
            child2 = successor.rb_right
            parent.rb_left = child2
            successor.rb_right = child
            child.parent = successor
        tmp = node.rb_left
        successor.rb_left = tmp
        tmp.parent = successor
        __rb_change_child(node, successor, node.parent, root)
        if child2 is not None:
            _rb_set_parent_color(child2, parent, RB_BLACK)
            rebalance = None
        else:
            rebalance = parent if successor.color == RB_BLACK else None
        successor.parent, successor.color = node.parent, node.color
    node.parent = node.rb_left = node.rb_right = None
    node.linked = False
    return rebalance


def ____rb_erase_color(parent: RbNode, root: RbRootCached) -> None:
    """Restore equal black heights after a black node left the subtree under ``parent``."""
    node = None
    while True:
        sibling = parent.rb_right
        if node is not sibling:  # node == parent.rb_left
            if _rb_is_red(sibling):
                trace_printk("erase Case 1: red sibling, left rotate at the parent")
                tmp1 = sibling.rb_left
                parent.rb_right = tmp1
                sibling.rb_left = parent
                _rb_set_parent_color(tmp1, parent, RB_BLACK)
                __rb_rotate_set_parents(parent, sibling, root, RB_RED)
                sibling = tmp1
            tmp1 = sibling.rb_right
            if _rb_is_black(tmp1):
                tmp2 = sibling.rb_left
                if _rb_is_black(tmp2):
                    trace_printk("erase Case 2: black sibling with black children, recolour it red")
                    _rb_set_parent_color(sibling, parent, RB_RED)
                    if _rb_is_red(parent):
                        parent.color = RB_BLACK
                    else:
                        node = parent
                        parent = node.parent
                        if parent is not None:
                            continue
                    break
                trace_printk("erase Case 3 then Case 4: right rotate at the sibling, left rotate at the parent")
                tmp1 = tmp2.rb_right
                sibling.rb_left = tmp1
                tmp2.rb_right = sibling
                parent.rb_right = tmp2
                if tmp1 is not None:
                    _rb_set_parent_color(tmp1, sibling, RB_BLACK)
                tmp1 = sibling
                sibling = tmp2
            else:
                trace_printk("erase Case 4: left rotate at the parent and recolour")
            tmp2 = sibling.rb_left
            parent.rb_right = tmp2
            sibling.rb_left = parent
            _rb_set_parent_color(tmp1, sibling, RB_BLACK)
            if tmp2 is not None:
                tmp2.parent = parent
            __rb_rotate_set_parents(parent, sibling, root, RB_BLACK)
            break
        else:
            sibling = parent.rb_left
            if _rb_is_red(sibling):
                trace_printk("erase Case 1: red sibling, right rotate at the parent")
                tmp1 = sibling.rb_right
                parent.rb_left = tmp1
                sibling.rb_right = parent
                _rb_set_parent_color(tmp1, parent, RB_BLACK)
                __rb_rotate_set_parents(parent, sibling, root, RB_RED)
                sibling = tmp1
            tmp1 = sibling.rb_left
            if _rb_is_black(tmp1):
                tmp2 = sibling.rb_right
                if _rb_is_black(tmp2):
                    trace_printk("erase Case 2: black sibling with black children, recolour it red")
                    _rb_set_parent_color(sibling, parent, RB_RED)
                    if _rb_is_red(parent):
                        parent.color = RB_BLACK
                    else:
                        node = parent
                        parent = node.parent
                        if parent is not None:
                            continue
                    break
                trace_printk("erase Case 3 then Case 4: left rotate at the sibling, right rotate at the parent")
                tmp1 = tmp2.rb_left
                sibling.rb_right = tmp1
                tmp2.rb_left = sibling
                parent.rb_left = tmp2
                if tmp1 is not None:
                    _rb_set_parent_color(tmp1, sibling, RB_BLACK)
                tmp1 = sibling
                sibling = tmp2
            else:
                trace_printk("erase Case 4: right rotate at the parent and recolour")
            tmp2 = sibling.rb_right
            parent.rb_left = tmp2
            sibling.rb_right = parent
            _rb_set_parent_color(tmp1, sibling, RB_BLACK)
            if tmp2 is not None:
                tmp2.parent = parent
            __rb_rotate_set_parents(parent, sibling, root, RB_BLACK)
            break


@kernel_function("lib/rbtree.c", "unlink the node, then rebalance if a black node went missing")
def rb_erase(node: RbNode, root: RbRootCached) -> None:
    """Remove ``node`` from the tree."""
    _check_node(node)
    _check_root(root)
    if not node.linked:
        raise ValueError("this node is not in a tree")
    rebalance = __rb_erase_augmented(node, root)
    if rebalance is not None:
        ____rb_erase_color(rebalance, root)


@kernel_function("include/linux/rbtree.h", "erase, moving the cached leftmost to the next node if needed")
def rb_erase_cached(node: RbNode, root: RbRootCached) -> None:
    """``rb_erase`` that keeps ``rb_leftmost`` right."""
    _check_root(root)
    if root.rb_leftmost is node:
        root.rb_leftmost = rb_next(node)
    rb_erase(node, root)


# --- walking --------------------------------------------------------------------------------------------------
@check.arguments
def rb_first(root: RbRootCached) -> RbNode | None:
    """The leftmost (smallest) node."""
    _check_root(root)
    n = root.rb_node
    while n is not None and n.rb_left is not None:
        n = n.rb_left
    return n


@check.arguments
def rb_next(node: RbNode) -> RbNode | None:
    """The in-order successor."""
    _check_node(node)
    if node.rb_right is not None:
        node = node.rb_right
        while node.rb_left is not None:
            node = node.rb_left
        return node
    while node.parent is not None and node is node.parent.rb_right:
        node = node.parent
    return node.parent


@check.arguments
def rb_validate(root: RbRootCached, cmp: Callable[[Any, Any], int] | None = None) -> int:
    """Check the red-black properties (and the order under ``cmp`` of the owners). Returns the black height.

    Raises ``AssertionError`` naming the broken property.
    """
    _check_root(root)

    def walk(n: RbNode | None, parent: RbNode | None) -> int:
        if n is None:
            return 1
        assert n.parent is parent, "a node's parent pointer does not point at its parent"
        assert n.color in (RB_RED, RB_BLACK), "every node is red or black"
        if n.color == RB_RED:
            assert _rb_is_black(n.rb_left) and _rb_is_black(n.rb_right), "a red node has a red child"
        left, right = walk(n.rb_left, n), walk(n.rb_right, n)
        assert left == right, "two paths from a node to its leaves pass different numbers of black nodes"
        return left + (n.color == RB_BLACK)

    assert _rb_is_black(root.rb_node), "the root is red"
    height = walk(root.rb_node, None)
    assert root.rb_leftmost is rb_first(root), "rb_leftmost is not the leftmost node"
    if cmp is not None:
        owners = [n.owner for n in root]
        assert all(cmp(a, b) < 0 for a, b in zip(owners, owners[1:])), "the in-order walk is not sorted"
    return height
