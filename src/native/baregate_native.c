/* baregate_native: the sockets the Layer-2 announcer and the BGP speaker need and Node cannot open itself.
 *
 *  - AF_PACKET SOCK_RAW bound to one interface and one ethertype (ARP, or IPv6 frames the IP stack would drop);
 *  - a raw ICMPv6 socket that hears Neighbor Solicitations and sends Neighbor Advertisements;
 *  - setsockopt(TCP_MD5SIG) for RFC 2385 BGP sessions, and TTL / GTSM minimum TTL (RFC 5082) on BGP sockets.
 *
 * Ownership: each socket is a sock_t owned by its JS wrapper object (napi_wrap, type-tagged so a foreign object
 * can never be mistaken for one) and, once it listens, also by a libuv poll handle. It is freed only when both
 * have let go: the wrapper was collected and uv_close has called back. So close() from inside a JS callback, or
 * a GC while uv_close is pending, never touches freed memory. A listening socket holds a strong reference to its
 * own wrapper (like an open net.Socket) so it is not collected while it can still call back.
 *
 * Every fd is SOCK_NONBLOCK|SOCK_CLOEXEC; reads happen only in the poll callback and never block the loop.
 * Errors become NativeError (the TS class handed to init()) with errno and syscall; bad arguments TypeError. */
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif
#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* Messages read per readiness. The poll is level-triggered, so anything left is read on the next loop turn;
 * the cap only keeps a flood from starving timers and other I/O. */
#define MAX_BURST 1024
#define RECV_BUF 65536

enum { PACKET, ICMP6, UDP, KINDS };
static const napi_type_tag TAG[KINDS] = {
    {0x62617265676174e1ULL, 0x7061636b65740001ULL},
    {0x62617265676174e1ULL, 0x69636d7036000002ULL},
    {0x62617265676174e1ULL, 0x7564700000000003ULL},
};
static const char *const KIND_NAME[KINDS] = {"PacketSocket", "Icmp6Socket", "UdpSocket"};

typedef struct {
  int kind, fd, ifindex;           /* fd is -1 once closed */
  char name[IF_NAMESIZE];          /* interface name, or "icmp6": the context of error messages */
  napi_env env;
  napi_ref self, on_data, on_error; /* held only while listening */
  napi_async_context async;
  uv_poll_t poll;
  bool polling, poll_closed, collected;
  int busy; /* > 0 while one of this socket's JS callbacks runs: what it needs must outlive close() */
} sock_t;

typedef struct {
  napi_ref error_ctor;     /* the TS NativeError class, from init() */
  napi_ref on_uncaught;    /* optional: told about an exception a JS callback left behind (never fatal) */
} addon_t;

static void report_uncaught(napi_env env, napi_value exc);

/* ---- errors and arguments ---------------------------------------------------------------------------------- */

/* Turns a failed N-API call into a JS exception (unless one is already pending) and returns NULL. */
static napi_value napi_fail(napi_env env) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_get_last_error_info(env, &info);
  const char *msg = info && info->error_message ? info->error_message : "N-API call failed";
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, msg);
  return NULL;
}
#define NAPI(call) do { if ((call) != napi_ok) return napi_fail(env); } while (0)

/* NativeError("syscall(ctx): strerror", errno, syscall); a plain Error with the same fields before init(). */
static napi_value make_error(napi_env env, int err, const char *syscall, const char *ctx) {
  char msg[320], ebuf[128];
  napi_value args[3], ctor, result = NULL;
  addon_t *addon = NULL;
  snprintf(msg, sizeof msg, "%s(%s): %s", syscall, ctx, strerror_r(err, ebuf, sizeof ebuf));
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[0]);
  napi_create_int32(env, err, &args[1]);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &args[2]);
  napi_get_instance_data(env, (void **)&addon);
  if (addon && napi_get_reference_value(env, addon->error_ctor, &ctor) == napi_ok && ctor &&
      napi_new_instance(env, ctor, 3, args, &result) == napi_ok)
    return result;
  if (napi_create_error(env, NULL, args[0], &result) != napi_ok) return NULL;
  napi_set_named_property(env, result, "errno", args[1]);
  napi_set_named_property(env, result, "syscall", args[2]);
  return result;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *ctx) {
  napi_value e = make_error(env, err, syscall, ctx);
  if (e) napi_throw(env, e);
  return NULL;
}

/* An exception a JS callback threw into native code: handed to init()'s onUncaught (the TS wrapper counts and
 * logs it), never to process 'uncaughtException', so no frame or timer callback can end the process. If the
 * reporter itself throws, or there is none, the exception is printed and dropped. */
static void report_uncaught(napi_env env, napi_value exc) {
  addon_t *addon = NULL;
  napi_value fn = NULL, global, result, again;
  napi_get_instance_data(env, (void **)&addon);
  if (addon && addon->on_uncaught && napi_get_reference_value(env, addon->on_uncaught, &fn) == napi_ok && fn &&
      napi_get_global(env, &global) == napi_ok) {
    if (napi_call_function(env, global, fn, 1, &exc, &result) == napi_ok) return;
    napi_get_and_clear_last_exception(env, &again);
  }
  fprintf(stderr, "baregate_native: a callback threw and no reporter took it; dropped\n");
}

static bool type_error(napi_env env, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

/* A string of min..size-1 UTF-8 bytes, copied NUL-terminated into buf; *len (optional) gets its length. */
static bool arg_string(napi_env env, napi_value v, char *buf, size_t size, size_t min, const char *what, size_t *len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return type_error(env, "%s must be a string", what);
  if (n < min || n >= size) return type_error(env, "%s must be %zu..%zu bytes of UTF-8, got %zu", what, min, size - 1, n);
  napi_get_value_string_utf8(env, v, buf, size, &n);
  if (len) *len = n;
  else if (strlen(buf) != n) return type_error(env, "%s must not contain NUL characters", what);
  return true;
}

static bool arg_int(napi_env env, napi_value v, double min, double max, const char *what, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= min && d <= max) || d != (double)(int64_t)d)
    return type_error(env, "%s must be an integer in %.0f..%.0f", what, min, max);
  *out = (int64_t)d;
  return true;
}

/* A function, or with optional also undefined/null (then *out = NULL). */
static bool arg_fn(napi_env env, napi_value v, bool optional, const char *what, napi_value *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) t = napi_undefined;
  *out = t == napi_function ? v : NULL;
  if (t == napi_function || (optional && (t == napi_undefined || t == napi_null))) return true;
  return type_error(env, "%s must be a function", what);
}

/* A Buffer or any other ArrayBufferView of at least min bytes. The data is used synchronously, never kept. */
static bool arg_bytes(napi_env env, napi_value v, size_t min, const char *what, void **data, size_t *len) {
  bool ok = false;
  if (napi_is_buffer(env, v, &ok) != napi_ok || !ok || napi_get_buffer_info(env, v, data, len) != napi_ok)
    return type_error(env, "%s must be a Buffer", what);
  if (*len < min) return type_error(env, "%s must be at least %zu bytes, got %zu", what, min, *len);
  return true;
}

static bool arg_in6(napi_env env, napi_value v, const char *what, struct in6_addr *out, char text[INET6_ADDRSTRLEN]) {
  if (!arg_string(env, v, text, INET6_ADDRSTRLEN, 1, what, NULL)) return false;
  if (inet_pton(AF_INET6, text, out) != 1) return type_error(env, "%s is not an IPv6 address: %s", what, text);
  return true;
}

/* ---- socket lifetime --------------------------------------------------------------------------------------- */

static void maybe_free(sock_t *s) {
  if (s->collected && (!s->polling || s->poll_closed)) free(s);
}

static void on_poll_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  s->poll_closed = true;
  maybe_free(s);
}

/* Drops the callbacks, the self reference and the async context; deferred while a callback of s runs. */
static void release_js(sock_t *s) {
  if (s->busy) return;
  napi_ref *refs[3] = {&s->self, &s->on_data, &s->on_error};
  for (int i = 0; i < 3; i++)
    if (*refs[i]) napi_delete_reference(s->env, *refs[i]), *refs[i] = NULL;
  if (s->async) napi_async_destroy(s->env, s->async), s->async = NULL;
}

/* Idempotent. uv_close goes first: it takes the fd out of epoll (and out of events already fetched this turn)
 * synchronously, so closing the fd right after cannot disturb a new socket that reuses the number. */
static void close_fd(sock_t *s) {
  if (s->fd < 0) return;
  if (s->polling) uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  close(s->fd);
  s->fd = -1;
}

static void sock_close(sock_t *s) {
  close_fd(s);
  release_js(s);
}

/* GC of the wrapper (or env teardown). A listening socket is only collected after close() or at teardown, when
 * Node itself disposes of the references, so this touches no napi_ref: it closes the fd if still open. */
static void finalize(napi_env env, void *data, void *hint) {
  sock_t *s = data;
  s->collected = true;
  close_fd(s);
  maybe_free(s);
}

/* ---- receiving --------------------------------------------------------------------------------------------- */

/* Calls fn(...argv) with the socket's async context, so nextTicks and promise jobs run after it and async_hooks
 * see a proper resource. A throwing callback goes to process 'uncaughtException', like an event listener. */
static void dispatch(sock_t *s, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn = NULL, self = NULL, result, exc;
  if (fn_ref && napi_get_reference_value(env, fn_ref, &fn) == napi_ok && fn &&
      napi_get_reference_value(env, s->self, &self) == napi_ok && self) {
    s->busy++;
    napi_status st = napi_make_callback(env, s->async, self, fn, argc, argv, &result);
    s->busy--;
    if (st == napi_pending_exception && napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      report_uncaught(env, exc);
  }
  if (s->fd < 0) release_js(s); /* closed from inside the callback: release what it still needed */
}

/* Reports a receive error once and closes the socket first, so onError may open a replacement at once. */
static void fail(sock_t *s, int err) {
  napi_value e = make_error(s->env, err, s->kind == PACKET ? "recvfrom" : "recvmsg", s->name);
  close_fd(s); /* only the fd: the callbacks go after onError has run (dispatch sees fd < 0) */
  dispatch(s, s->on_error, e ? 1 : 0, &e);
}

/* One frame into argv[0]: returns argc, 0 to skip it, or -errno. */
static int recv_packet(sock_t *s, napi_value *argv) {
  unsigned char buf[RECV_BUF];
  struct sockaddr_ll from;
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
  if (n < 0) return -errno;
  if (from.sll_pkttype == PACKET_OUTGOING) return 0; /* our own send, looped back to taps: not a received frame */
  return napi_create_buffer_copy(s->env, (size_t)n, buf, NULL, &argv[0]) == napi_ok ? 1 : 0;
}

/* One ICMPv6 message into argv[0..3] = (source text, ifindex, hop limit, payload) from ancillary data. */
static int recv_icmp6(sock_t *s, napi_value *argv) {
  unsigned char buf[RECV_BUF];
  union { char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cm;
  struct sockaddr_in6 from;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                      .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
  char src[INET6_ADDRSTRLEN] = "";
  int ifindex = 0, hop_limit = -1;
  ssize_t n = recvmsg(s->fd, &mh, 0);
  if (n < 0) return -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != IPPROTO_IPV6) continue;
    if (c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = (int)pi.ipi6_ifindex;
    } else if (c->cmsg_type == IPV6_HOPLIMIT) {
      memcpy(&hop_limit, CMSG_DATA(c), sizeof hop_limit);
    }
  }
  inet_ntop(AF_INET6, &from.sin6_addr, src, sizeof src);
  if (napi_create_string_utf8(s->env, src, NAPI_AUTO_LENGTH, &argv[0]) != napi_ok ||
      napi_create_int32(s->env, ifindex, &argv[1]) != napi_ok ||
      napi_create_int32(s->env, hop_limit, &argv[2]) != napi_ok ||
      napi_create_buffer_copy(s->env, (size_t)n, buf, NULL, &argv[3]) != napi_ok)
    return 0;
  return 4;
}

/* One UDP datagram into argv[0..3] = (source text, source port, TTL or hop limit, payload): the TTL comes from
 * IP_RECVTTL / IPV6_RECVHOPLIMIT ancillary data (-1 when the kernel gave none), so BFD can check RFC 5881's 255. */
static int recv_udp(sock_t *s, napi_value *argv) {
  unsigned char buf[RECV_BUF];
  union { char buf[CMSG_SPACE(sizeof(int)) * 2]; struct cmsghdr align; } cm;
  struct sockaddr_storage from;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                      .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
  char src[INET6_ADDRSTRLEN] = "";
  int ttl = -1, port = 0;
  ssize_t n = recvmsg(s->fd, &mh, 0);
  if (n < 0) return -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT))
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
  }
  if (from.ss_family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&from;
    inet_ntop(AF_INET, &sin->sin_addr, src, sizeof src);
    port = ntohs(sin->sin_port);
  } else if (from.ss_family == AF_INET6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&from;
    inet_ntop(AF_INET6, &sin6->sin6_addr, src, sizeof src);
    port = ntohs(sin6->sin6_port);
  }
  if (napi_create_string_utf8(s->env, src, NAPI_AUTO_LENGTH, &argv[0]) != napi_ok ||
      napi_create_int32(s->env, port, &argv[1]) != napi_ok ||
      napi_create_int32(s->env, ttl, &argv[2]) != napi_ok ||
      napi_create_buffer_copy(s->env, (size_t)n, buf, NULL, &argv[3]) != napi_ok)
    return 0;
  return 4;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  napi_handle_scope scope;
  napi_value argv[4];
  if (s->fd < 0 || napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle; the real cause (ENETDOWN when the interface went
     * down or away) is the socket's pending error, which reading SO_ERROR also clears. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) err = -status;
    fail(s, err);
  }
  for (int i = 0; i < MAX_BURST && s->fd >= 0; i++) {
    napi_handle_scope inner; /* one scope per message: a burst must not pile up handles */
    if (napi_open_handle_scope(s->env, &inner) != napi_ok) break;
    int argc = s->kind == PACKET ? recv_packet(s, argv) : s->kind == ICMP6 ? recv_icmp6(s, argv) : recv_udp(s, argv);
    if (argc > 0) dispatch(s, s->on_data, (size_t)argc, argv);
    else if (argc < 0 && argc != -EINTR && argc != -EAGAIN && argc != -EWOULDBLOCK) fail(s, -argc);
    napi_close_handle_scope(s->env, inner);
    if (argc == -EAGAIN || argc == -EWOULDBLOCK) break;
  }
  napi_close_handle_scope(s->env, scope);
}

/* ---- creating sockets -------------------------------------------------------------------------------------- */

static bool sock_listen(napi_env env, sock_t *s, napi_value obj, napi_value on_data, napi_value on_error) {
  uv_loop_t *loop;
  napi_value name;
  int err;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return napi_fail(env), false;
  if ((err = uv_poll_init(loop, &s->poll, s->fd)) != 0) return throw_errno(env, -err, "uv_poll_init", s->name), false;
  s->polling = true;
  s->poll.data = s;
  if ((err = uv_poll_start(&s->poll, UV_READABLE, on_poll)) != 0)
    return throw_errno(env, -err, "uv_poll_start", s->name), false;
  if (napi_create_reference(env, obj, 1, &s->self) != napi_ok ||
      napi_create_reference(env, on_data, 1, &s->on_data) != napi_ok ||
      (on_error && napi_create_reference(env, on_error, 1, &s->on_error) != napi_ok) ||
      napi_create_string_utf8(env, KIND_NAME[s->kind], NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, obj, name, &s->async) != napi_ok)
    return napi_fail(env), false;
  return true;
}

/* Wraps an open fd into a tagged JS object { fd, ifindex }; listens when on_data is given. Takes the fd. */
static napi_value sock_new(napi_env env, int kind, int fd, int ifindex, const char *name, napi_value on_data,
                           napi_value on_error) {
  napi_value obj, v;
  sock_t *s = calloc(1, sizeof *s);
  if (!s) return close(fd), throw_errno(env, ENOMEM, "calloc", name);
  *s = (sock_t){.kind = kind, .fd = fd, .ifindex = ifindex, .env = env};
  snprintf(s->name, sizeof s->name, "%s", name);
  if (napi_create_object(env, &obj) != napi_ok || napi_type_tag_object(env, obj, &TAG[kind]) != napi_ok ||
      napi_wrap(env, obj, s, finalize, NULL, NULL) != napi_ok)
    return close(fd), free(s), napi_fail(env);
  /* from here on the wrapper owns s: on failure close it and let the GC free it */
  if (napi_create_int32(env, fd, &v) != napi_ok || napi_set_named_property(env, obj, "fd", v) != napi_ok ||
      napi_create_int32(env, ifindex, &v) != napi_ok || napi_set_named_property(env, obj, "ifindex", v) != napi_ok ||
      (on_data && !sock_listen(env, s, obj, on_data, on_error))) {
    sock_close(s);
    return napi_fail(env);
  }
  return obj;
}

/* The sock_t behind a wrapper of the given kind (-1: either), or NULL with a TypeError thrown. */
static sock_t *sock_arg(napi_env env, napi_value v, int kind) {
  void *s = NULL;
  for (int k = 0; k < KINDS; k++) {
    bool ok = false;
    if ((kind < 0 || kind == k) && napi_check_object_type_tag(env, v, &TAG[k], &ok) == napi_ok && ok &&
        napi_unwrap(env, v, &s) == napi_ok)
      return s;
  }
  type_error(env, "expected a native %s handle", kind < 0 ? "socket" : KIND_NAME[kind]);
  return NULL;
}

/* ---- exports ----------------------------------------------------------------------------------------------- */

static void addon_free(napi_env env, void *data, void *hint) {
  addon_t *a = data;
  if (a->error_ctor) napi_delete_reference(env, a->error_ctor);
  if (a->on_uncaught) napi_delete_reference(env, a->on_uncaught);
  free(a);
}

/* init(NativeError, onUncaught?): the class every system error is created as, and who hears of exceptions JS
 * callbacks throw into native code. */
static napi_value js_init(napi_env env, napi_callback_info info) {
  napi_value argv[2], ctor, on_uncaught = NULL;
  size_t argc = 2;
  addon_t *a;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_fn(env, argv[0], false, "NativeError", &ctor)) return NULL;
  if (argc >= 2 && !arg_fn(env, argv[1], true, "onUncaught", &on_uncaught)) return NULL;
  if (!(a = calloc(1, sizeof *a))) return throw_errno(env, ENOMEM, "calloc", "init");
  if (napi_create_reference(env, ctor, 1, &a->error_ctor) != napi_ok) return free(a), napi_fail(env);
  if (on_uncaught && napi_create_reference(env, on_uncaught, 1, &a->on_uncaught) != napi_ok) {
    napi_delete_reference(env, a->error_ctor);
    return free(a), napi_fail(env);
  }
  if (napi_set_instance_data(env, a, addon_free, NULL) != napi_ok) return addon_free(env, a, NULL), napi_fail(env);
  return NULL;
}

/* packetOpen(ifname, ethertype, onFrame, onError?, filter?) -> { fd, ifindex }; filter is a classic BPF program
 * as packed struct sock_filter entries (8 bytes each, host byte order) */
static napi_value js_packet_open(napi_env env, napi_callback_info info) {
  napi_value argv[5], on_frame, on_error;
  size_t argc = 5;
  char name[IF_NAMESIZE];
  int64_t ethertype;
  void *filter = NULL;
  size_t filter_len = 0;
  napi_valuetype ft = napi_undefined;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_string(env, argv[0], name, sizeof name, 1, "ifname", NULL) ||
      !arg_int(env, argv[1], 1, 0xffff, "ethertype", &ethertype) || !arg_fn(env, argv[2], false, "onFrame", &on_frame) ||
      !arg_fn(env, argv[3], true, "onError", &on_error))
    return NULL;
  if (argc >= 5) NAPI(napi_typeof(env, argv[4], &ft));
  if (ft != napi_undefined) {
    if (!arg_bytes(env, argv[4], sizeof(struct sock_filter), "filter", &filter, &filter_len)) return NULL;
    if (filter_len % sizeof(struct sock_filter) || filter_len / sizeof(struct sock_filter) > BPF_MAXINSNS)
      return type_error(env, "filter must be 1..%d sock_filter entries of 8 bytes", BPF_MAXINSNS), NULL;
  }
  unsigned ifindex = if_nametoindex(name);
  if (!ifindex) return throw_errno(env, errno, "if_nametoindex", name);
  /* protocol 0 receives nothing; bind() then hooks the socket to one ethertype on one interface, so no frame
   * from another interface can slip in between socket() and bind() */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", name);
  /* the filter goes on before bind(), so not one unfiltered frame is queued (an IPv6 socket would otherwise
   * copy every data packet of the node to user space) */
  if (filter) {
    struct sock_fprog prog = {.len = (unsigned short)(filter_len / sizeof(struct sock_filter)), .filter = filter};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
      int e = errno;
      return close(fd), throw_errno(env, e, "setsockopt(SO_ATTACH_FILTER)", name);
    }
  }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)ethertype), .sll_ifindex = (int)ifindex};
  int err = 0, one = 1;
  socklen_t len = sizeof err;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) err = errno;
  /* binding to a down interface succeeds but leaves ENETDOWN pending: fail now rather than on the first read */
  else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) return close(fd), throw_errno(env, err, "bind", name);
  /* spares the kernel copying our own sends to us (Linux >= 4.20); recv_packet filters them too */
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  return sock_new(env, PACKET, fd, (int)ifindex, name, on_frame, on_error);
}

/* packetSend(handle, frame): the frame's own ethertype becomes skb->protocol, as if the stack had sent it. */
static napi_value js_packet_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = 2, len;
  void *data;
  sock_t *s;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(s = sock_arg(env, argv[0], PACKET)) || !arg_bytes(env, argv[1], ETH_HLEN, "frame", &data, &len)) return NULL;
  if (s->fd < 0) return throw_errno(env, EBADF, "sendto", s->name);
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = s->ifindex};
  memcpy(&to.sll_protocol, (unsigned char *)data + 12, 2);
  if (sendto(s->fd, data, len, 0, (struct sockaddr *)&to, sizeof to) < 0) return throw_errno(env, errno, "sendto", s->name);
  return NULL;
}

/* icmp6Open(onMessage?, onError?) -> { fd }. Without onMessage the socket is send-only: it blocks every type
 * and is not polled, so nothing queues up unread. */
static napi_value js_icmp6_open(napi_env env, napi_callback_info info) {
  napi_value argv[2], on_msg, on_error;
  size_t argc = 2;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_fn(env, argv[0], true, "onMessage", &on_msg) || !arg_fn(env, argv[1], true, "onError", &on_error))
    return NULL;
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, errno, "socket", "icmp6");
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  if (on_msg) ICMP6_FILTER_SETPASS(ND_NEIGHBOR_SOLICIT, &filter);
  const int two = 2, hops = 255, zero = 0, one = 1;
  const struct { int level, name; const void *val; socklen_t len; const char *label; } opts[] = {
      {IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter, "ICMP6_FILTER"},
      /* level SOL_RAW: Linux refuses IPPROTO_IPV6/IPV6_CHECKSUM on ICMPv6 sockets (RFC 3542; it always sums them) */
      {SOL_RAW, IPV6_CHECKSUM, &two, sizeof two, "IPV6_CHECKSUM"},
      /* RFC 4861 receivers drop ND messages whose hop limit is not 255 (proof they were not routed) */
      {IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops, "IPV6_UNICAST_HOPS"},
      {IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops, "IPV6_MULTICAST_HOPS"},
      {IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof zero, "IPV6_MULTICAST_LOOP"},
      /* only the groups this socket joined, not every group the host is in (the kernel answers for its own) */
      {IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof zero, "IPV6_MULTICAST_ALL"},
      {IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one, "IPV6_RECVPKTINFO"},
      {IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one, "IPV6_RECVHOPLIMIT"},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    if (setsockopt(fd, opts[i].level, opts[i].name, opts[i].val, opts[i].len) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "setsockopt", opts[i].label);
    }
  }
  return sock_new(env, ICMP6, fd, 0, "icmp6", on_msg, on_error);
}

/* icmp6Send(handle, dst, ifindex, payload): IPV6_PKTINFO names the interface and leaves the source unspecified,
 * so the kernel picks the interface's address (the link-local one for link-scope destinations). */
static napi_value js_icmp6_send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4, len;
  void *data;
  int64_t ifindex;
  char dst[INET6_ADDRSTRLEN], ctx[INET6_ADDRSTRLEN + 16];
  struct sockaddr_in6 to = {.sin6_family = AF_INET6};
  sock_t *s;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(s = sock_arg(env, argv[0], ICMP6)) || !arg_in6(env, argv[1], "dst", &to.sin6_addr, dst) ||
      !arg_int(env, argv[2], 1, INT32_MAX, "ifindex", &ifindex) || !arg_bytes(env, argv[3], 4, "payload", &data, &len))
    return NULL;
  snprintf(ctx, sizeof ctx, "%s%%%d", dst, (int)ifindex);
  if (s->fd < 0) return throw_errno(env, EBADF, "sendmsg", ctx);
  to.sin6_scope_id = (uint32_t)ifindex; /* needed for link-local and link-scope multicast, ignored otherwise */
  struct in6_pktinfo pi = {.ipi6_ifindex = (unsigned)ifindex};
  union { char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))]; struct cmsghdr align; } cm;
  memset(&cm, 0, sizeof cm);
  struct iovec iov = {data, len};
  struct msghdr mh = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1,
                      .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof pi);
  memcpy(CMSG_DATA(c), &pi, sizeof pi);
  if (sendmsg(s->fd, &mh, 0) < 0) return throw_errno(env, errno, "sendmsg", ctx);
  return NULL;
}

/* icmp6Membership(handle, group, ifindex, join): IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP. The group is joined on the
 * device, which is what makes the kernel accept NS multicast to a solicited-node group of a non-local target. */
static napi_value js_icmp6_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  int64_t ifindex;
  bool join;
  char group[INET6_ADDRSTRLEN], ctx[INET6_ADDRSTRLEN + 40];
  struct ipv6_mreq mr;
  sock_t *s;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(s = sock_arg(env, argv[0], ICMP6)) || !arg_in6(env, argv[1], "group", &mr.ipv6mr_multiaddr, group) ||
      !arg_int(env, argv[2], 1, INT32_MAX, "ifindex", &ifindex))
    return NULL;
  if (!IN6_IS_ADDR_MULTICAST(&mr.ipv6mr_multiaddr)) return type_error(env, "group is not a multicast address: %s", group), NULL;
  if (napi_get_value_bool(env, argv[3], &join) != napi_ok) return type_error(env, "join must be a boolean"), NULL;
  mr.ipv6mr_interface = (unsigned)ifindex;
  snprintf(ctx, sizeof ctx, "%s %s%%%d", join ? "IPV6_JOIN_GROUP" : "IPV6_LEAVE_GROUP", group, (int)ifindex);
  if (s->fd < 0) return throw_errno(env, EBADF, "setsockopt", ctx);
  if (setsockopt(s->fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &mr, sizeof mr) < 0)
    return throw_errno(env, errno, "setsockopt", ctx);
  return NULL;
}

static bool sockaddr_for(int domain, const char *text, int port, struct sockaddr_storage *ss, socklen_t *len);

/* udpOpen(family, bindAddress, port, ifname, ttl, onMessage?, onError?) -> { fd, ifindex, port }: a non-blocking UDP
 * socket bound to bindAddress:port (port 0: ephemeral; '' address: any), optionally to a device, sending with the
 * given TTL / hop limit and reporting each datagram's received TTL (BFD, RFC 5881/5883). EADDRINUSE is thrown as
 * such so the caller can try another port. Without onMessage the socket only sends and is not polled. */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[7], on_msg, on_error, obj, v;
  size_t argc = 7;
  int64_t family, port, ttl;
  char addr[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE];
  size_t addrlen = 0, iflen = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 4, 6, "family", &family)) return NULL;
  if (family != 4 && family != 6) return type_error(env, "family must be 4 or 6"), NULL;
  if (!arg_string(env, argv[1], addr, sizeof addr, 0, "bindAddress", &addrlen) || !arg_int(env, argv[2], 0, 65535, "port", &port) ||
      !arg_string(env, argv[3], ifname, sizeof ifname, 0, "ifname", &iflen) || !arg_int(env, argv[4], 1, 255, "ttl", &ttl) ||
      !arg_fn(env, argv[5], true, "onMessage", &on_msg) || !arg_fn(env, argv[6], true, "onError", &on_error))
    return NULL;
  const bool v6 = family == 6;
  const int domain = v6 ? AF_INET6 : AF_INET;
  const char *ctx = addrlen > 0 ? addr : (v6 ? "::" : "0.0.0.0");
  int fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return throw_errno(env, errno, "socket", ctx);
  const int one = 1, t = (int)ttl;
  const struct { int level, name; const void *val; socklen_t len; const char *label; } opts[] = {
      {v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &t, sizeof t, v6 ? "IPV6_UNICAST_HOPS" : "IP_TTL"},
      {v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVHOPLIMIT : IP_RECVTTL, &one, sizeof one, v6 ? "IPV6_RECVHOPLIMIT" : "IP_RECVTTL"},
      {v6 ? IPPROTO_IPV6 : SOL_SOCKET, v6 ? IPV6_V6ONLY : SO_REUSEADDR, &one, sizeof one, v6 ? "IPV6_V6ONLY" : "SO_REUSEADDR"},
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    if (setsockopt(fd, opts[i].level, opts[i].name, opts[i].val, opts[i].len) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, err, "setsockopt", opts[i].label);
    }
  }
  if (v6 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "setsockopt", "SO_REUSEADDR");
  }
  if (iflen > 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)iflen) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "setsockopt", ifname);
  }
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!sockaddr_for(domain, addrlen > 0 ? addr : (v6 ? "::" : "0.0.0.0"), (int)port, &ss, &sslen)) {
    close(fd);
    type_error(env, "bindAddress %s is not an IPv%d address", addr, (int)family);
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", ctx);
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  int bport = 0;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
    bport = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
  obj = sock_new(env, UDP, fd, 0, ctx, on_msg, on_error);
  if (!obj) return NULL;
  NAPI(napi_create_int32(env, bport, &v));
  NAPI(napi_set_named_property(env, obj, "port", v));
  return obj;
}

/* udpSend(handle, dst, port, payload): one datagram (sendto; a full socket buffer is EAGAIN, thrown). */
static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = 4;
  sock_t *s;
  char dst[INET6_ADDRSTRLEN];
  size_t dstlen = 0, len = 0;
  int64_t port;
  void *data;
  int domain;
  socklen_t dl = sizeof domain;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(s = sock_arg(env, argv[0], UDP)) || !arg_string(env, argv[1], dst, sizeof dst, 2, "dst", &dstlen) ||
      !arg_int(env, argv[2], 1, 65535, "port", &port) || !arg_bytes(env, argv[3], 1, "payload", &data, &len))
    return NULL;
  if (s->fd < 0) return throw_errno(env, EBADF, "sendto", s->name);
  if (getsockopt(s->fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0) return throw_errno(env, errno, "getsockopt", s->name);
  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!sockaddr_for(domain, dst, (int)port, &ss, &sslen)) {
    type_error(env, "dst %s does not fit the socket's family", dst);
    return NULL;
  }
  if (sendto(s->fd, data, len, 0, (struct sockaddr *)&ss, sslen) < 0) return throw_errno(env, errno, "sendto", dst);
  return NULL;
}

/* close(handle): either kind; idempotent; safe from inside the socket's own callbacks. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  sock_t *s;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((s = sock_arg(env, argv[0], -1))) sock_close(s);
  return NULL;
}

/* setTcpMd5(fd, peer, key): key '' deletes the peer's key (and deleting a key that is not there is not an error).
 * The address family must match the socket's: an IPv4 peer on an AF_INET6 socket is given v4-mapped. */
static napi_value js_set_tcp_md5(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3, keylen;
  int64_t fd;
  char peer[INET6_ADDRSTRLEN], key[TCP_MD5SIG_MAXKEYLEN + 1], ctx[INET6_ADDRSTRLEN + 16];
  int domain;
  socklen_t dlen = sizeof domain;
  struct in_addr a4;
  struct in6_addr a6;
  struct tcp_md5sig md;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 0, INT32_MAX, "fd", &fd) || !arg_string(env, argv[1], peer, sizeof peer, 1, "peer", NULL) ||
      !arg_string(env, argv[2], key, sizeof key, 0, "TCP-MD5 key", &keylen))
    return NULL;
  snprintf(ctx, sizeof ctx, "TCP_MD5SIG %s", peer);
  if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, errno, "getsockopt", ctx);
  memset(&md, 0, sizeof md);
  struct sockaddr_in *sin = (struct sockaddr_in *)&md.tcpm_addr;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&md.tcpm_addr;
  if (domain != AF_INET && domain != AF_INET6) return type_error(env, "fd %d is not an IPv4/IPv6 socket", (int)fd), NULL;
  if (inet_pton(AF_INET, peer, &a4) == 1 && domain == AF_INET) {
    sin->sin_family = AF_INET;
    sin->sin_addr = a4;
  } else if (inet_pton(AF_INET, peer, &a4) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr.s6_addr[10] = sin6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
  } else if (inet_pton(AF_INET6, peer, &a6) == 1) {
    if (domain != AF_INET6) return type_error(env, "IPv6 peer %s needs an AF_INET6 socket", peer), NULL;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
  } else {
    return type_error(env, "peer is not an IP address: %s", peer), NULL;
  }
  md.tcpm_keylen = (uint16_t)keylen;
  memcpy(md.tcpm_key, key, keylen);
  if (setsockopt((int)fd, IPPROTO_TCP, TCP_MD5SIG, &md, sizeof md) < 0 && !(keylen == 0 && errno == ENOENT))
    return throw_errno(env, errno, "setsockopt", ctx);
  return NULL;
}

/* testTcpSocket(4 | 6) -> fd of a fresh, unconnected TCP socket: lets tests exercise setTcpMd5. */
static napi_value js_test_tcp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  size_t argc = 1;
  int64_t family;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 4, 6, "family", &family)) return NULL;
  if (family == 5) return type_error(env, "family must be 4 or 6"), NULL;
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", family == 4 ? "AF_INET" : "AF_INET6");
  NAPI(napi_create_int32(env, fd, &result));
  return result;
}

/* ---- outgoing TCP for BGP: options that must be on the socket before the SYN ----------------------------- */

/* Fills a sockaddr for `text` suited to a socket of `domain` (IPv4 peers on IPv6 sockets become mapped). */
static bool sockaddr_for(int domain, const char *text, int port, struct sockaddr_storage *ss, socklen_t *len) {
  struct in_addr a4;
  struct in6_addr a6;
  memset(ss, 0, sizeof *ss);
  if (domain == AF_INET && inet_pton(AF_INET, text, &a4) == 1) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET, sin->sin_port = htons((uint16_t)port), sin->sin_addr = a4;
    *len = sizeof *sin;
    return true;
  }
  if (domain == AF_INET6 && inet_pton(AF_INET6, text, &a6) == 1) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6, sin6->sin6_port = htons((uint16_t)port), sin6->sin6_addr = a6;
    *len = sizeof *sin6;
    return true;
  }
  return false;
}

/* tcpSocket(family, sourceAddress, ttl) -> fd: a non-blocking TCP socket, bound to the source address when one is
 * given, with the IP TTL / hop limit set (1 for directly connected eBGP, 255 for multihop), ready for setTcpMd5 and
 * tcpConnect. The caller owns the fd until it hands it to net.Socket. */
static napi_value js_tcp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  size_t argc = 3;
  int64_t family, ttl;
  char src[INET6_ADDRSTRLEN];
  size_t srclen = 0;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 4, 6, "family", &family) || !arg_string(env, argv[1], src, sizeof src, 0, "sourceAddress", &srclen) ||
      !arg_int(env, argv[2], 1, 255, "ttl", &ttl))
    return NULL;
  if (family == 5) return type_error(env, "family must be 4 or 6"), NULL;
  int domain = family == 4 ? AF_INET : AF_INET6, t = (int)ttl;
  int fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", family == 4 ? "AF_INET" : "AF_INET6");
  if (setsockopt(fd, domain == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, domain == AF_INET ? IP_TTL : IPV6_UNICAST_HOPS, &t, sizeof t) < 0) {
    int e = errno;
    return close(fd), throw_errno(env, e, "setsockopt(TTL)", src);
  }
  if (srclen > 0) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (!sockaddr_for(domain, src, 0, &ss, &len)) return close(fd), type_error(env, "sourceAddress %s does not match family %d", src, (int)family), NULL;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
      int e = errno;
      return close(fd), throw_errno(env, e, "bind", src);
    }
  }
  NAPI(napi_create_int32(env, fd, &result));
  return result;
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb, self;
  napi_async_context async;
  int fd, err;
  bool done;
} conn_t;

/* Runs the JS callback with the connect outcome (0 or an errno) once libuv has let go of the fd. */
static void conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  napi_env env = c->env;
  napi_handle_scope scope;
  napi_value fn, self = NULL, arg, result, exc;
  void *unused;
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    if (napi_get_reference_value(env, c->cb, &fn) == napi_ok && napi_get_reference_value(env, c->self, &self) == napi_ok &&
        napi_create_int32(env, c->err, &arg) == napi_ok &&
        napi_make_callback(env, c->async, self, fn, 1, &arg, &result) == napi_pending_exception &&
        napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      report_uncaught(env, exc);
    /* cancel() after completion must find nothing: unwrap before the memory goes */
    if (self) napi_remove_wrap(env, self, &unused);
    napi_close_handle_scope(env, scope);
  }
  napi_delete_reference(env, c->cb);
  napi_delete_reference(env, c->self);
  napi_async_destroy(env, c->async);
  free(c);
}

static void conn_finish(conn_t *c, int err) {
  if (c->done) return;
  c->done = true;
  c->err = err;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, conn_closed);
}

static void conn_ready(uv_poll_t *p, int status, int events) {
  conn_t *c = p->data;
  int err = 0;
  socklen_t len = sizeof err;
  (void)events;
  if (status < 0) err = -status;
  else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  conn_finish(c, err);
}

/* tcpConnect(fd, address, port, callback(errno)) -> { cancel() }: starts a non-blocking connect and calls back
 * once it completed (0) or failed (errno; ECANCELED after cancel()). The fd stays open either way. */
static napi_value js_tcp_cancel(napi_env env, napi_callback_info info) {
  napi_value self;
  size_t argc = 0;
  NAPI(napi_get_cb_info(env, info, &argc, NULL, &self, NULL));
  conn_t *c = NULL;
  if (napi_unwrap(env, self, (void **)&c) == napi_ok && c) conn_finish(c, ECANCELED);
  return NULL;
}

/* Frees a conn_t whose poll handle was never initialised (or never started), undoing whatever N-API state was set
 * up so far: nothing leaks when a later step fails, and uv_close is never called on a handle libuv does not know. */
static void conn_abandon(napi_env env, conn_t *c, napi_value obj) {
  void *unused;
  if (obj) napi_remove_wrap(env, obj, &unused);
  if (c->cb) napi_delete_reference(env, c->cb);
  if (c->self) napi_delete_reference(env, c->self);
  if (c->async) napi_async_destroy(env, c->async);
  free(c);
}

static napi_value js_tcp_connect(napi_env env, napi_callback_info info) {
  napi_value argv[4], obj = NULL, cancel, name, fn;
  size_t argc = 4;
  int64_t fd, port;
  char addr[INET6_ADDRSTRLEN];
  int domain;
  socklen_t dlen = sizeof domain, len;
  struct sockaddr_storage ss;
  uv_loop_t *loop;
  bool wrapped = false;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 0, INT32_MAX, "fd", &fd) || !arg_string(env, argv[1], addr, sizeof addr, 1, "address", NULL) ||
      !arg_int(env, argv[2], 1, 65535, "port", &port) || !arg_fn(env, argv[3], false, "callback", &fn))
    return NULL;
  if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, errno, "getsockopt", addr);
  if (!sockaddr_for(domain, addr, (int)port, &ss, &len)) return type_error(env, "address %s does not match the socket family", addr), NULL;
  NAPI(napi_get_uv_event_loop(env, &loop));
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, ENOMEM, "calloc", addr);
  c->env = env, c->fd = (int)fd;
  /* every N-API step before the poll starts can fail: undo what was done (conn_abandon) instead of leaking */
  if (napi_create_object(env, &obj) != napi_ok || napi_create_function(env, "cancel", NAPI_AUTO_LENGTH, js_tcp_cancel, NULL, &cancel) != napi_ok ||
      napi_set_named_property(env, obj, "cancel", cancel) != napi_ok)
    goto fail;
  if (napi_wrap(env, obj, c, NULL, NULL, NULL) != napi_ok) goto fail;
  wrapped = true;
  if (napi_create_reference(env, fn, 1, &c->cb) != napi_ok || napi_create_reference(env, obj, 1, &c->self) != napi_ok ||
      napi_create_string_utf8(env, "baregate.tcpConnect", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &c->async) != napi_ok)
    goto fail;
  /* connect only once nothing else can fail before the poll owns the attempt */
  if (connect((int)fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
    int e = errno;
    conn_abandon(env, c, obj);
    return throw_errno(env, e, "connect", addr);
  }
  c->poll.data = c;
  int r = uv_poll_init_socket(loop, &c->poll, c->fd);
  if (r != 0) {
    /* the handle was never initialised: libuv does not know it, so no uv_close; fail synchronously */
    conn_abandon(env, c, obj);
    return throw_errno(env, -r, "uv_poll_init_socket", addr);
  }
  r = uv_poll_start(&c->poll, UV_WRITABLE, conn_ready);
  if (r != 0) {
    /* initialised: close it properly; conn_closed reports the error through the callback and frees c */
    c->done = true;
    c->err = -r;
    uv_close((uv_handle_t *)&c->poll, conn_closed);
  }
  return obj;
fail:
  conn_abandon(env, c, wrapped ? obj : NULL);
  return napi_fail(env);
}

/* The IPPROTO_IP / IPPROTO_IPV6 pair of an option for the socket's family. IPv6 sockets get both: a listener on
 * "::" accepts IPv4 peers as mapped addresses, and their packets follow the IPv4 option. */
static napi_value set_ttl_opts(napi_env env, napi_callback_info info, bool min) {
  napi_value argv[2];
  size_t argc = 2;
  int64_t fd, v;
  int domain;
  socklen_t dlen = sizeof domain;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 0, INT32_MAX, "fd", &fd) || !arg_int(env, argv[1], 1, 255, min ? "minTtl" : "ttl", &v)) return NULL;
  if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, errno, "getsockopt", "SO_DOMAIN");
  int t = (int)v;
  if (domain == AF_INET6) {
    if (setsockopt((int)fd, IPPROTO_IPV6, min ? IPV6_MINHOPCOUNT : IPV6_UNICAST_HOPS, &t, sizeof t) < 0)
      return throw_errno(env, errno, "setsockopt", min ? "IPV6_MINHOPCOUNT" : "IPV6_UNICAST_HOPS");
    /* the IPv4 option on an IPv6 socket: applies to mapped IPv4 peers; kernels that refuse it have no such peers */
    (void)setsockopt((int)fd, IPPROTO_IP, min ? IP_MINTTL : IP_TTL, &t, sizeof t);
    return NULL;
  }
  if (domain != AF_INET) return type_error(env, "fd %d is not an IPv4/IPv6 socket", (int)fd), NULL;
  if (setsockopt((int)fd, IPPROTO_IP, min ? IP_MINTTL : IP_TTL, &t, sizeof t) < 0)
    return throw_errno(env, errno, "setsockopt", min ? "IP_MINTTL" : "IP_TTL");
  return NULL;
}

/* setTtl(fd, ttl): the TTL / hop limit of the socket's packets. */
static napi_value js_set_ttl(napi_env env, napi_callback_info info) { return set_ttl_opts(env, info, false); }

/* setMinTtl(fd, minTtl): GTSM (RFC 5082), packets arriving with a lower TTL / hop limit are dropped. */
static napi_value js_set_min_ttl(napi_env env, napi_callback_info info) { return set_ttl_opts(env, info, true); }

/* getTtl(fd) -> { ttl, minTtl } of the socket's own family. */
static napi_value js_get_ttl(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj, v;
  size_t argc = 1;
  int64_t fd;
  int domain, ttl = 0, minttl = 0;
  socklen_t dlen = sizeof domain, l1 = sizeof ttl, l2 = sizeof minttl;
  NAPI(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!arg_int(env, argv[0], 0, INT32_MAX, "fd", &fd)) return NULL;
  if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, errno, "getsockopt", "SO_DOMAIN");
  bool v6 = domain == AF_INET6;
  if (getsockopt((int)fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, &l1) < 0) return throw_errno(env, errno, "getsockopt", "TTL");
  if (getsockopt((int)fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MINHOPCOUNT : IP_MINTTL, &minttl, &l2) < 0) return throw_errno(env, errno, "getsockopt", "MINTTL");
  NAPI(napi_create_object(env, &obj));
  NAPI(napi_create_int32(env, ttl, &v));
  NAPI(napi_set_named_property(env, obj, "ttl", v));
  NAPI(napi_create_int32(env, minttl, &v));
  NAPI(napi_set_named_property(env, obj, "minTtl", v));
  return obj;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetOpen", NULL, js_packet_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetSend", NULL, js_packet_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmp6Open", NULL, js_icmp6_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmp6Send", NULL, js_icmp6_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmp6Membership", NULL, js_icmp6_membership, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTcpMd5", NULL, js_set_tcp_md5, NULL, NULL, NULL, napi_enumerable, NULL},
      {"testTcpSocket", NULL, js_test_tcp_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpSocket", NULL, js_tcp_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tcpConnect", NULL, js_tcp_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTtl", NULL, js_set_ttl, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMinTtl", NULL, js_set_min_ttl, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getTtl", NULL, js_get_ttl, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return napi_fail(env);
  return exports;
}
