"""Sending a file: read()+send(), mmap()+write(), sendfile(), MSG_ZEROCOPY — where the bytes get copied.

Models fs/read_write.c (``ksys_read``, ``ksys_write``, ``do_sendfile``), mm/filemap.c (``filemap_read``,
``filemap_fault``, ``filemap_splice_read``), mm/mmap.c (``ksys_mmap_pgoff``), fs/splice.c (``do_splice_direct``,
``splice_direct_to_actor``, ``splice_to_socket``) and net/socket.c (``__sys_sendto``, ``sock_sendmsg``,
``sock_write_iter``) in Linux 6.12.

- ``read()``: a page not yet cached is read from disk by DMA into the page cache; ``filemap_read`` then copies
  it to the user's buffer (``copy_page_to_iter``: a CPU copy). ``send()`` copies it again into the skb.
- ``mmap()`` maps the page-cache pages into the process: no copy; ``write()`` to the socket copies from the
  mapping into the skb (the page faults happen inside that copy, in kernel mode).
- ``sendfile()``: ``do_sendfile`` → ``do_splice_direct`` → ``splice_direct_to_actor`` loops: the file's
  ``splice_read`` (``filemap_splice_read``) puts *references* to up to 16 page-cache pages in the task's
  internal pipe, ``splice_to_socket`` hands them to ``sock_sendmsg`` with ``MSG_SPLICE_PAGES``, and
  ``tcp_sendmsg_locked`` attaches the same pages to the skb. No CPU copy, one system call. (3.10 did the same
  through ``pipe_to_sendpage`` → ``sock_sendpage`` → ``tcp_sendpage`` → ``do_tcp_sendpages``; the
  ``sendpage`` operation was removed in 6.5 in favour of MSG_SPLICE_PAGES.)
- ``MSG_ZEROCOPY`` (4.14+, needs ``SO_ZEROCOPY``): ``send()`` pins the user's pages instead of copying them and
  later posts a completion on the socket's error queue (read with ``recvmsg(MSG_ERRQUEUE)``). A packet that loops
  back to a local socket or to a packet tap gets its pages copied anyway (``skb_orphan_frags_rx``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.copies import account_copy, account_dma, account_page_fault, account_syscall
from netlab.kernel.tcp_output import MSG_SPLICE_PAGES, MSG_ZEROCOPY, PAGE_SIZE, MsgHdr, TcpSock, tcp_sendmsg, \
    user_pages
from netlab.trace import kernel_function, trace_printk

PIPE_DEF_BUFFERS = 16     # pages in the pipe splice_direct_to_actor uses
FAULT_AROUND_PAGES = 16   # fault_around_bytes = 64 KiB: one fault maps up to 16 cached pages


@dataclass(eq=False)
class CachedFile:
    """A regular file and its page cache (``struct address_space``): which 4 KiB pages are in memory."""

    name: str
    size: int
    cached: list[bool] = field(default_factory=list)
    pos: int = 0                      # f_pos
    mapped: bool = False

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.size, int) or self.size <= 0:
            raise ValueError("size must be a positive int (bytes)")
        if not self.cached:
            self.cached = [False] * self.npages

    @property
    def npages(self) -> int:
        return -(-self.size // PAGE_SIZE)

    @check.arguments
    def page(self, index: int) -> str:
        return f"{self.name} page {index}"

    def warm(self) -> "CachedFile":
        """Mark every page cached, as after a recent read or write of the file."""
        self.cached = [True] * self.npages
        return self

    @check.arguments
    def pages(self, pos: int, count: int) -> list[tuple[str, int]]:
        """The (page, bytes) pieces of ``count`` bytes from ``pos``."""
        pieces, end = [], min(pos + count, self.size)
        while pos < end:
            i, off = divmod(pos, PAGE_SIZE)
            n = min(PAGE_SIZE - off, end - pos)
            pieces.append((self.page(i), n))
            pos += n
        return pieces


def _check_file(f: CachedFile, count: int) -> None:
    if not isinstance(f, CachedFile):
        raise TypeError(f"expected a CachedFile, got {type(f).__name__}")
    if not isinstance(count, int) or count <= 0:
        raise ValueError("count must be a positive int")


def _read_in(f: CachedFile, pos: int, count: int, by: str) -> None:
    """Pages missing from the page cache are read from disk by DMA (readahead, block I/O)."""
    missing = [i for i in range(pos // PAGE_SIZE, -(-min(pos + count, f.size) // PAGE_SIZE)) if not f.cached[i]]
    if missing:
        trace_printk(f"{len(missing)} pages not cached: readahead, the disk DMAs them into the page cache")
        account_dma(sum(min(PAGE_SIZE, f.size - i * PAGE_SIZE) for i in missing), by, "disk", "page cache")
        for i in missing:
            f.cached[i] = True


# --- read() ------------------------------------------------------------------------------------------------------

@kernel_function("fs/read_write.c", "read(): {count} bytes of {f.name} into the user's buffer")
def ksys_read(f: CachedFile, count: int) -> int:
    """The read system call: ``vfs_read`` → the file's ``read_iter`` → ``filemap_read``; advances f_pos."""
    _check_file(f, count)
    account_syscall("read")
    n = filemap_read(f, f.pos, count)
    f.pos += n
    return n


@kernel_function("mm/filemap.c", "copy from the page cache to user space")
def filemap_read(f: CachedFile, pos: int, count: int) -> int:
    """Find (or read in) each page, then ``copy_page_to_iter`` into the user buffer: a CPU copy."""
    count = min(count, f.size - pos)
    if count <= 0:
        return 0
    _read_in(f, pos, count, "filemap_read")
    account_copy(count, "copy_page_to_iter", "page cache", "user buffer")
    return count


# --- send() and write() on a socket -----------------------------------------------------------------------------

@kernel_function("net/socket.c", "send(): {msg.size} bytes")
def __sys_sendto(sk: TcpSock, msg: MsgHdr) -> int:
    """The send/sendto system call: build the msghdr from the user's buffer, ``sock_sendmsg``."""
    account_syscall("sendmsg" if msg.flags & MSG_ZEROCOPY else "sendto")
    return sock_sendmsg(sk, msg)


@kernel_function("net/socket.c", "LSM check, then the protocol's sendmsg")
def sock_sendmsg(sk: TcpSock, msg: MsgHdr) -> int:
    """``security_socket_sendmsg``, then ``sock->ops->sendmsg`` = ``inet_sendmsg`` → ``tcp_sendmsg``."""
    return tcp_sendmsg(sk, msg)


@kernel_function("fs/read_write.c", "write(): {count} bytes to a socket")
def ksys_write(sk: TcpSock, count: int) -> int:
    """The write system call: ``vfs_write`` → the file's ``write_iter``, for a socket ``sock_write_iter``."""
    if not isinstance(count, int) or count <= 0:
        raise ValueError("count must be a positive int")
    account_syscall("write")
    return sock_write_iter(sk, MsgHdr(count))


@kernel_function("net/socket.c", "write() on a socket is a sendmsg without flags")
def sock_write_iter(sk: TcpSock, msg: MsgHdr) -> int:
    """Wrap the iterator in a msghdr and ``sock_sendmsg``."""
    return sock_sendmsg(sk, msg)


# --- mmap() -------------------------------------------------------------------------------------------------------

@kernel_function("mm/mmap.c", "mmap(): map {f.name} into the process, nothing is read yet")
def ksys_mmap_pgoff(f: CachedFile, length: int) -> None:
    """Create a VMA backed by the file's page cache; pages are mapped lazily, on the first touch (a fault)."""
    _check_file(f, length)
    account_syscall("mmap")
    f.mapped = True


@kernel_function("mm/filemap.c", "page fault on {f.name}: map the page-cache pages, copy nothing")
def filemap_fault(f: CachedFile, index: int) -> int:
    """Read the page in if needed, then map it (and, fault-around, up to 15 more cached neighbours:
    ``filemap_map_pages``). Returns how many pages are now mapped."""
    if not f.mapped:
        raise ValueError(f"{f.name} is not mapped (ksys_mmap_pgoff first)")
    account_page_fault()
    end = min(index + FAULT_AROUND_PAGES, f.npages)
    _read_in(f, index * PAGE_SIZE, (end - index) * PAGE_SIZE, "filemap_fault")
    return end - index


@check.arguments
def write_from_mapping(sk: TcpSock, f: CachedFile, pos: int, count: int, mapped_upto: int) -> tuple[int, int]:
    """``write(sock, map + pos, count)``: the copy into the skb touches the mapping, faulting pages in as it
    goes (kernel-mode faults: no extra user/kernel transition). Returns (bytes sent, pages now mapped)."""
    while mapped_upto * PAGE_SIZE < min(pos + count, f.size):
        mapped_upto += filemap_fault(f, mapped_upto)
    return ksys_write(sk, count), mapped_upto


# --- sendfile() ----------------------------------------------------------------------------------------------------

@kernel_function("fs/read_write.c", "sendfile(): {count} bytes of {f.name} to {sk.name}, no user buffer")
def do_sendfile(sk: TcpSock, f: CachedFile, count: int) -> int:
    """Check both files, then ``do_splice_direct`` (the socket is not a pipe). One system call moves it all."""
    _check_file(f, count)
    account_syscall("sendfile")
    n = do_splice_direct(f, sk, min(count, f.size - f.pos))
    f.pos += n
    return n


@kernel_function("fs/splice.c", "splice from the file to the socket through the task's internal pipe")
def do_splice_direct(f: CachedFile, sk: TcpSock, length: int) -> int:
    """``splice_direct_to_actor`` with ``direct_splice_actor``."""
    return splice_direct_to_actor(f, sk, length)


@kernel_function("fs/splice.c", "loop: fill the pipe with page references, drain it into the socket")
def splice_direct_to_actor(f: CachedFile, sk: TcpSock, length: int) -> int:
    """Up to ``PIPE_DEF_BUFFERS`` pages per round: ``do_splice_read`` (``filemap_splice_read``), then the actor
    (``do_splice_from`` → ``splice_to_socket``)."""
    done, pos = 0, f.pos
    while done < length:
        pieces = filemap_splice_read(f, pos, min(length - done, PIPE_DEF_BUFFERS * PAGE_SIZE - pos % PAGE_SIZE))
        if not pieces:
            break
        n = splice_to_socket(pieces, sk)
        done, pos = done + n, pos + n
    return done


@kernel_function("mm/filemap.c", "put references to page-cache pages into the pipe: no copy")
def filemap_splice_read(f: CachedFile, pos: int, length: int) -> list[tuple[str, int]]:
    """Get the folios (reading missing ones in), and ``splice_folio_into_pipe`` each: a reference, not data."""
    length = min(length, f.size - pos)
    if length <= 0:
        return []
    _read_in(f, pos, length, "filemap_splice_read")
    return f.pages(pos, length)


@kernel_function("fs/splice.c", "hand the pipe's pages to the socket with MSG_SPLICE_PAGES")
def splice_to_socket(pieces: list[tuple[str, int]], sk: TcpSock) -> int:
    """Turn the pipe buffers into a bio_vec iterator and ``sock_sendmsg(MSG_SPLICE_PAGES)``."""
    return sock_sendmsg(sk, MsgHdr(sum(n for _, n in pieces), MSG_SPLICE_PAGES, pieces))


# --- MSG_ZEROCOPY -------------------------------------------------------------------------------------------------

@check.arguments
def send_zerocopy(sk: TcpSock, count: int, buffer: str = "user page") -> int:
    """``send(fd, buf, count, MSG_ZEROCOPY)`` with SO_ZEROCOPY set: the user's pages are pinned, not copied;
    then ``recvmsg(MSG_ERRQUEUE)`` reads the completion (one per send here; a real reader may batch them)."""
    sent = __sys_sendto(sk, MsgHdr(count, MSG_ZEROCOPY, user_pages(count, buffer)))
    account_syscall("recvmsg(MSG_ERRQUEUE)")
    return sent
