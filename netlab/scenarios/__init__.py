"""Each chapter's world, built from the models: ``receive`` (01), ``blocking_vs_epoll`` (02), ``send`` (03),
``loopback`` (04), ``handshake`` (05); ``link`` cables two hosts on one engine and ``journey`` (00) runs a request
across them; ``userspace`` is the process and the libc calls their programs make."""
