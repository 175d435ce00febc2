/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * cf-netprobe: the traffic tool of conjflow's test harness (tests/lib/).
 *
 *   cf-netprobe serve [--ready-file FILE] tcp:PORT udp:PORT sctp:PORT ...
 *   cf-netprobe probe [--timeout-ms N] [-v] PROTO:IPV4:PORT ...
 *   cf-netprobe selftest
 *
 * "serve" answers in the current network namespace: TCP connections are
 * accepted and whatever arrives is echoed until the peer closes; UDP
 * datagrams are echoed; SCTP associations are accepted (see below).  Once
 * every socket is bound it writes its PID to the ready file, if given, and
 * runs until SIGTERM or SIGINT.
 *
 * "probe" probes all targets at once from one process and prints one line
 * per target, in the order given: "tcp:10.0.0.2:80 connected" or
 * "... blocked" (with -v, a third word says why).  A TCP target is
 * connected when the three-way handshake completes; a UDP target when a
 * datagram sent to it brings back at least one byte; an SCTP target when
 * the four-way handshake (INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK)
 * completes.  Anything else within the timeout (--timeout-ms, default
 * 1000) is "blocked"; UDP datagrams and SCTP chunks that get no answer are
 * resent every 200 ms until then.  The exit status is 0
 * when every target was probed (whatever the verdicts), 2 on bad usage.
 *
 * SCTP without a kernel SCTP stack: the machines conjflow is tested on have
 * no SCTP module, so both ends speak SCTP in userspace over a raw IPv4
 * socket of protocol 132.  A raw socket receives every SCTP packet that
 * reaches the namespace, and while one is open the kernel sends no ICMP
 * "protocol unreachable" for them; so several probes and servers may share
 * a namespace, each filtering the packets by ports and verification tags.
 * The server is stateless, as RFC 4960 intends: everything it needs to
 * accept the COOKIE-ECHO travels in the state cookie, which carries a
 * keyed checksum so that a forged cookie is ignored.  Every packet carries
 * the CRC32c checksum of RFC 4960 appendix B; packets with a bad checksum
 * are dropped.  Only what a handshake needs is implemented: no DATA.
 * "selftest" checks the checksum code against published test vectors and
 * packets built by an independent implementation.
 */
#include "conjflow-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* SCTP chunk types (RFC 4960 section 3.2). */
enum sctp_chunk_type {
    SCTP_INIT = 1,
    SCTP_INIT_ACK = 2,
    SCTP_ABORT = 6,
    SCTP_COOKIE_ECHO = 10,
    SCTP_COOKIE_ACK = 11,
};
#define SCTP_PARAM_STATE_COOKIE 7
#define SCTP_ABORT_T_BIT 0x01
#define SCTP_COMMON_HDR_LEN 12
#define SCTP_INIT_FIXED_LEN 16    /* INIT/INIT-ACK value before params. */

/* Most targets one probe handles, most ports one server serves. */
#define MAX_TARGETS 4096
#define MAX_PORTS 256
#define MAX_CONNS 512

/* How often a probe resends a UDP datagram or an SCTP chunk that got no
 * answer yet, in ms. */
#define RESEND_MS 200

enum proto {
    P_TCP,
    P_UDP,
    P_SCTP,
};

static const char *const proto_names[] = { "tcp", "udp", "sctp" };

/* Set by the signal handler: "serve" should stop. */
static volatile sig_atomic_t stop_requested;

/* ---------------------------------------------------------------------
 * Small helpers. */

/* Prints 'msg' and the usage to stderr and exits with status 2. */
static void
usage_error(const char *msg)
{
    fprintf(stderr, "cf-netprobe: %s\n"
            "usage: cf-netprobe serve [--ready-file FILE] "
            "tcp:PORT|udp:PORT|sctp:PORT...\n"
            "       cf-netprobe probe [--timeout-ms N] [-v] "
            "tcp|udp|sctp:IPV4:PORT...\n"
            "       cf-netprobe selftest\n", msg);
    exit(2);
}

/* Prints "cf-netprobe: " 'what' and the error of 'err' to stderr and exits
 * with status 1. */
static void
fatal(const char *what, int err)
{
    fprintf(stderr, "cf-netprobe: %s: %s\n", what, strerror(err));
    exit(1);
}

/* Returns the monotonic clock in milliseconds. */
static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns 32 random bits from /dev/urandom (or, failing that, from the
 * clock and PID: the values only need to differ between associations). */
static uint32_t
random_u32(void)
{
    static int fd = -2;
    uint32_t x;

    if (fd == -2) {
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0 && read(fd, &x, sizeof x) == sizeof x) {
        return x;
    }
    return (uint32_t) now_ms() * 2654435761u ^ (uint32_t) getpid();
}

/* Puts the file descriptor 'fd' in non-blocking mode. */
static void
set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL, 0);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        fatal("fcntl", errno);
    }
}

/* Big-endian accessors on byte buffers (no alignment assumptions). */
static uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}

static void
put_be16(uint8_t *p, uint16_t x)
{
    p[0] = x >> 8;
    p[1] = x;
}

static void
put_be32(uint8_t *p, uint32_t x)
{
    p[0] = x >> 24;
    p[1] = x >> 16;
    p[2] = x >> 8;
    p[3] = x;
}

/* Parses the decimal port 's' into '*port'.  Returns true on success. */
static bool
parse_port(const char *s, uint16_t *port)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(s, &end, 10);
    if (errno || end == s || *end || x == 0 || x > 65535) {
        return false;
    }
    *port = x;
    return true;
}

/* Parses "tcp", "udp" or "sctp" (the first 'len' bytes of 's') into
 * '*proto'.  Returns true on success. */
static bool
parse_proto(const char *s, size_t len, enum proto *proto)
{
    for (int i = 0; i < 3; i++) {
        if (strlen(proto_names[i]) == len
            && !strncmp(s, proto_names[i], len)) {
            *proto = i;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------
 * SCTP packets: CRC32c, building and parsing. */

/* The CRC32c (Castagnoli) table, reflected polynomial 0x82f63b78. */
static uint32_t crc32c_table[256];

/* Fills crc32c_table. */
static void
crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0x82f63b78u ^ (c >> 1) : c >> 1;
        }
        crc32c_table[i] = c;
    }
}

/* Continues the CRC32c 'crc' (start with 0xffffffff; the final value is
 * the complement) over the 'n' bytes at 'p'. */
static uint32_t
crc32c_update(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--) {
        crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

/* Computes the SCTP checksum of the packet 'p' of 'n' bytes (with its
 * checksum field taken as zero) and returns it as stored on the wire: the
 * four bytes of the CRC, least significant first (RFC 4960 appendix B). */
static uint32_t
sctp_checksum(const uint8_t *p, size_t n)
{
    static const uint8_t zero[4];
    uint32_t crc = 0xffffffff;

    crc = crc32c_update(crc, p, 8);
    crc = crc32c_update(crc, zero, 4);
    crc = crc32c_update(crc, p + 12, n - 12);
    return ~crc;
}

/* Stores the checksum of the SCTP packet 'p' of 'n' bytes into it. */
static void
sctp_set_checksum(uint8_t *p, size_t n)
{
    uint32_t crc = sctp_checksum(p, n);

    p[8] = crc;
    p[9] = crc >> 8;
    p[10] = crc >> 16;
    p[11] = crc >> 24;
}

/* True if the SCTP packet 'p' of 'n' bytes carries a correct checksum. */
static bool
sctp_checksum_ok(const uint8_t *p, size_t n)
{
    uint32_t crc = sctp_checksum(p, n);

    return p[8] == (uint8_t) crc && p[9] == (uint8_t) (crc >> 8)
           && p[10] == (uint8_t) (crc >> 16) && p[11] == (uint8_t) (crc >> 24);
}

/* Writes the SCTP common header into 'p'. */
static void
sctp_put_header(uint8_t *p, uint16_t src_port, uint16_t dst_port,
                uint32_t vtag)
{
    put_be16(p, src_port);
    put_be16(p + 2, dst_port);
    put_be32(p + 4, vtag);
    put_be32(p + 8, 0);
}

/* Writes a chunk header (type, flags, length of 4 + 'value_len') into 'p'
 * and returns the chunk's length padded to 4 bytes. */
static size_t
sctp_put_chunk(uint8_t *p, uint8_t type, uint8_t flags, size_t value_len)
{
    size_t len = 4 + value_len;

    p[0] = type;
    p[1] = flags;
    put_be16(p + 2, len);
    return (len + 3) & ~(size_t) 3;
}

/* Writes the fixed part of an INIT or INIT-ACK chunk value into 'p'. */
static void
sctp_put_init_fixed(uint8_t *p, uint32_t initiate_tag, uint32_t tsn)
{
    put_be32(p, initiate_tag);
    put_be32(p + 4, 65536);      /* a_rwnd */
    put_be16(p + 8, 1);          /* outbound streams */
    put_be16(p + 10, 1);         /* inbound streams */
    put_be32(p + 12, tsn);       /* initial TSN */
}

/* A received SCTP packet, parsed. */
struct sctp_packet {
    struct in_addr src;         /* IPv4 source. */
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t vtag;              /* Verification tag. */
    const uint8_t *chunk;       /* First chunk. */
    uint8_t chunk_type;         /* Its type, flags and value length. */
    uint8_t chunk_flags;
    size_t chunk_value_len;
    const uint8_t *value;       /* Its value. */
};

/* Parses the IPv4 packet 'buf' of 'n' bytes, as read from a raw socket,
 * into 'pkt'.  Returns false if it is not a well-formed SCTP packet with a
 * correct checksum and at least one chunk.  Only the first chunk matters
 * here: the handshake chunks are never bundled. */
static bool
sctp_parse(const uint8_t *buf, size_t n, struct sctp_packet *pkt)
{
    size_t ihl, len;
    const uint8_t *p;

    if (n < 20 || buf[0] >> 4 != 4 || buf[9] != IPPROTO_SCTP) {
        return false;
    }
    ihl = (buf[0] & 0xf) * 4;
    if (ihl < 20 || n < ihl + SCTP_COMMON_HDR_LEN + 4) {
        return false;
    }
    memcpy(&pkt->src, buf + 12, 4);
    p = buf + ihl;
    len = n - ihl;
    if (!sctp_checksum_ok(p, len)) {
        return false;
    }
    pkt->src_port = get_be16(p);
    pkt->dst_port = get_be16(p + 2);
    pkt->vtag = get_be32(p + 4);
    pkt->chunk = p + SCTP_COMMON_HDR_LEN;
    pkt->chunk_type = pkt->chunk[0];
    pkt->chunk_flags = pkt->chunk[1];
    if (get_be16(pkt->chunk + 2) < 4
        || get_be16(pkt->chunk + 2) > len - SCTP_COMMON_HDR_LEN) {
        return false;
    }
    pkt->chunk_value_len = get_be16(pkt->chunk + 2) - 4;
    pkt->value = pkt->chunk + 4;
    return true;
}

/* Opens the raw SCTP socket, non-blocking. */
static int
sctp_open_raw(void)
{
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_SCTP);

    if (fd < 0) {
        fatal("raw SCTP socket (needs CAP_NET_RAW)", errno);
    }
    set_nonblocking(fd);
    return fd;
}

/* Sends the SCTP packet 'p' of 'n' bytes (checksum filled in here) from
 * the raw socket 'fd' to 'dst'.  Returns 0 or an errno value. */
static int
sctp_send(int fd, uint8_t *p, size_t n, struct in_addr dst)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr = dst;
    sctp_set_checksum(p, n);
    return sendto(fd, p, n, 0, (struct sockaddr *) &sin, sizeof sin) < 0
           ? errno : 0;
}

/* ---------------------------------------------------------------------
 * serve */

/* The state cookie the server puts in INIT-ACK and gets back in
 * COOKIE-ECHO.  Serialized big-endian; 'mac' covers the rest together with
 * the server's secret. */
#define COOKIE_LEN 24
/* Cookie layout: magic(4) client_tag(4) server_tag(4) client_port(2)
 * server_port(2) client_addr(4) mac(4). */
#define COOKIE_MAGIC 0x63666e70     /* "cfnp" */

/* The server's secret for cookie checksums. */
static uint8_t cookie_secret[16];

/* Returns the keyed checksum of the first COOKIE_LEN - 4 bytes of the
 * cookie 'c'. */
static uint32_t
cookie_mac(const uint8_t *c)
{
    uint32_t crc = 0xffffffff;

    crc = crc32c_update(crc, cookie_secret, sizeof cookie_secret);
    crc = crc32c_update(crc, c, COOKIE_LEN - 4);
    crc = crc32c_update(crc, cookie_secret, sizeof cookie_secret);
    return ~crc;
}

/* What one "serve" process listens on. */
struct server {
    int tcp_fds[MAX_PORTS];     /* Listening TCP sockets. */
    size_t n_tcp;
    int udp_fds[MAX_PORTS];     /* Bound UDP sockets. */
    size_t n_udp;
    uint16_t sctp_ports[MAX_PORTS];  /* SCTP ports served. */
    size_t n_sctp;
    int sctp_fd;                /* Raw SCTP socket, or -1. */
    int conns[MAX_CONNS];       /* Accepted TCP connections (-1: free). */
};

/* Records that the signal 'sig' asks the server to stop. */
static void
stop_handler(int sig)
{
    (void) sig;
    stop_requested = 1;
}

/* Opens a socket of 'type' bound to 'port' on all addresses.  Returns
 * the non-blocking socket; exits on failure. */
static int
serve_bind(int type, uint16_t port)
{
    struct sockaddr_in sin;
    int fd, one = 1;
    char what[64];

    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fatal("socket", errno);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    snprintf(what, sizeof what, "bind %s port %u",
             type == SOCK_STREAM ? "tcp" : "udp", port);
    if (bind(fd, (struct sockaddr *) &sin, sizeof sin) < 0) {
        fatal(what, errno);
    }
    if (type == SOCK_STREAM && listen(fd, 128) < 0) {
        fatal("listen", errno);
    }
    set_nonblocking(fd);
    return fd;
}

/* True if 'srv' serves SCTP on 'port'. */
static bool
serve_sctp_port(const struct server *srv, uint16_t port)
{
    for (size_t i = 0; i < srv->n_sctp; i++) {
        if (srv->sctp_ports[i] == port) {
            return true;
        }
    }
    return false;
}

/* Answers the INIT 'pkt' with an INIT-ACK carrying a state cookie. */
static void
serve_sctp_init(const struct server *srv, const struct sctp_packet *pkt)
{
    uint8_t out[SCTP_COMMON_HDR_LEN + 4 + SCTP_INIT_FIXED_LEN + 4
                + COOKIE_LEN];
    uint8_t *chunk = out + SCTP_COMMON_HDR_LEN;
    uint8_t *param = chunk + 4 + SCTP_INIT_FIXED_LEN;
    uint8_t *cookie = param + 4;
    uint32_t client_tag, server_tag;

    if (pkt->vtag != 0 || pkt->chunk_value_len < SCTP_INIT_FIXED_LEN) {
        return;
    }
    client_tag = get_be32(pkt->value);
    if (!client_tag) {
        return;
    }
    do {
        server_tag = random_u32();
    } while (!server_tag);

    put_be32(cookie, COOKIE_MAGIC);
    put_be32(cookie + 4, client_tag);
    put_be32(cookie + 8, server_tag);
    put_be16(cookie + 12, pkt->src_port);
    put_be16(cookie + 14, pkt->dst_port);
    memcpy(cookie + 16, &pkt->src, 4);
    put_be32(cookie + 20, cookie_mac(cookie));

    sctp_put_header(out, pkt->dst_port, pkt->src_port, client_tag);
    sctp_put_chunk(chunk, SCTP_INIT_ACK, 0,
                   SCTP_INIT_FIXED_LEN + 4 + COOKIE_LEN);
    sctp_put_init_fixed(chunk + 4, server_tag, random_u32());
    put_be16(param, SCTP_PARAM_STATE_COOKIE);
    put_be16(param + 2, 4 + COOKIE_LEN);
    sctp_send(srv->sctp_fd, out, sizeof out, pkt->src);
}

/* Answers the COOKIE-ECHO 'pkt' with a COOKIE-ACK if its cookie is one
 * this server made for this peer. */
static void
serve_sctp_cookie_echo(const struct server *srv,
                       const struct sctp_packet *pkt)
{
    uint8_t out[SCTP_COMMON_HDR_LEN + 4];
    const uint8_t *c = pkt->value;

    if (pkt->chunk_value_len != COOKIE_LEN
        || get_be32(c) != COOKIE_MAGIC
        || get_be32(c + 20) != cookie_mac(c)
        || get_be32(c + 8) != pkt->vtag
        || get_be16(c + 12) != pkt->src_port
        || get_be16(c + 14) != pkt->dst_port
        || memcmp(c + 16, &pkt->src, 4)) {
        return;
    }
    sctp_put_header(out, pkt->dst_port, pkt->src_port, get_be32(c + 4));
    sctp_put_chunk(out + SCTP_COMMON_HDR_LEN, SCTP_COOKIE_ACK, 0, 0);
    sctp_send(srv->sctp_fd, out, sizeof out, pkt->src);
}

/* Reads and answers every SCTP packet waiting on the raw socket.  Packets
 * to ports this server does not serve are ignored: they may belong to a
 * probe or another server in the same namespace. */
static void
serve_sctp_input(const struct server *srv)
{
    uint8_t buf[65536];
    struct sctp_packet pkt;
    ssize_t n;

    while ((n = recv(srv->sctp_fd, buf, sizeof buf, 0)) > 0) {
        if (!sctp_parse(buf, n, &pkt)
            || !serve_sctp_port(srv, pkt.dst_port)) {
            continue;
        }
        if (pkt.chunk_type == SCTP_INIT) {
            serve_sctp_init(srv, &pkt);
        } else if (pkt.chunk_type == SCTP_COOKIE_ECHO) {
            serve_sctp_cookie_echo(srv, &pkt);
        }
    }
}

/* Accepts every pending connection on the listening socket 'fd'. */
static void
serve_accept(struct server *srv, int fd)
{
    int conn;

    while ((conn = accept4(fd, NULL, NULL,
                           SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        size_t i;

        for (i = 0; i < MAX_CONNS && srv->conns[i] >= 0; i++) {
            continue;
        }
        if (i == MAX_CONNS) {
            close(conn);        /* Full: the handshake was done anyway. */
        } else {
            srv->conns[i] = conn;
        }
    }
}

/* Echoes what connection 'i' sent; closes it at EOF or on error. */
static void
serve_conn_input(struct server *srv, size_t i)
{
    char buf[4096];
    ssize_t n = read(srv->conns[i], buf, sizeof buf);

    if (n > 0) {
        if (write(srv->conns[i], buf, n) == n) {
            return;
        }
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    close(srv->conns[i]);
    srv->conns[i] = -1;
}

/* Echoes every datagram waiting on UDP socket 'fd'. */
static void
serve_udp_input(int fd)
{
    char buf[65536];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n;

    while ((n = recvfrom(fd, buf, sizeof buf, 0,
                         (struct sockaddr *) &from, &len)) >= 0) {
        sendto(fd, buf, n, 0, (struct sockaddr *) &from, len);
        len = sizeof from;
    }
}

/* Writes our PID to 'file' atomically (through a temporary file). */
static void
write_ready_file(const char *file)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", (long) getpid()) < 0 || fclose(f)) {
        fatal(tmp, errno);
    }
    if (rename(tmp, file)) {
        fatal(file, errno);
    }
}

/* The "serve" command: 'argc' and 'argv' are its arguments.  Returns the
 * exit status. */
static int
cmd_serve(int argc, char *argv[])
{
    static struct server srv;
    const char *ready_file = NULL;
    struct pollfd pfds[2 * MAX_PORTS + 1 + MAX_CONNS];
    struct sigaction sa;

    srv.sctp_fd = -1;
    for (size_t i = 0; i < MAX_CONNS; i++) {
        srv.conns[i] = -1;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *colon = strchr(arg, ':');
        enum proto proto;
        uint16_t port;

        if (!strcmp(arg, "--ready-file") && i + 1 < argc) {
            ready_file = argv[++i];
            continue;
        }
        if (!colon || !parse_proto(arg, colon - arg, &proto)
            || !parse_port(colon + 1, &port)) {
            usage_error("serve: expected PROTO:PORT");
        }
        if (srv.n_tcp >= MAX_PORTS || srv.n_udp >= MAX_PORTS
            || srv.n_sctp >= MAX_PORTS) {
            usage_error("serve: too many ports");
        }
        switch (proto) {
        case P_TCP:
            srv.tcp_fds[srv.n_tcp++] = serve_bind(SOCK_STREAM, port);
            break;
        case P_UDP:
            srv.udp_fds[srv.n_udp++] = serve_bind(SOCK_DGRAM, port);
            break;
        case P_SCTP:
            srv.sctp_ports[srv.n_sctp++] = port;
            break;
        }
    }
    if (!srv.n_tcp && !srv.n_udp && !srv.n_sctp) {
        usage_error("serve: no ports");
    }
    if (srv.n_sctp) {
        srv.sctp_fd = sctp_open_raw();
        for (size_t i = 0; i < sizeof cookie_secret; i += 4) {
            put_be32(cookie_secret + i, random_u32());
        }
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_handler;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ready_file) {
        write_ready_file(ready_file);
    }

    while (!stop_requested) {
        size_t n = 0, first_conn;

        for (size_t i = 0; i < srv.n_tcp; i++) {
            pfds[n++] = (struct pollfd) { srv.tcp_fds[i], POLLIN, 0 };
        }
        for (size_t i = 0; i < srv.n_udp; i++) {
            pfds[n++] = (struct pollfd) { srv.udp_fds[i], POLLIN, 0 };
        }
        if (srv.sctp_fd >= 0) {
            pfds[n++] = (struct pollfd) { srv.sctp_fd, POLLIN, 0 };
        }
        first_conn = n;
        for (size_t i = 0; i < MAX_CONNS; i++) {
            /* A free slot polls fd -1, which poll() ignores. */
            pfds[n++] = (struct pollfd) { srv.conns[i], POLLIN, 0 };
        }
        if (poll(pfds, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fatal("poll", errno);
        }
        for (size_t i = 0; i < first_conn; i++) {
            if (!pfds[i].revents) {
                continue;
            } else if (i < srv.n_tcp) {
                serve_accept(&srv, pfds[i].fd);
            } else if (i < srv.n_tcp + srv.n_udp) {
                serve_udp_input(pfds[i].fd);
            } else {
                serve_sctp_input(&srv);
            }
        }
        for (size_t i = 0; i < MAX_CONNS; i++) {
            if (pfds[first_conn + i].revents && srv.conns[i] >= 0) {
                serve_conn_input(&srv, i);
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * probe */

/* Where one probe stands. */
enum probe_state {
    PS_PENDING,                 /* Waiting for the handshake. */
    PS_CONNECTED,               /* Done: connected. */
    PS_BLOCKED,                 /* Done: blocked. */
};

/* SCTP association progress. */
enum sctp_state {
    SS_COOKIE_WAIT,             /* INIT sent. */
    SS_COOKIE_ECHOED,           /* COOKIE-ECHO sent. */
};

/* One target of a probe. */
struct probe {
    const char *arg;            /* The target as given. */
    enum proto proto;
    struct in_addr addr;        /* Target address and port. */
    uint16_t port;
    enum probe_state state;
    const char *reason;         /* Why blocked (static string). */
    int fd;                     /* TCP/UDP socket, or -1. */
    long long last_send;        /* When we last sent (ms), UDP/SCTP. */

    /* SCTP only. */
    enum sctp_state sctp_state;
    uint16_t local_port;        /* Our port. */
    uint32_t my_tag;            /* Our verification tag. */
    uint32_t peer_tag;          /* Peer's, from INIT-ACK. */
    uint32_t tsn;               /* Our initial TSN. */
    uint8_t cookie[512];        /* State cookie from INIT-ACK. */
    size_t cookie_len;
};

/* Marks 'p' done with 'state' and 'reason' and closes its socket. */
static void
probe_finish(struct probe *p, enum probe_state state, const char *reason)
{
    p->state = state;
    p->reason = reason;
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

/* Returns a short word for the errno value 'err'. */
static const char *
errno_reason(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return "refused";
    case ENETUNREACH:
        return "net-unreachable";
    case EHOSTUNREACH:
        return "host-unreachable";
    case ETIMEDOUT:
        return "timeout";
    case ECONNRESET:
        return "reset";
    default:
        return "error";
    }
}

/* Sends p's current SCTP handshake chunk (INIT or COOKIE-ECHO) over the
 * raw socket 'fd'. */
static void
probe_sctp_send(struct probe *p, int fd, long long now)
{
    uint8_t out[SCTP_COMMON_HDR_LEN + 4 + sizeof p->cookie + 4];
    uint8_t *chunk = out + SCTP_COMMON_HDR_LEN;
    size_t len;
    int err;

    if (p->sctp_state == SS_COOKIE_WAIT) {
        sctp_put_header(out, p->local_port, p->port, 0);
        len = sctp_put_chunk(chunk, SCTP_INIT, 0, SCTP_INIT_FIXED_LEN);
        sctp_put_init_fixed(chunk + 4, p->my_tag, p->tsn);
    } else {
        sctp_put_header(out, p->local_port, p->port, p->peer_tag);
        len = sctp_put_chunk(chunk, SCTP_COOKIE_ECHO, 0, p->cookie_len);
        memcpy(chunk + 4, p->cookie, p->cookie_len);
        memset(chunk + 4 + p->cookie_len, 0, len - 4 - p->cookie_len);
    }
    err = sctp_send(fd, out, SCTP_COMMON_HDR_LEN + len, p->addr);
    if (err) {
        probe_finish(p, PS_BLOCKED, errno_reason(err));
    }
    p->last_send = now;
}

/* Tells the peer of the established association of 'p' that we are gone
 * (ABORT), so that a stateful peer frees it. */
static void
probe_sctp_abort(const struct probe *p, int fd)
{
    uint8_t out[SCTP_COMMON_HDR_LEN + 4];

    sctp_put_header(out, p->local_port, p->port, p->peer_tag);
    sctp_put_chunk(out + SCTP_COMMON_HDR_LEN, SCTP_ABORT, 0, 0);
    sctp_send(fd, out, sizeof out, p->addr);
}

/* Extracts the state cookie of the INIT-ACK in 'pkt' into 'p'.  Returns
 * false if there is none. */
static bool
probe_sctp_take_cookie(struct probe *p, const struct sctp_packet *pkt)
{
    size_t ofs = SCTP_INIT_FIXED_LEN;

    while (ofs + 4 <= pkt->chunk_value_len) {
        const uint8_t *param = pkt->value + ofs;
        uint16_t type = get_be16(param);
        uint16_t len = get_be16(param + 2);

        if (len < 4 || ofs + len > pkt->chunk_value_len) {
            return false;
        }
        if (type == SCTP_PARAM_STATE_COOKIE) {
            if (len - 4 > sizeof p->cookie) {
                return false;
            }
            p->cookie_len = len - 4;
            memcpy(p->cookie, param + 4, p->cookie_len);
            return true;
        }
        ofs += (len + 3) & ~3u;
    }
    return false;
}

/* Handles the SCTP packet 'pkt' if it belongs to one of the 'n' probes
 * 'probes'; sends the next handshake chunk over 'fd' as needed. */
static void
probe_sctp_input(struct probe *probes, size_t n, int fd,
                 const struct sctp_packet *pkt, long long now)
{
    for (size_t i = 0; i < n; i++) {
        struct probe *p = &probes[i];

        if (p->proto != P_SCTP || p->state != PS_PENDING
            || pkt->src.s_addr != p->addr.s_addr
            || pkt->src_port != p->port || pkt->dst_port != p->local_port) {
            continue;
        }
        if (pkt->chunk_type == SCTP_ABORT
            && (pkt->vtag == p->my_tag
                || (pkt->chunk_flags & SCTP_ABORT_T_BIT
                    && p->sctp_state == SS_COOKIE_ECHOED
                    && pkt->vtag == p->peer_tag))) {
            probe_finish(p, PS_BLOCKED, "abort");
        } else if (pkt->vtag != p->my_tag) {
            continue;
        } else if (pkt->chunk_type == SCTP_INIT_ACK
                   && p->sctp_state == SS_COOKIE_WAIT
                   && pkt->chunk_value_len >= SCTP_INIT_FIXED_LEN
                   && get_be32(pkt->value)
                   && probe_sctp_take_cookie(p, pkt)) {
            p->peer_tag = get_be32(pkt->value);
            p->sctp_state = SS_COOKIE_ECHOED;
            probe_sctp_send(p, fd, now);
        } else if (pkt->chunk_type == SCTP_COOKIE_ACK
                   && p->sctp_state == SS_COOKIE_ECHOED) {
            probe_finish(p, PS_CONNECTED, "handshake");
            probe_sctp_abort(p, fd);
        }
        return;
    }
}

/* Starts probe 'p': opens its socket and sends its first packet.  SCTP
 * probes use the shared raw socket 'sctp_fd'. */
static void
probe_start(struct probe *p, int sctp_fd, long long now)
{
    static const char payload[] = "cf-netprobe\n";
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr = p->addr;
    sin.sin_port = htons(p->port);

    switch (p->proto) {
    case P_TCP:
    case P_UDP:
        p->fd = socket(AF_INET, (p->proto == P_TCP ? SOCK_STREAM : SOCK_DGRAM)
                       | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->fd < 0) {
            fatal("socket", errno);
        }
        if (connect(p->fd, (struct sockaddr *) &sin, sizeof sin) < 0
            && errno != EINPROGRESS) {
            probe_finish(p, PS_BLOCKED, errno_reason(errno));
            return;
        }
        if (p->proto == P_UDP) {
            if (send(p->fd, payload, sizeof payload - 1, 0) < 0) {
                probe_finish(p, PS_BLOCKED, errno_reason(errno));
                return;
            }
            p->last_send = now;
        }
        break;
    case P_SCTP:
        do {
            p->my_tag = random_u32();
        } while (!p->my_tag);
        p->tsn = random_u32();
        p->sctp_state = SS_COOKIE_WAIT;
        probe_sctp_send(p, sctp_fd, now);
        break;
    }
}

/* Handles readiness 'revents' on the TCP or UDP socket of probe 'p'. */
static void
probe_socket_input(struct probe *p, short revents, long long now)
{
    static const char payload[] = "cf-netprobe\n";
    int err = 0;
    socklen_t len = sizeof err;
    char buf[256];
    ssize_t n;

    if (p->proto == P_TCP) {
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            probe_finish(p, PS_BLOCKED, errno_reason(err));
        } else if (revents & POLLOUT) {
            probe_finish(p, PS_CONNECTED, "handshake");
        }
        return;
    }

    /* UDP. */
    n = recv(p->fd, buf, sizeof buf, 0);
    if (n > 0) {
        probe_finish(p, PS_CONNECTED, "reply");
    } else if (n == 0) {
        return;                 /* An empty datagram is no answer. */
    } else if (errno == ECONNREFUSED) {
        probe_finish(p, PS_BLOCKED, "refused");
    } else if (errno != EAGAIN && errno != EINTR) {
        /* Some other ICMP error: send again until the deadline. */
        if (send(p->fd, payload, sizeof payload - 1, 0) >= 0) {
            p->last_send = now;
        }
    }
}

/* Parses the target 'arg' ("PROTO:IPV4:PORT") into 'p'.  Returns false if
 * it is malformed. */
static bool
parse_target(const char *arg, struct probe *p)
{
    const char *c1 = strchr(arg, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char host[64];

    memset(p, 0, sizeof *p);
    p->arg = arg;
    p->fd = -1;
    if (!c1 || !c2 || !parse_proto(arg, c1 - arg, &p->proto)
        || c2 - c1 - 1 <= 0 || c2 - c1 - 1 >= (long) sizeof host
        || !parse_port(c2 + 1, &p->port)) {
        return false;
    }
    memcpy(host, c1 + 1, c2 - c1 - 1);
    host[c2 - c1 - 1] = '\0';
    return inet_pton(AF_INET, host, &p->addr) == 1;
}

/* Gives every SCTP probe among the 'n' probes a distinct local port. */
static void
assign_sctp_ports(struct probe *probes, size_t n)
{
    uint16_t base = 32768 + random_u32() % 28000;

    for (size_t i = 0; i < n; i++) {
        probes[i].local_port = base + i;
    }
}

/* The "probe" command: 'argc' and 'argv' are its arguments.  Returns the
 * exit status. */
static int
cmd_probe(int argc, char *argv[])
{
    static struct probe probes[MAX_TARGETS];
    static struct pollfd pfds[MAX_TARGETS + 1];
    static size_t pfd_probe[MAX_TARGETS + 1];
    long long timeout_ms = 1000, start, deadline;
    bool verbose = false;
    size_t n = 0;
    int sctp_fd = -1;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
            char *end;

            timeout_ms = strtoll(argv[++i], &end, 10);
            if (*end || timeout_ms <= 0 || timeout_ms > 600000) {
                usage_error("probe: bad --timeout-ms");
            }
        } else if (!strcmp(argv[i], "-v")) {
            verbose = true;
        } else if (n >= MAX_TARGETS) {
            usage_error("probe: too many targets");
        } else if (!parse_target(argv[i], &probes[n++])) {
            fprintf(stderr, "cf-netprobe: probe: bad target \"%s\"\n",
                    argv[i]);
            usage_error("probe: expected PROTO:IPV4:PORT");
        }
    }
    if (!n) {
        usage_error("probe: no targets");
    }
    signal(SIGPIPE, SIG_IGN);
    assign_sctp_ports(probes, n);

    start = now_ms();
    deadline = start + timeout_ms;
    for (size_t i = 0; i < n; i++) {
        if (probes[i].proto == P_SCTP && sctp_fd < 0) {
            sctp_fd = sctp_open_raw();
        }
        probe_start(&probes[i], sctp_fd, start);
    }

    for (;;) {
        long long now = now_ms();
        long long wake = deadline;
        size_t n_pfds = 0;
        bool pending = false;

        /* Resend what got no answer yet; find when to wake up next. */
        for (size_t i = 0; i < n; i++) {
            struct probe *p = &probes[i];

            if (p->state != PS_PENDING) {
                continue;
            }
            pending = true;
            if (p->proto != P_TCP) {
                if (now - p->last_send >= RESEND_MS) {
                    if (p->proto == P_UDP) {
                        static const char payload[] = "cf-netprobe\n";

                        if (send(p->fd, payload, sizeof payload - 1, 0) < 0
                            && errno == ECONNREFUSED) {
                            probe_finish(p, PS_BLOCKED, "refused");
                            continue;
                        }
                        p->last_send = now;
                    } else {
                        probe_sctp_send(p, sctp_fd, now);
                    }
                }
                if (p->last_send + RESEND_MS < wake) {
                    wake = p->last_send + RESEND_MS;
                }
            }
            if (p->fd >= 0) {
                pfds[n_pfds] = (struct pollfd) {
                    p->fd, p->proto == P_TCP ? POLLOUT : POLLIN, 0 };
                pfd_probe[n_pfds++] = i;
            }
        }
        if (!pending || now >= deadline) {
            break;
        }
        if (sctp_fd >= 0) {
            pfds[n_pfds] = (struct pollfd) { sctp_fd, POLLIN, 0 };
            pfd_probe[n_pfds++] = SIZE_MAX;
        }
        if (poll(pfds, n_pfds, wake > now ? wake - now : 0) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fatal("poll", errno);
        }
        now = now_ms();
        for (size_t k = 0; k < n_pfds; k++) {
            if (!pfds[k].revents) {
                continue;
            }
            if (pfd_probe[k] != SIZE_MAX) {
                struct probe *p = &probes[pfd_probe[k]];

                if (p->state == PS_PENDING) {
                    probe_socket_input(p, pfds[k].revents, now);
                }
            } else {
                uint8_t buf[65536];
                struct sctp_packet pkt;
                ssize_t len;

                while ((len = recv(sctp_fd, buf, sizeof buf, 0)) > 0) {
                    if (sctp_parse(buf, len, &pkt)) {
                        probe_sctp_input(probes, n, sctp_fd, &pkt, now);
                    }
                }
            }
        }
    }

    for (size_t i = 0; i < n; i++) {
        struct probe *p = &probes[i];

        if (p->state == PS_PENDING) {
            probe_finish(p, PS_BLOCKED, "timeout");
        }
        if (verbose) {
            printf("%s %s %s\n", p->arg,
                   p->state == PS_CONNECTED ? "connected" : "blocked",
                   p->reason);
        } else {
            printf("%s %s\n", p->arg,
                   p->state == PS_CONNECTED ? "connected" : "blocked");
        }
    }
    if (sctp_fd >= 0) {
        close(sctp_fd);
    }
    return fflush(stdout) ? 1 : 0;
}

/* The "selftest" command: checks the CRC32c code against the test vectors
 * of RFC 3720 appendix B.4 (the CRC SCTP uses), and the checksum as stored
 * in a packet (byte order included) against packets built by scapy.
 * Returns the exit status: 0 if all agree. */
static int
cmd_selftest(void)
{
    /* An INIT and a COOKIE-ECHO as scapy (an independent implementation)
     * builds them. */
    static const uint8_t ref_init[] = {
        0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00,
        0xa4, 0x7a, 0xb8, 0x40, 0x01, 0x00, 0x00, 0x14,
        0x01, 0x23, 0x45, 0x67, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x01, 0x89, 0xab, 0xcd, 0xef,
    };
    static const uint8_t ref_cookie_echo[] = {
        0x00, 0x50, 0x9c, 0x40, 0x01, 0x23, 0x45, 0x67,
        0x2b, 0xe0, 0xb4, 0xe7, 0x0a, 0x00, 0x00, 0x14,
        0x63, 0x66, 0x6e, 0x70, 0x2d, 0x63, 0x6f, 0x6f,
        0x6b, 0x69, 0x65, 0x2d, 0x74, 0x65, 0x73, 0x74,
    };
    uint8_t buf[32];
    int failures = 0;
    struct {
        const char *name;
        uint32_t crc;
    } vectors[] = {
        { "32 bytes of 0x00", 0x8a9136aa },
        { "32 bytes of 0xff", 0x62a8ab43 },
        { "bytes 0..31", 0x46dd794e },
        { "bytes 31..0", 0x113fdb5c },
    };

    for (size_t v = 0; v < 4; v++) {
        uint32_t crc;

        for (size_t i = 0; i < sizeof buf; i++) {
            buf[i] = (v == 0 ? 0x00 : v == 1 ? 0xff
                      : v == 2 ? i : 31 - i);
        }
        crc = ~crc32c_update(0xffffffff, buf, sizeof buf);
        if (crc != vectors[v].crc) {
            printf("crc32c(%s) = %08x, expected %08x\n",
                   vectors[v].name, crc, vectors[v].crc);
            failures++;
        }
    }
    if (!sctp_checksum_ok(ref_init, sizeof ref_init)
        || !sctp_checksum_ok(ref_cookie_echo, sizeof ref_cookie_echo)) {
        printf("the checksums of scapy's reference packets do not verify\n");
        failures++;
    }
    memcpy(buf, ref_init, sizeof buf);
    memset(buf + 8, 0, 4);
    sctp_set_checksum(buf, sizeof buf);
    if (memcmp(buf, ref_init, sizeof buf)) {
        printf("the checksum of the reference INIT comes out different\n");
        failures++;
    }
    printf("selftest: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

int
main(int argc, char *argv[])
{
    crc32c_init();
    if (argc == 2 && !strcmp(argv[1], "selftest")) {
        return cmd_selftest();
    }
    if (argc >= 2 && !strcmp(argv[1], "serve")) {
        return cmd_serve(argc - 2, argv + 2);
    } else if (argc >= 2 && !strcmp(argv[1], "probe")) {
        return cmd_probe(argc - 2, argv + 2);
    } else if (argc >= 2 && (!strcmp(argv[1], "--help")
                             || !strcmp(argv[1], "-h"))) {
        printf("usage: cf-netprobe serve [--ready-file FILE] "
               "tcp:PORT|udp:PORT|sctp:PORT...\n"
               "       cf-netprobe probe [--timeout-ms N] [-v] "
               "tcp|udp|sctp:IPV4:PORT...\n"
               "       cf-netprobe selftest\n");
        return 0;
    }
    usage_error("expected \"serve\" or \"probe\"");
    return 2;
}
